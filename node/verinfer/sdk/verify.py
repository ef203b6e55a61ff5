"""Verification by re-execution: from the chain's data alone (the registered model, the request's input, the
result's event), re-run the model with the canonical runner settings and check every recorded hash.

The result's provenance (output, nodes, environments) is what `RequestHandle.result()` reads from the logs: the
`ResultSubmitted` event for SINGLE, `ConsensusReached` with the agreeing nodes' `ResultCommitted` for CONSENSUS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from hexbytes import HexBytes
from web3 import Web3

from verinfer.chain import commitments
from verinfer.chain.tx import rpc
from verinfer.errors import ChainError, CodecError, ModelError, requires_extra
from verinfer.inference import signature
from verinfer.sdk.client import request_logs
from verinfer.types import MAX_MODEL_BYTES, Mode, ModelSpec

if TYPE_CHECKING:
    from verinfer.sdk.client import Client
    from verinfer.sdk.text import TextRegeneration

FETCH_TIMEOUT = 30.0


class Check(NamedTuple):
    """One compared field: what re-execution says it should be, what the chain holds, and whether they agree."""

    field: str
    expected: object
    actual: object
    ok: bool


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of re-executing one request."""

    request_id: int
    checks: tuple[Check, ...]
    differences: tuple[Difference, ...] = ()
    """Where the recorded output differs from the re-executed one, value by value, decoded (at most
    MAX_DIFFERENCES)."""
    regeneration: TextRegeneration | None = None
    """A language model's answer against its regeneration: the first differing token position, and whether the
    regeneration has a near-tie there."""

    @property
    def matches(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the fields that disagree."""
        return tuple(check.field for check in self.checks if not check.ok)


@dataclass(frozen=True)
class Difference:
    """One output value the node recorded that re-execution does not give: output `name`, flat `index` in it."""

    name: str
    index: int
    expected: float | int | bool
    recorded: float | int | bool


MAX_DIFFERENCES = 20


def _differences(expected: bytes, recorded: bytes, layout: signature.Layout) -> tuple[Difference, ...]:
    """The values, output by output, where `recorded` differs from `expected` (both canonical, of one layout)."""
    if expected == recorded or len(expected) != len(recorded):
        return ()
    want = signature.decode_outputs(expected, layout)
    got = signature.decode_outputs(recorded, layout)
    found: list[Difference] = []
    for name, values in want.items():
        flat_want, flat_got = values.reshape(-1), got[name].reshape(-1)
        for index in np.flatnonzero(flat_want != flat_got)[: MAX_DIFFERENCES - len(found)]:
            found.append(Difference(name, int(index), flat_want[index].item(), flat_got[index].item()))
        if len(found) >= MAX_DIFFERENCES:
            break
    return tuple(found)


def _check(field: str, expected: object, actual: object) -> Check:
    def show(value: object) -> object:
        return "0x" + value.hex() if isinstance(value, bytes) else value

    return Check(field, show(expected), show(actual), expected == actual)


def verify(
    client: Client,
    request_id: int,
    model_path: Path | str | None = None,
    zk_artifacts_dir: Path | str | None = None,
    *,
    max_model_bytes: int = MAX_MODEL_BYTES,
) -> VerificationReport:
    """Re-executes request `request_id` and compares with what the chain recorded. A language model's answer is
    regenerated and compared token by token (`VerificationReport.regeneration` names the first differing position).

    The model comes from `model_path` if given (its hash is reported, not trusted), else from its registered URI
    through a hash-checked `ModelStore` in the client's cache directory. A ZK result is checked through its proof
    instead of re-execution: on chain (the model's verifier), and locally too when `zk_artifacts_dir` holds the
    model's prepared artifacts. A fetched model over `max_model_bytes` is refused (`ModelTooLargeError`).
    """
    system = client.system
    handle = client.handle(request_id)
    result = handle.result(timeout=0)  # FULFILLED now, or ResultTimeoutError / RequestFailedError
    spec = handle.spec
    model_id = handle.model_id
    requested = request_logs(system, "InferenceRequested", request_id, handle.block_number, first_only=True)
    if not requested:
        raise ChainError(f"no InferenceRequested log for request {request_id}")
    input_bytes = bytes(requested[0].args["input"])
    differences: tuple[Difference, ...] = ()
    proof_checks: tuple[Check, ...] = ()
    regeneration: TextRegeneration | None = None
    text_checks: tuple[Check, ...] = ()
    if spec.is_text:
        from verinfer.sdk.text import recompute  # a bundle's or a classifier's files: checked against the id

        output, regeneration = recompute(client, model_id, spec, input_bytes, result, model_path, max_model_bytes)
        file_hash = bytes(model_id)
        if regeneration is not None:
            text_checks = (
                _check("token ids", regeneration.regenerated_ids, regeneration.recorded_ids),
                _check("text", regeneration.regenerated_text, result.text),
            )
    else:
        path = _model_path(client, model_id, spec, model_path, max_model_bytes)
        try:
            file_hash = bytes(Web3.keccak(path.read_bytes()))
        except OSError as exc:
            raise ModelError(f"cannot read the model file {path}: {exc}") from exc
        if result.mode == Mode.ZK:
            # The output is the circuit's fixed-point result, bound by the proof: the proof is what is re-checked.
            output = result.output_bytes
            proof_checks = _zk_checks(client, request_id, result.result_tx, input_bytes, output, zk_artifacts_dir)
        else:
            from verinfer.inference.runner import OnnxRunner  # onnxruntime loads only when re-executing

            runner = OnnxRunner(path)  # canonical settings: 1 thread, sequential, "basic" optimisation
            try:
                layout = signature.Layout.of(runner.info, spec)  # the entry's card: scales, committed outputs
                feeds = signature.feeds(input_bytes, layout)
                output = signature.encode_outputs(runner.run_batch(feeds), layout)
            except CodecError as exc:
                raise ModelError(f"request {request_id} cannot be re-executed on model {path}: {exc}") from exc
            differences = _differences(output, result.output_bytes, layout)

    input_hash = bytes(Web3.keccak(input_bytes))
    output_hash = bytes(Web3.keccak(output))
    node_commitments = [
        commitments.result(request_id, model_id, input_hash, output_hash, env, node)
        for env, node in zip(result.env_hashes, result.nodes, strict=True)
    ]
    if result.mode in (Mode.SINGLE, Mode.ZK):  # ZK records the SINGLE commitment once the proof passed
        recomputed = node_commitments[0]
    else:
        recomputed = commitments.consensus(request_id, output_hash, node_commitments)
    stored = bytes(system.sender.call(system.hub.functions.commitmentOf(request_id)))
    on_chain_ok = all(
        system.sender.call(system.hub.functions.verifyResult(request_id, model_id, input_hash, output_hash, env, node))
        for env, node in zip(result.env_hashes, result.nodes, strict=True)
    )
    return VerificationReport(
        request_id=request_id,
        checks=(
            _check("model hash", model_id, file_hash),
            _check("output bytes", output, result.output_bytes),
            _check("output hash", output_hash, result.output_hash),
            _check("commitment", commitments.stored_form(recomputed), stored),
            _check("on-chain verifyResult", True, on_chain_ok),
            *text_checks,
            *proof_checks,
        ),
        differences=differences,
        regeneration=regeneration,
    )


def _model_path(
    client: Client, model_id: bytes, spec: ModelSpec, model_path: Path | str | None, max_model_bytes: int
) -> Path:
    """The model file: `model_path` if given (its hash is reported, not trusted), else fetched from the entry's URI
    (then, if it fails, the model's mirrors) through a hash-checked `ModelStore` in the client's cache directory."""
    if model_path is not None:
        return Path(model_path)
    from verinfer.inference.model_store import ModelStore  # onnx: loaded by the call that fetches, not the import

    store = ModelStore(
        client.cache_dir,
        max_bytes=max_model_bytes,
        timeout=FETCH_TIMEOUT,
        limit_name="max_model_bytes (verinfer verify --max-model-bytes)",
    )
    return store.fetch_first(bytes(model_id), client.model_uris(model_id, spec))


def _zk_checks(
    client: Client,
    request_id: int,
    result_tx: bytes,
    input_bytes: bytes,
    output: bytes,
    artifacts_dir: Path | str | None,
) -> tuple[Check, ...]:
    """A ZK result's proof, read back from the delivering transaction's calldata: it must be for this request's
    input and output, and the model's verifier must accept it (an eth_call); with the model's prepared artifacts at
    hand, the proof is also checked locally against the verifying key."""
    with requires_extra("verifying a ZK result", "zk"):
        from verinfer.zk import load_artifacts, verify_on_chain, verify_proof  # ezkl only for ZK results

    system = client.system
    tx = rpc(lambda: system.sender.w3.eth.get_transaction(HexBytes(result_tx)), "read the result transaction")
    try:
        fn, args = system.hub.decode_function_input(tx["input"])
    except ValueError:
        return (_check("proof in the result transaction", "submitZkResult call", "undecodable calldata"),)
    if fn.fn_name != "submitZkResult":
        return (_check("proof in the result transaction", "submitZkResult", fn.fn_name),)
    proof = bytes(args["proof"])
    request = args["request"]
    model_id = bytes(request["modelId"] if isinstance(request, dict) else request[0])
    verifier = system.sender.call(system.hub.functions.verifierOf(model_id))
    checks = [
        _check("proof input", input_bytes, bytes(args["input"])),
        _check("proof output", output, bytes(args["output"])),
        _check("proof (on-chain verifier)", True, verify_on_chain(system, verifier, input_bytes, output, proof)),
    ]
    if artifacts_dir is not None:
        artifacts = load_artifacts(artifacts_dir, model_id)
        checks.append(_check("proof (local verifying key)", True, verify_proof(artifacts, input_bytes, output, proof)))
    return tuple(checks)
