"""Contract ABIs and bytecode from the forge build output (out/<File>.sol/<Contract>.json); never pasted by hand.

The build output is found, in order, at `$VERINFER_ARTIFACTS`, or in the `out` folder named by the `foundry.toml` of
the first directory holding one, walking up from the current directory and then from this package's location.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verinfer.errors import ArtifactError

ENV_VAR = "VERINFER_ARTIFACTS"
BUILD_HINT = "build the contracts with `bash scripts/setup.sh` (or `forge build` from the repository root)"

AbiEntry = Mapping[str, Any]
Abi = Sequence[AbiEntry]


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    source: str
    abi: Abi
    bytecode: bytes
    path: Path

    @property
    def deployable(self) -> bool:
        """False for interfaces and abstract contracts (no creation code)."""
        return bool(self.bytecode)


def find_repo_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above `start` (default: cwd, then this package) that holds a foundry.toml."""
    starts = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parent]
    for origin in starts:
        for directory in (origin, *origin.parents):
            if (directory / "foundry.toml").is_file():
                return directory
    return None


def _out_dir_of(root: Path) -> Path:
    try:
        config = tomllib.loads((root / "foundry.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ArtifactError(f"cannot read {root / 'foundry.toml'}: {exc}") from exc
    out = config.get("profile", {}).get("default", {}).get("out", "out")
    return root / str(out)


def artifacts_dir() -> Path:
    """The build output folder (it may not exist yet)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    root = find_repo_root()
    if root is None:
        raise ArtifactError(
            f"cannot find the contract build output: no foundry.toml in {Path.cwd()} or above; "
            f"run from the repository or set {ENV_VAR} to its out/ folder"
        )
    return _out_dir_of(root)


def load_artifact(name: str, out_dir: Path | None = None) -> Artifact:
    """Loads a contract by name (`InferenceHub`), or by `File.sol:Name` when two files define the same name."""
    return _load(name, (out_dir or artifacts_dir()).resolve())


@functools.cache
def _load(name: str, out_dir: Path) -> Artifact:
    if not out_dir.is_dir():
        raise ArtifactError(f"no contract build output at {out_dir}: {BUILD_HINT}")
    file_name, _, contract = name.rpartition(":")
    pattern = f"{file_name or '*'}/{contract}.json"
    candidates = sorted(p for p in out_dir.glob(pattern) if p.parent.name != "build-info")
    if not candidates:
        raise ArtifactError(f"no artifact for contract {name!r} under {out_dir}: {BUILD_HINT}")
    if len(candidates) > 1:
        files = ", ".join(f"{p.parent.name}:{contract}" for p in candidates)
        raise ArtifactError(f"contract name {name!r} is ambiguous; name one of: {files}")
    return _read(contract, candidates[0])


def _read(name: str, path: Path) -> Artifact:
    try:
        raw = json.loads(path.read_text())
        abi = raw["abi"]
        creation = raw["bytecode"]["object"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"unreadable artifact {path} ({exc}): {BUILD_HINT}") from exc
    if not isinstance(abi, list):
        raise ArtifactError(f"artifact {path} has no ABI list: {BUILD_HINT}")
    creation = creation.removeprefix("0x")
    if "__$" in creation:
        raise ArtifactError(f"{name} needs linked libraries, which verinfer does not link")
    try:
        bytecode = bytes.fromhex(creation)
    except ValueError as exc:
        raise ArtifactError(f"artifact {path} has malformed bytecode: {BUILD_HINT}") from exc
    target = raw.get("metadata", {}).get("settings", {}).get("compilationTarget", {})
    source = next(iter(target), path.parent.name) if isinstance(target, dict) else path.parent.name
    return Artifact(name=name, source=str(source), abi=abi, bytecode=bytecode, path=path)


def clear_cache() -> None:
    """Forgets loaded artifacts (after a rebuild)."""
    _load.cache_clear()
