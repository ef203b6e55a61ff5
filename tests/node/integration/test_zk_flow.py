"""ZK mode end to end on anvil, with real EZKL proofs: prepare a tiny MLP (locally generated, INSECURE SRS at the
smallest logrows the circuit needs), deploy its verifier, register it for ZK, request through a consumer, prove, submit:
accepted, called back, commitment verified. A tampered output, a proof from another model's circuit, an input that is
not the request's and a proof after the deadline are refused with their named errors.

One artifact set per model for the whole module (preparing takes ~10 s; proving ~1 s).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from tests.node.support import ENV_HASH, PRICE, Actors, next_second, open_all_windows
from verinfer.chain import commitments
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import InferenceRequested
from verinfer.errors import ContractRevert
from verinfer.inference import codec
from verinfer.types import Mode, RequestParams, Status
from verinfer.zk import (
    ZkArtifacts,
    ZkInputInvalid,
    ZkModel,
    ZkProof,
    load_artifacts,
    prepare,
    prove,
    register_prepared,
    submit_zk_result,
    verify_on_chain,
    verify_proof,
)
from verinfer.zk.models import calibration_rows, mlp

pytestmark = pytest.mark.integration

FEATURES = 4
CB_GAS = 200_000


def _prepare(directory: Path, seed: int) -> ZkArtifacts:
    model = directory / f"mlp_{seed}.onnx"
    model.write_bytes(mlp(FEATURES, 4, 2, seed=seed).SerializeToString())
    return prepare(model, calibration_rows(FEATURES), cache_dir=directory / "zk-cache")


@pytest.fixture(scope="module")
def zk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zk")


@pytest.fixture(scope="module")
def artifacts(zk_dir: Path) -> ZkArtifacts:
    return _prepare(zk_dir, seed=3)


@pytest.fixture(scope="module")
def other_artifacts(zk_dir: Path, artifacts: ZkArtifacts) -> ZkArtifacts:
    return _prepare(zk_dir, seed=4)


@pytest.fixture
def zk_model(system: Actors, artifacts: ZkArtifacts) -> ZkModel:
    """The tiny MLP registered for ZK (its verifier deployed), served by the session's staked node."""
    model = register_prepared(system.deployer, artifacts, uri="file:///models/zk-mlp.onnx", price=PRICE)
    system.node.sender.send(system.node.nodes.functions.setModels([model.model_id], True))
    next_second(system.node.sender.w3)
    return model


@pytest.fixture
def consumer(system: Actors) -> Contract:
    contract, _ = system.user.sender.deploy(load_artifact("RecordingConsumer"), system.deployment.hub.address)
    system.user.sender.transfer(contract.address, 10**18)
    return contract


def _request(
    system: Actors, consumer: Contract, model: ZkModel, features: np.ndarray, horizon: int = 3600
) -> tuple[InferenceRequested, RequestParams]:
    """The user asks through the consumer; the node rebuilds the request from the event alone."""
    w3 = system.user.sender.w3
    start = w3.eth.block_number + 1
    deadline = w3.eth.get_block("latest")["timestamp"] + horizon
    data = codec.encode(features, model.spec.scale)
    system.user.sender.send(
        consumer.functions.request(model.model_id, data, int(Mode.ZK), 1, CB_GAS, deadline), value=PRICE
    )
    (event,) = system.node.requested(start)
    open_all_windows(w3, event.lottery)
    return event, event.params(system.node.terms_of(event.model_id))


def _features(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, FEATURES))


def test_proof_is_accepted_recorded_paid_and_called_back(
    system: Actors, zk_model: ZkModel, consumer: Contract, artifacts: ZkArtifacts
) -> None:
    event, params = _request(system, consumer, zk_model, _features(11))
    assert params.mode == Mode.ZK
    assert system.deployer.hub.functions.verifierOf(zk_model.model_id).call() == zk_model.verifier

    proof = prove(artifacts, event.input)
    assert proof.input_bytes == event.input
    assert verify_on_chain(system.user, zk_model.verifier, event.input, proof.output_bytes, proof.proof)
    submit_zk_result(system.node, event.request_id, params, proof)

    hub = system.user.hub
    assert system.user.status_of(event.request_id) == Status.FULFILLED
    assert consumer.functions.calls().call() == 1
    assert consumer.functions.lastOutput().call() == proof.output_bytes
    output_hash = Web3.keccak(proof.output_bytes)
    node = system.node.sender.address
    expected = commitments.result(event.request_id, zk_model.model_id, params.input_hash, output_hash, ENV_HASH, node)
    assert hub.functions.commitmentOf(event.request_id).call() == commitments.stored_form(expected)
    assert hub.functions.verifyResult(
        event.request_id, zk_model.model_id, params.input_hash, output_hash, ENV_HASH, node
    ).call()
    assert hub.functions.balanceOf(node).call() == PRICE


def test_circuit_output_is_the_model_in_fixed_point(zk_model: ZkModel, artifacts: ZkArtifacts) -> None:
    """The proven output is the float model's output at scale 2^k, up to fixed-point rounding."""
    features = _features(12).astype(np.float32)
    session = ort.InferenceSession(str(artifacts.model_path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"x": features})
    proof = prove(artifacts, codec.encode(features, artifacts.scale))
    got = np.array(proof.output, dtype=np.float64) / artifacts.scale
    assert np.allclose(got, expected.reshape(-1), atol=0.05), (got, expected)


def test_tampered_output_is_refused(
    system: Actors, zk_model: ZkModel, consumer: Contract, artifacts: ZkArtifacts
) -> None:
    event, params = _request(system, consumer, zk_model, _features(13))
    proof = prove(artifacts, event.input)
    tampered = dataclasses.replace(proof, output=(proof.output[0] + 1, *proof.output[1:]))
    assert not verify_proof(artifacts, event.input, tampered.output_bytes, tampered.proof)
    assert not verify_on_chain(system.user, zk_model.verifier, event.input, tampered.output_bytes, tampered.proof)
    with pytest.raises(ContractRevert) as refused:
        submit_zk_result(system.node, event.request_id, params, tampered)
    assert refused.value.name == "ProofRejected"
    assert refused.value["requestId"] == event.request_id
    assert refused.value["verifier"] == zk_model.verifier
    assert system.user.status_of(event.request_id) == Status.PENDING


def test_proof_from_another_models_circuit_is_refused(
    system: Actors, zk_model: ZkModel, consumer: Contract, other_artifacts: ZkArtifacts
) -> None:
    event, params = _request(system, consumer, zk_model, _features(14))
    foreign: ZkProof = prove(other_artifacts, event.input)  # valid for the other model's key, same input
    assert verify_proof(other_artifacts, event.input, foreign.output_bytes, foreign.proof)
    with pytest.raises(ContractRevert) as refused:
        submit_zk_result(system.node, event.request_id, params, foreign)
    assert refused.value.name == "ProofRejected"


def test_input_that_is_not_the_requests_is_refused(
    system: Actors, zk_model: ZkModel, consumer: Contract, artifacts: ZkArtifacts
) -> None:
    event, params = _request(system, consumer, zk_model, _features(15))
    other = prove(artifacts, codec.encode(_features(16), artifacts.scale))
    with pytest.raises(ZkInputInvalid, match=r"request \d+ has input"):
        submit_zk_result(system.node, event.request_id, params, other)  # the library refuses before sending
    fn = system.node.hub.functions.submitZkResult(
        event.request_id, params.as_abi(), other.input_bytes, other.output_bytes, other.proof
    )
    with pytest.raises(ContractRevert) as refused:
        system.node.sender.send(fn, gas=2_000_000)
    assert refused.value.name == "InputMismatch"
    assert refused.value["expected"] == params.input_hash


def test_proof_after_the_deadline_is_refused(
    system: Actors, zk_model: ZkModel, consumer: Contract, artifacts: ZkArtifacts, w3: Web3
) -> None:
    event, params = _request(system, consumer, zk_model, _features(17), horizon=120)
    proof = prove(artifacts, event.input)
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [600])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    with pytest.raises(ContractRevert) as refused:
        submit_zk_result(system.node, event.request_id, params, proof)
    assert refused.value.name == "RequestExpired"
    assert refused.value["deadline"] == params.deadline


def test_artifacts_are_reused_from_the_cache(zk_dir: Path, artifacts: ZkArtifacts) -> None:
    start = time.perf_counter()
    again = _prepare(zk_dir, seed=3)
    assert time.perf_counter() - start < 2.0
    assert again == artifacts == load_artifacts(zk_dir / "zk-cache", artifacts.model_id)
    assert artifacts.srs.insecure
    assert artifacts.scale == 1 << artifacts.config.scale_bits
