"""Runs a local anvil devnet for tests, benchmarks and demos.

    with Anvil.start() as anvil:
        w3 = connect(anvil.rpc_url); key = anvil.accounts[0].private_key

The binary is `anvil` on PATH (unless that is the npm launcher in node_modules/.bin, which hides the real process and
its exit code), else the native binary the npm package ships under the repository's node_modules.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from verinfer.chain.artifacts import find_repo_root
from verinfer.errors import ChainError, ConfigError

NATIVE = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3


@dataclass(frozen=True)
class DevAccount:
    """A prefunded devnet account (anvil's well-known test mnemonic)."""

    address: ChecksumAddress
    private_key: str


def find_anvil(repo_root: Path | None = None) -> Path:
    """The anvil binary to run; ConfigError saying how to install it if there is none."""
    on_path = shutil.which("anvil")
    if on_path and "node_modules/.bin" not in Path(on_path).as_posix():
        return Path(on_path)
    root = repo_root or find_repo_root()
    if root is not None and (root / NATIVE).is_file():
        return root / NATIVE
    raise ConfigError("anvil not found on PATH nor in node_modules: run `bash scripts/setup.sh` (npm ci)")


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (another process may still take it before anvil does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Anvil:
    """One running anvil process. Use `Anvil.start()` as a context manager, or call `stop()`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: Path, chain_id: int) -> None:
        self._process = process
        self.port = port
        self.chain_id = chain_id
        self._workdir = workdir
        self.accounts = _read_accounts(workdir / "config.json")

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    def start(
        cls,
        *,
        chain_id: int = 31337,
        binary: Path | None = None,
        extra_args: tuple[str, ...] = (),
        timeout: float = START_TIMEOUT,
    ) -> Anvil:
        """Starts anvil on a free port and waits until it answers eth_chainId."""
        binary = binary or find_anvil()
        last_error = ""
        for _ in range(START_ATTEMPTS):
            workdir = Path(tempfile.mkdtemp(prefix="verinfer-anvil-"))
            port = free_port()
            log = (workdir / "anvil.log").open("wb")
            args = [
                str(binary),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(chain_id),
                "--config-out",
                str(workdir / "config.json"),
                *extra_args,
            ]
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            try:
                _wait_ready(process, port, workdir / "config.json", timeout)
                return cls(process, port, workdir, chain_id)
            except ChainError as exc:
                last_error = str(exc)
                _terminate(process)
                shutil.rmtree(workdir, ignore_errors=True)
            except BaseException:
                _terminate(process)
                shutil.rmtree(workdir, ignore_errors=True)
                raise
        raise ChainError(f"anvil did not start after {START_ATTEMPTS} attempts: {last_error}")

    def stop(self) -> None:
        """Stops anvil (SIGTERM, then SIGKILL after a grace period) and removes its temporary files."""
        _terminate(self._process)
        shutil.rmtree(self._workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def __enter__(self) -> Anvil:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _wait_ready(process: subprocess.Popen[bytes], port: int, config: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}"
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = _log_tail(config.parent / "anvil.log")
                raise ChainError(f"anvil exited with code {process.returncode}: {tail}")
            try:
                if client.post(url, json=payload).json().get("result") and config.is_file():
                    return
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet
            time.sleep(0.05)
    raise ChainError(f"anvil did not answer on {url} within {timeout}s")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return "(no log)"


def _read_accounts(config: Path) -> tuple[DevAccount, ...]:
    # anvil writes --config-out once it is listening; a half-written file only happens if it died meanwhile.
    for _ in range(40):
        try:
            raw = json.loads(config.read_text())
            return tuple(
                DevAccount(to_checksum_address(a), k)
                for a, k in zip(raw["available_accounts"], raw["private_keys"], strict=True)
            )
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise ChainError(f"anvil wrote no readable account list to {config}")
