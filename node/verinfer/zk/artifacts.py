"""Prepared circuit artifacts of one model, cached under `<cache_dir>/<modelId hex>/` and described by a manifest.

manifest.json      what was built, from what (model id, circuit config, SRS, shapes); written last
model.onnx         the model file the circuit was built from (keccak256 = modelId)
settings.json      ezkl's calibrated circuit settings
model.compiled     the compiled circuit
pk.key / vk.key    proving and verifying keys (the proving key is large: ~9 MB at logrows 11, 100s of MB above)
Verifier.sol       the Solidity verifier ezkl generated for this circuit and key
verifier.json      its ABI and bytecode, compiled by the project's solc
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verinfer.types import ModelId
from verinfer.zk.config import CircuitConfig
from verinfer.zk.errors import ZkArtifactsInvalid
from verinfer.zk.solidity import CompiledVerifier
from verinfer.zk.srs import Srs

MANIFEST_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ZkArtifacts:
    """Everything needed to prove and verify inferences of one model."""

    model_id: ModelId
    directory: Path
    config: CircuitConfig
    srs: Srs
    logrows: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    ezkl_version: str

    @property
    def model_path(self) -> Path:
        return self.directory / "model.onnx"

    @property
    def settings_path(self) -> Path:
        return self.directory / "settings.json"

    @property
    def compiled_path(self) -> Path:
        return self.directory / "model.compiled"

    @property
    def pk_path(self) -> Path:
        return self.directory / "pk.key"

    @property
    def vk_path(self) -> Path:
        return self.directory / "vk.key"

    @property
    def verifier_source_path(self) -> Path:
        return self.directory / "Verifier.sol"

    @property
    def verifier_json_path(self) -> Path:
        return self.directory / "verifier.json"

    @property
    def scale(self) -> int:
        """The scale to register the model with (2^k): the canonical int64 values are the circuit's integers."""
        return self.config.registered_scale

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_size(self) -> int:
        return math.prod(self.output_shape)

    def verifier(self) -> CompiledVerifier:
        """The compiled verifier (ABI, creation and runtime code)."""
        try:
            return CompiledVerifier.from_json(json.loads(self.verifier_json_path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise ZkArtifactsInvalid(
                f"cannot read the compiled verifier {self.verifier_json_path}: {exc}. Fix: prepare the model again"
            ) from exc

    def manifest(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "modelId": "0x" + bytes(self.model_id).hex(),
            "config": self.config.as_dict(),
            "srs": {"path": str(self.srs.path), "logrows": self.srs.logrows, "insecure": self.srs.insecure},
            "logrows": self.logrows,
            "inputShape": list(self.input_shape),
            "outputShape": list(self.output_shape),
            "ezklVersion": self.ezkl_version,
        }


def artifacts_dir(cache_dir: Path, model_id: bytes) -> Path:
    return cache_dir / ("0x" + bytes(model_id).hex())


def write_manifest(artifacts: ZkArtifacts) -> None:
    """Writes the manifest atomically, last: a directory without one is an unfinished preparation."""
    target = artifacts.directory / MANIFEST
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(artifacts.manifest(), indent=2) + "\n")
    partial.replace(target)


def load_artifacts(cache_dir: Path | str, model_id: bytes) -> ZkArtifacts:
    """The prepared artifacts of `model_id` from the cache; `ZkArtifactsInvalid` if absent or incomplete."""
    directory = artifacts_dir(Path(cache_dir), model_id)
    try:
        data = json.loads((directory / MANIFEST).read_text())
        if data.get("version") != MANIFEST_VERSION:
            raise ZkArtifactsInvalid(
                f"{directory / MANIFEST} has version {data.get('version')!r}, expected "
                f"{MANIFEST_VERSION}. Fix: prepare the model again"
            )
        cached_id = bytes.fromhex(str(data["modelId"])[2:])
        srs = data["srs"]
        artifacts = ZkArtifacts(
            model_id=ModelId(cached_id),
            directory=directory,
            config=CircuitConfig(**data["config"]),
            srs=Srs(Path(srs["path"]), int(srs["logrows"]), bool(srs["insecure"])),
            logrows=int(data["logrows"]),
            input_shape=tuple(int(d) for d in data["inputShape"]),
            output_shape=tuple(int(d) for d in data["outputShape"]),
            ezkl_version=str(data["ezklVersion"]),
        )
    except FileNotFoundError as exc:
        raise ZkArtifactsInvalid(
            f"no prepared artifacts for model 0x{bytes(model_id).hex()} under {cache_dir}. "
            "Fix: run verinfer.zk.prepare on the model first"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZkArtifactsInvalid(f"cannot read {directory / MANIFEST}: {exc}. Fix: prepare the model again") from exc
    if cached_id != bytes(model_id):
        raise ZkArtifactsInvalid(
            f"{directory} holds artifacts of model 0x{cached_id.hex()}, not "
            f"0x{bytes(model_id).hex()}. Fix: delete the folder and prepare again"
        )
    needed = (
        artifacts.model_path,
        artifacts.settings_path,
        artifacts.compiled_path,
        artifacts.pk_path,
        artifacts.vk_path,
        artifacts.verifier_source_path,
        artifacts.verifier_json_path,
    )
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise ZkArtifactsInvalid(f"{directory} lacks {missing}. Fix: prepare the model again")
    if not artifacts.srs.path.is_file():
        raise ZkArtifactsInvalid(
            f"the SRS {artifacts.srs.path} the artifacts were built with is gone. Fix: restore it or prepare again"
        )
    return artifacts
