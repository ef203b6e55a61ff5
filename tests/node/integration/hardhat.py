"""Hardhat Network (EDR, the `hardhat` devDependency) as a second chain implementation for the node's tests: it
runs the calls of one batch POST concurrently and refuses nonce gaps while automining, unlike anvil."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account import Account

from verinfer.chain.anvil import DevAccount, free_port

ROOT = Path(__file__).resolve().parents[3]
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"
CONFIG_DIR = Path(__file__).resolve().parent / "hardhat"
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's too: the same accounts
START_TIMEOUT_S = 60.0


@dataclass
class HardhatNode:
    port: int
    accounts: tuple[DevAccount, ...]
    process: subprocess.Popen[bytes]

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def available() -> bool:
    return HARDHAT.is_file()


@contextmanager
def hardhat_node(log: Path) -> Iterator[HardhatNode]:
    Account.enable_unaudited_hdwallet_features()
    accounts = tuple(
        DevAccount(acct.address, "0x" + bytes(acct.key).hex())
        for acct in (Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10))
    )
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(HARDHAT), "node", "--port", str(port)], cwd=CONFIG_DIR, stdout=out, stderr=subprocess.STDOUT
        )
    node = HardhatNode(port, accounts, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                answer = httpx.post(node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hardhat node did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield node
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
