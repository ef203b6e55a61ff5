"""Contract ABIs and bytecode from the forge build output (out/<File>.sol/<Contract>.json); never pasted by hand.

Two sources, for two kinds of user:
- `load_abi` / `packaged_artifact`: the ABIs shipped inside the package (verinfer/abi/<Contract>.json), for the
  contracts a client talks to and the interfaces whose errors and events it decodes. They are generated from the build
  output by `python scripts/gen_abi.py` (a unit test checks they still equal it), so an SDK installed from a wheel
  works outside a checkout.
- `load_artifact`: the build output itself, with bytecode, for what deploys (`verinfer deploy`, the devnet, tests).
  It is found, in order, at `$VERINFER_ARTIFACTS`, or in the `out` folder named by the `foundry.toml` of the first
  directory holding one, walking up from the current directory and then from this package's location.
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
REGENERATE_ABIS = "python scripts/gen_abi.py"

# The ABIs the package ships: the deployed contracts, the interfaces clients decode errors and events with, and the
# contracts whose errors `RevertDecoder.for_system` names (the base consumer, the example pool, the tensor codec).
PACKAGED_ABIS = (
    "InferenceHub",
    "ModelRegistry",
    "NodeRegistry",
    "Timelock",
    "Disputes",
    "IInferenceHub",
    "IDisputes",
    "IModelRegistry",
    "INodeRegistry",
    "IOwned2Step",
    "ITimelock",
    "IZkVerifier",
    "IInferenceConsumer",
    "InferenceConsumer",
    "LendingPool",
    "TensorCodec",
)

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


# ---------------------------------------------------------------------------------------------------------------------
# The ABIs shipped in the package
# ---------------------------------------------------------------------------------------------------------------------


def packaged_abi_dir() -> Path:
    """Where the package keeps its ABIs (verinfer/abi/)."""
    return Path(__file__).resolve().parent.parent / "abi"


def load_abi(name: str) -> Abi:
    """The packaged ABI of contract `name` (one of `PACKAGED_ABIS`); needs no build output."""
    return _load_packaged(name)


def packaged_artifact(name: str) -> Artifact:
    """The packaged ABI as an `Artifact` without bytecode: enough to bind a deployed contract, not to deploy one."""
    return Artifact(name=name, source=f"{name}.json", abi=_load_packaged(name), bytecode=b"", path=_packaged_path(name))


def _packaged_path(name: str) -> Path:
    if name not in PACKAGED_ABIS:
        raise ArtifactError(
            f"verinfer ships no ABI for {name!r} (it ships {', '.join(PACKAGED_ABIS)}); "
            f"load it from the build output with load_artifact({name!r})"
        )
    return packaged_abi_dir() / f"{name}.json"


@functools.cache
def _load_packaged(name: str) -> Abi:
    path = _packaged_path(name)
    try:
        abi = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"the packaged ABI {path} is missing or unreadable ({exc}): reinstall verinfer, or in a checkout run "
            f"`{REGENERATE_ABIS}`"
        ) from exc
    if not isinstance(abi, list):
        raise ArtifactError(f"the packaged ABI {path} is not an ABI list: run `{REGENERATE_ABIS}`")
    return abi


def abi_text(abi: Abi) -> str:
    """An ABI as the package stores it: JSON, keys sorted, one entry per line, so that a diff shows what changed."""
    return "[\n" + ",\n".join(json.dumps(entry, sort_keys=True) for entry in abi) + "\n]\n"


def write_packaged_abis(out_dir: Path | None = None, dest: Path | None = None) -> list[Path]:
    """Writes each of `PACKAGED_ABIS` from the build output into `dest` (default the package's abi/) and removes any
    other ABI file there; returns the paths written."""
    target = dest or packaged_abi_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PACKAGED_ABIS:
        path = target / f"{name}.json"
        path.write_text(abi_text(load_artifact(name, out_dir).abi))
        written.append(path)
    for stale in set(target.glob("*.json")) - set(written):
        stale.unlink()
    _load_packaged.cache_clear()
    return written


def stale_packaged_abis(out_dir: Path | None = None) -> list[str]:
    """The packaged ABIs that differ from the build output, are missing, or should not be there (empty: all current)."""
    stale = []
    for name in PACKAGED_ABIS:
        path = packaged_abi_dir() / f"{name}.json"
        built = abi_text(load_artifact(name, out_dir).abi)
        if not path.is_file() or path.read_text() != built:
            stale.append(name)
    extra = {p.stem for p in packaged_abi_dir().glob("*.json")} - set(PACKAGED_ABIS)
    return stale + sorted(extra)
