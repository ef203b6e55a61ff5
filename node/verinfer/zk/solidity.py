"""The model's Solidity verifier: written by ezkl, compiled by the project's own solc (never downloaded).

ezkl's `create_evm_verifier` writes the source and then compiles it with a solc 0.8.20 it looks for in svm's folder
(`~/.svm/0.8.20/solc-0.8.20`, or `$XDG_DATA_HOME/svm/...` when `~/.svm` does not exist), downloading one when absent.
`ezkl_without_downloads` runs it with HOME and XDG_DATA_HOME pointing at a per-process temporary folder whose svm
entry is a stub that execs the project's solc shim, so ezkl finds a compiler and never downloads. (svm fixes its
folder at the first lookup in a process: a process that made ezkl look up solc outside this helper first is not
covered.) The bytecode verinfer deploys
comes from `compile_verifier`, with settings fixed here (EZKL's verifiers are hand-scheduled assembly that the IR
pipeline cannot fit on the stack, so the legacy pipeline is used).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verinfer.chain.artifacts import find_repo_root
from verinfer.zk.errors import VerifierBuildError

SOLC_ENV = "VERINFER_SOLC"
SOLC_TIMEOUT = 300.0
MAX_RUNTIME_BYTES = 24_576
"""EIP-170: the largest runtime code a contract may have."""
VERIFIER_CONTRACT = "Halo2Verifier"
OPTIMIZER_RUNS = 200
EVM_VERSION = "cancun"
_EZKL_SOLC_VERSION = "0.8.20"

# HOME and XDG_DATA_HOME are process-wide: one ezkl verifier generation at a time.
_ENV_LOCK = threading.Lock()
_SVM_DIR: tempfile.TemporaryDirectory[str] | None = None


@dataclass(frozen=True)
class CompiledVerifier:
    """The verifier's ABI and code, as compiled by the project's solc."""

    abi: tuple[Mapping[str, Any], ...]
    bytecode: bytes
    runtime: bytes

    @property
    def runtime_size(self) -> int:
        return len(self.runtime)

    def to_json(self) -> dict[str, Any]:
        return {"abi": list(self.abi), "bytecode": "0x" + self.bytecode.hex(), "runtime": "0x" + self.runtime.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompiledVerifier:
        return cls(tuple(data["abi"]), bytes.fromhex(data["bytecode"][2:]), bytes.fromhex(data["runtime"][2:]))


def find_solc() -> Path:
    """The project's solc shim: `$VERINFER_SOLC`, else `scripts/solc` of the repository this runs in."""
    configured = os.environ.get(SOLC_ENV)
    if configured:
        path = Path(configured)
    else:
        root = find_repo_root()
        if root is None:
            raise VerifierBuildError(
                f"no solc: set {SOLC_ENV} to a solc binary or shim, or run inside the repository (scripts/solc)"
            )
        path = root / "scripts" / "solc"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise VerifierBuildError(
            f"solc at {path} is missing or not executable. Fix: run scripts/setup.sh, or set {SOLC_ENV}"
        )
    return path


@contextlib.contextmanager
def ezkl_without_downloads(solc: Path) -> Iterator[None]:
    """Inside the block ezkl's svm lookup finds `solc` (as 0.8.20) in a temporary folder and downloads nothing."""
    with _ENV_LOCK:
        root = _svm_root(solc)
        saved = {key: os.environ.get(key) for key in ("HOME", "XDG_DATA_HOME")}
        os.environ["HOME"] = str(root / "home")
        os.environ["XDG_DATA_HOME"] = str(root / "data")
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _svm_root(solc: Path) -> Path:
    """One folder per process, kept until exit: svm resolves its data folder once per process and caches it, so a
    second verifier generation must find the stub where the first one did."""
    global _SVM_DIR
    if _SVM_DIR is None:
        _SVM_DIR = tempfile.TemporaryDirectory(prefix="verinfer-svm-")
    root = Path(_SVM_DIR.name)
    (root / "home").mkdir(exist_ok=True)  # no ~/.svm there, so svm uses $XDG_DATA_HOME/svm
    stub = root / "data" / "svm" / _EZKL_SOLC_VERSION / f"solc-{_EZKL_SOLC_VERSION}"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text(f'#!/bin/sh\nexec {shlex.quote(str(solc.resolve()))} "$@"\n')
    stub.chmod(0o755)
    return root


def compile_verifier(source: str, solc: Path | None = None) -> CompiledVerifier:
    """Compiles an ezkl verifier source with the project's solc; refuses runtime code over the EIP-170 limit."""
    compiler = solc if solc is not None else find_solc()
    request = {
        "language": "Solidity",
        "sources": {"Verifier.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": False,
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    try:
        done = subprocess.run(
            [str(compiler), "--standard-json"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=SOLC_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VerifierBuildError(f"running {compiler} failed: {exc}") from exc
    if done.returncode != 0:
        raise VerifierBuildError(f"{compiler} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise VerifierBuildError(f"{compiler} printed no standard-JSON output: {done.stdout[:500]!r}") from exc
    errors = [
        e.get("formattedMessage", e.get("message", ""))
        for e in output.get("errors", [])
        if e.get("severity") == "error"
    ]
    if errors:
        raise VerifierBuildError("the verifier does not compile:\n" + "\n".join(errors)[:4000])
    try:
        contract = output["contracts"]["Verifier.sol"][VERIFIER_CONTRACT]
        compiled = CompiledVerifier(
            abi=tuple(contract["abi"]),
            bytecode=bytes.fromhex(contract["evm"]["bytecode"]["object"]),
            runtime=bytes.fromhex(contract["evm"]["deployedBytecode"]["object"]),
        )
    except (KeyError, ValueError) as exc:
        raise VerifierBuildError(f"no {VERIFIER_CONTRACT} in the compiler output: {exc}") from exc
    if compiled.runtime_size > MAX_RUNTIME_BYTES:
        raise VerifierBuildError(
            f"the verifier's runtime code is {compiled.runtime_size} bytes, over the {MAX_RUNTIME_BYTES}-byte limit. "
            "Fix: a smaller model, or fewer public values"
        )
    return compiled
