"""ZK mode: prove each inference with EZKL (Halo2/KZG on BN254) and have the hub check the proof on chain.

The pipeline, for one model (an ONNX graph with one input and one output, of ops ezkl supports: Gemm, ReLU,
Sigmoid, …; export linear models as Gemm + Sigmoid):

    from verinfer.zk import prepare, prove, register_prepared, submit_zk_result

    artifacts = prepare("mlp.onnx", calibration_rows, cache_dir=cache)      # settings, circuit, keys, verifier
    model = register_prepared(system, artifacts, uri="file:///…/mlp.onnx", price=10**15)   # deploys the verifier
    proof = prove(artifacts, request_input_bytes)                            # output, proof, instances; verified
    submit_zk_result(system, request_id, params, proof)                      # hub checks it, records, pays

or in one call, what `verinfer model register --zk` runs: `register_zk_model(client_or_system, path, calibration,
uri=…, price=…, cache_dir=…, srs_path=None)`. Anyone can re-check a ZK result with `verify_proof` (locally, against
the verifying key) and `verify_on_chain` (an eth_call to the model's verifier).

Scale. `CircuitConfig.scale_bits` = k fixes ezkl's input, parameter and output scale to 2^k (rebase multiplier 1),
and the model is registered with scale 2^k. The canonical int64 values on chain are then the circuit's own
integers: the hub turns input and output bytes into the proof's public instances one to one (`ZkInstances.sol`,
twin `verinfer.zk.instances`), never rescaling. The output of a ZK request is the circuit's fixed-point result,
which may differ in the last bits from a float runtime's; the proof binds it.

SRS. Proofs need a structured reference string. Pass a ceremony SRS file by `srs_path` for anything real. Without
one, `prepare` generates an INSECURE SRS on this machine (its secret existed here, so whoever ran it could forge
proofs): devnets and tests only. Nothing is ever downloaded: no `get_srs`, and ezkl's verifier generation is given
the project's solc instead of fetching one (`verinfer.zk.solidity`).

Artifacts are cached per modelId under `cache_dir` (see `verinfer.zk.artifacts`); `load_artifacts` reopens them.
Slow steps report to an injectable `Progress` (`RichProgress` for people, `StepTimes` for the bench).

Errors are `ZkError` subclasses (a `ModelError`; tree in `verinfer.zk.errors`), each naming the values and the fix.
`prepare` and `prove` call ezkl synchronously (seconds to minutes): run them off the event loop, in a worker pool.
"""

from __future__ import annotations

from verinfer.zk.artifacts import ZkArtifacts, load_artifacts
from verinfer.zk.chain import (
    ZkModel,
    deploy_verifier,
    register_prepared,
    register_zk_model,
    submit_zk_result,
    verify_on_chain,
    zk_model_spec,
)
from verinfer.zk.config import CircuitConfig
from verinfer.zk.errors import (
    CircuitStepFailed,
    ProofInvalid,
    SrsError,
    VerifierBuildError,
    ZkArtifactsInvalid,
    ZkError,
    ZkInputInvalid,
    ZkModelUnsupported,
)
from verinfer.zk.instances import FIELD_MODULUS, from_field, instances_for, to_field
from verinfer.zk.pipeline import model_id_of, prepare
from verinfer.zk.progress import NoProgress, Progress, RichProgress, StepTimes
from verinfer.zk.prover import ZkProof, prove, verify_proof
from verinfer.zk.srs import Srs, generate_insecure_srs, load_srs

__all__ = [
    "FIELD_MODULUS",
    "CircuitConfig",
    "CircuitStepFailed",
    "NoProgress",
    "Progress",
    "ProofInvalid",
    "RichProgress",
    "Srs",
    "SrsError",
    "StepTimes",
    "VerifierBuildError",
    "ZkArtifacts",
    "ZkArtifactsInvalid",
    "ZkError",
    "ZkInputInvalid",
    "ZkModel",
    "ZkModelUnsupported",
    "ZkProof",
    "deploy_verifier",
    "from_field",
    "generate_insecure_srs",
    "instances_for",
    "load_artifacts",
    "load_srs",
    "model_id_of",
    "prepare",
    "prove",
    "register_prepared",
    "register_zk_model",
    "submit_zk_result",
    "to_field",
    "verify_on_chain",
    "verify_proof",
    "zk_model_spec",
]
