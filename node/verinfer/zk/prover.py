"""prove() and verify_proof(): a canonical int64 input -> its output, the proof and the public instances; checks.

Inputs travel as canonical int64 values at the model's scale 2^k. ezkl takes real values: v / 2^k is exact in
float64 for |v| < 2^53, and ezkl quantizes it back to v, which `prove` checks against the witness.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezkl

from verinfer.inference.codec import decode_ints, encode_ints
from verinfer.zk.artifacts import ZkArtifacts
from verinfer.zk.errors import ProofInvalid, ZkInputInvalid
from verinfer.zk.instances import felt_from_hex, instances_for, split_signed, to_field
from verinfer.zk.progress import NoProgress, Progress
from verinfer.zk.steps import read_json, run_step

_EXACT_FLOAT = 2**53


@dataclass(frozen=True)
class ZkProof:
    """A proven inference: the canonical input and output values, the proof bytes and its public instances."""

    input: tuple[int, ...]
    output: tuple[int, ...]
    proof: bytes
    instances: tuple[int, ...]
    witness_seconds: float
    prove_seconds: float

    @property
    def input_bytes(self) -> bytes:
        """The canonical input tensor (what the request carried)."""
        return encode_ints(list(self.input))

    @property
    def output_bytes(self) -> bytes:
        """The canonical output tensor to submit with the proof."""
        return encode_ints(list(self.output))


def prove(
    artifacts: ZkArtifacts,
    canonical_input: bytes | Sequence[int],
    *,
    verify: bool = True,
    progress: Progress | None = None,
) -> ZkProof:
    """Runs the circuit on `canonical_input` (canonical bytes or int64 values at scale 2^k) and proves it.

    The output is the circuit's: the model's computation in fixed point at 2^k (it may differ in the last bits from a
    float runtime's, and it is the one the proof binds). With `verify` (default) the proof is checked locally before it
    is returned, so a node never submits one the hub would reject.
    """
    hook: Progress = progress if progress is not None else NoProgress()
    values = _input_values(artifacts, canonical_input)
    scale = float(artifacts.scale)
    with tempfile.TemporaryDirectory(prefix="verinfer-prove-") as tmp:
        data, witness, proof_path = Path(tmp) / "input.json", Path(tmp) / "witness.json", Path(tmp) / "proof.json"
        data.write_text(json.dumps({"input_data": [[v / scale for v in values]]}))
        start = time.perf_counter()
        with hook.step("witness"):
            run_step(
                "gen_witness",
                lambda: ezkl.gen_witness(
                    str(data),
                    str(artifacts.compiled_path),
                    str(witness),
                    str(artifacts.vk_path),
                    str(artifacts.srs.path),
                ),
                "check that the input lies in the range the model was calibrated on",
            )
        witness_seconds = time.perf_counter() - start
        start = time.perf_counter()
        with hook.step("prove"):
            run_step(
                "prove",
                lambda: ezkl.prove(
                    str(witness),
                    str(artifacts.compiled_path),
                    str(artifacts.pk_path),
                    str(proof_path),
                    str(artifacts.srs.path),
                ),
                "check the proving key and SRS in the artifacts folder, or prepare the model again",
            )
        prove_seconds = time.perf_counter() - start
        document = read_json(proof_path, "prove again")
    instances = _instances_of(document)
    inputs, outputs = split_signed(instances, artifacts.input_size)
    if tuple(inputs) != values:
        raise ZkInputInvalid(
            f"the circuit quantized the input to {inputs}, not {list(values)}: a value is outside what the circuit "
            "represents exactly. Fix: keep inputs within the calibrated range"
        )
    if len(outputs) != artifacts.output_size:
        raise ProofInvalid(f"the proof has {len(outputs)} outputs, the model {artifacts.output_size}")
    proof = ZkProof(values, tuple(outputs), _proof_bytes(document), tuple(instances), witness_seconds, prove_seconds)
    if verify and not verify_proof(artifacts, proof.input_bytes, proof.output_bytes, proof.proof):
        raise ProofInvalid(
            "the proof just made does not verify: the input probably exceeds the circuit's range checks "
            f"(decomposition {artifacts.config.decomp_base}^{artifacts.config.decomp_legs}). Fix: keep inputs within "
            "the calibrated range, or prepare with a larger decomp_base/decomp_legs"
        )
    return proof


def verify_proof(artifacts: ZkArtifacts, input_data: bytes, output_data: bytes, proof: bytes) -> bool:
    """Whether `proof` proves `output_data` for `input_data` (canonical tensors) under the model's verifying key:
    the same check the on-chain verifier makes, run locally."""
    instances = instances_for(input_data, output_data)
    if len(instances) != artifacts.input_size + artifacts.output_size:
        raise ZkInputInvalid(
            f"{len(instances)} input and output values given, the circuit has "
            f"{artifacts.input_size} + {artifacts.output_size}"
        )
    document = {"instances": [[v.to_bytes(32, "little").hex() for v in instances]], "proof": list(proof)}
    with tempfile.TemporaryDirectory(prefix="verinfer-verify-") as tmp:
        path = Path(tmp) / "proof.json"
        path.write_text(json.dumps(document))
        try:
            return bool(
                ezkl.verify(
                    str(path), str(artifacts.settings_path), str(artifacts.vk_path), str(artifacts.srs.path), False
                )
            )
        except RuntimeError:
            # ezkl reports an unsatisfied constraint system (a wrong output or input, a foreign proof) as an error.
            return False


def _input_values(artifacts: ZkArtifacts, canonical_input: bytes | Sequence[int]) -> tuple[int, ...]:
    if isinstance(canonical_input, bytes | bytearray):
        values = tuple(int(v) for v in decode_ints(bytes(canonical_input)))
    else:
        values = tuple(canonical_input)
    if len(values) != artifacts.input_size:
        raise ZkInputInvalid(
            f"the model takes {artifacts.input_size} input values "
            f"(shape {list(artifacts.input_shape)}), got {len(values)}"
        )
    for index, value in enumerate(values):
        to_field(value)  # int64 check with the value in the message
        if abs(value) >= _EXACT_FLOAT:
            raise ZkInputInvalid(
                f"input element {index} = {value} is beyond 2^53: ezkl takes float64 inputs and cannot carry it exactly"
            )
    return values


def _instances_of(document: dict[str, Any]) -> list[int]:
    try:
        groups = document["instances"]
        return [felt_from_hex(str(felt)) for group in groups for felt in group]
    except (KeyError, TypeError) as exc:
        raise ProofInvalid(f"ezkl's proof file has no instances: {exc}") from exc


def _proof_bytes(document: dict[str, Any]) -> bytes:
    try:
        return bytes(int(b) for b in document["proof"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofInvalid(f"ezkl's proof file has no proof bytes: {exc}") from exc
