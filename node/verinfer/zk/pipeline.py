"""prepare(): ONNX model + calibration data -> circuit, keys and a compiled Solidity verifier, cached by modelId.

settings    gen_settings (public input and output, fixed parameters, scale 2^k) + calibrate_settings
compile     compile_circuit
srs         the caller's SRS file, or an INSECURE one generated locally at the circuit's logrows
setup       proving and verifying keys
verifier    ezkl's Solidity verifier (no compiler download), compiled with the project's solc
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import shutil
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, cast

import ezkl
import numpy as np
import numpy.typing as npt
from eth_utils.crypto import keccak

from verinfer.types import ModelId
from verinfer.zk.artifacts import ZkArtifacts, artifacts_dir, load_artifacts, write_manifest
from verinfer.zk.config import CircuitConfig
from verinfer.zk.errors import ZkArtifactsInvalid, ZkInputInvalid, ZkModelUnsupported
from verinfer.zk.progress import NoProgress, Progress
from verinfer.zk.solidity import compile_verifier, ezkl_without_downloads, find_solc
from verinfer.zk.srs import Srs, generate_insecure_srs, load_srs
from verinfer.zk.steps import read_json, run_step

CALIBRATION_TARGET = "resources"
EZKL_VERSION = importlib.metadata.version("ezkl")
LOOKUP_SAFETY_MARGIN = 2.0


def model_id_of(model_path: Path | str) -> ModelId:
    """keccak256 of the model file's bytes: its id in the registry."""
    return ModelId(keccak(Path(model_path).read_bytes()))


def insecure_srs_path(cache_dir: Path, logrows: int) -> Path:
    """Where `prepare` keeps the INSECURE SRS it generates for circuits of `logrows` (shared by every model)."""
    return cache_dir / "srs" / f"kzg{logrows}.insecure.srs"


def prepare(
    model_path: Path | str,
    calibration: npt.ArrayLike,
    *,
    cache_dir: Path | str,
    srs_path: Path | str | None = None,
    config: CircuitConfig | None = None,
    progress: Progress | None = None,
    solc: Path | None = None,
) -> ZkArtifacts:
    """Builds (or reuses from `cache_dir`) the circuit artifacts of the model at `model_path`.

    `calibration`: representative real-valued inputs, shape (n, *input dims) or (n, input size); values met later
    far outside their range may not fit the circuit's range checks. `srs_path`: a ceremony SRS file; without one an
    INSECURE SRS is generated locally (devnets and tests only). A cached set is reused when its model id, circuit
    configuration and SRS match; otherwise it is rebuilt.
    """
    cfg = config if config is not None else CircuitConfig()
    hook: Progress = progress if progress is not None else NoProgress()
    cache = Path(cache_dir)
    source = Path(model_path)
    if not source.is_file():
        raise ZkModelUnsupported(f"no model file at {source}")
    model_id = model_id_of(source)
    cached = _cached(cache, model_id, cfg, srs_path)
    if cached is not None:
        return cached

    directory = artifacts_dir(cache, model_id)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    shutil.copyfile(source, directory / "model.onnx")
    staged = ZkArtifacts(model_id, directory, cfg, Srs(Path(), 0, True), 0, (), (), EZKL_VERSION)

    with hook.step("settings: gen_settings + calibrate_settings"):
        settings = _settings(staged, calibration)
    logrows = int(settings["run_args"]["logrows"])
    input_shape, output_shape = _shapes(settings, cfg)
    with hook.step("compile circuit"):
        run_step(
            "compile_circuit",
            lambda: ezkl.compile_circuit(str(staged.model_path), str(staged.compiled_path), str(staged.settings_path)),
            "check that every op of the model is supported by ezkl",
        )
    if srs_path is not None:
        srs = load_srs(srs_path, logrows)
    else:
        with hook.step(f"srs: generate an INSECURE SRS (logrows {logrows})"):
            srs = generate_insecure_srs(insecure_srs_path(cache, logrows), logrows)
    with hook.step("setup: proving and verifying keys"):
        run_step(
            "setup",
            lambda: ezkl.setup(
                str(staged.compiled_path), str(staged.vk_path), str(staged.pk_path), str(srs.path), None, False
            ),
            "check the SRS file and the free disk space",
        )
    artifacts = ZkArtifacts(model_id, directory, cfg, srs, logrows, input_shape, output_shape, EZKL_VERSION)
    with hook.step("verifier: generate Solidity + compile"):
        _write_verifier(artifacts, solc if solc is not None else find_solc())
    write_manifest(artifacts)
    return artifacts


def _cached(cache: Path, model_id: ModelId, cfg: CircuitConfig, srs_path: Path | str | None) -> ZkArtifacts | None:
    try:
        artifacts = load_artifacts(cache, model_id)
    except ZkArtifactsInvalid:
        return None
    if artifacts.config != cfg or artifacts.ezkl_version != EZKL_VERSION:
        return None
    if srs_path is None:
        return artifacts if artifacts.srs.insecure else None
    return artifacts if artifacts.srs.path.resolve() == Path(srs_path).resolve() else None


def _run_args(cfg: CircuitConfig) -> ezkl.PyRunArgs:
    args = ezkl.PyRunArgs()
    values: dict[str, Any] = {
        "input_visibility": "public",
        "output_visibility": "public",
        "param_visibility": "fixed",
        "input_scale": cfg.scale_bits,
        "param_scale": cfg.scale_bits,
        "scale_rebase_multiplier": 1,
        "decomp_base": cfg.decomp_base,
        "decomp_legs": cfg.decomp_legs,
    }
    for name, value in values.items():
        setattr(args, name, value)  # the stub declares no attributes on PyRunArgs
    return args


def _settings(staged: ZkArtifacts, calibration: npt.ArrayLike) -> dict[str, Any]:
    cfg = staged.config
    run_step(
        "gen_settings",
        lambda: ezkl.gen_settings(str(staged.model_path), str(staged.settings_path), _run_args(cfg)),
        "export the model as a single-input, single-output ONNX graph of ops ezkl supports (Gemm, ReLU, Sigmoid…)",
    )
    settings = read_json(staged.settings_path, "prepare the model again")
    shapes = settings.get("model_instance_shapes") or []
    if len(shapes) != 2:
        raise ZkModelUnsupported(
            f"the circuit has {len(shapes)} public tensors {shapes}; verinfer needs exactly one input and one output"
        )
    input_size = int(np.prod(shapes[0]))
    samples = np.asarray(calibration, dtype=np.float64)
    if samples.size == 0 or samples.size % input_size != 0:
        raise ZkInputInvalid(
            f"calibration data of {samples.size} values is not a whole number of inputs of "
            f"{input_size} values (shape {shapes[0]})"
        )
    if not np.all(np.isfinite(samples)):
        raise ZkInputInvalid("calibration data holds NaN or infinite values")
    with tempfile.TemporaryDirectory(prefix="verinfer-calibration-") as tmp:
        data = Path(tmp) / "calibration.json"
        data.write_text(json.dumps({"input_data": [samples.reshape(-1).tolist()]}))
        run_step(
            "calibrate_settings",
            lambda: ezkl.calibrate_settings(
                str(data),
                str(staged.model_path),
                str(staged.settings_path),
                CALIBRATION_TARGET,
                LOOKUP_SAFETY_MARGIN,
                [cfg.scale_bits],
                [1],
                cfg.max_logrows,
            ),
            f"give representative calibration data, or raise CircuitConfig.max_logrows ({cfg.max_logrows})",
        )
    return read_json(staged.settings_path, "prepare the model again")


def _shapes(settings: dict[str, Any], cfg: CircuitConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    in_scales = settings.get("model_input_scales")
    out_scales = settings.get("model_output_scales")
    if in_scales != [cfg.scale_bits] or out_scales != [cfg.scale_bits]:
        raise ZkModelUnsupported(
            f"the circuit's input scales {in_scales} and output scales {out_scales} are not both [{cfg.scale_bits}]: "
            "the hub maps canonical values to instances one to one, so both must be 2^k. Fix: a model whose output "
            "rebases to the input scale (ops ezkl rescales, e.g. Gemm/ReLU/Sigmoid)"
        )
    shapes: Sequence[Sequence[int]] = settings["model_instance_shapes"]
    return tuple(int(d) for d in shapes[0]), tuple(int(d) for d in shapes[1])


def _write_verifier(artifacts: ZkArtifacts, solc: Path) -> None:
    abi_path = artifacts.directory / "verifier.abi.json"

    async def create() -> Any:
        return await cast(
            Awaitable[Any],
            ezkl.create_evm_verifier(
                str(artifacts.vk_path),
                str(artifacts.settings_path),
                str(artifacts.verifier_source_path),
                str(abi_path),
                str(artifacts.srs.path),
                False,
            ),
        )

    with ezkl_without_downloads(solc):
        run_step(
            "create_evm_verifier",
            lambda: asyncio.run(create()),
            f"check that {solc} compiles Solidity (run scripts/setup.sh)",
        )
    compiled = compile_verifier(artifacts.verifier_source_path.read_text(), solc)
    artifacts.verifier_json_path.write_text(json.dumps(compiled.to_json()) + "\n")
