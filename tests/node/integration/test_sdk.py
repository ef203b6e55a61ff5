"""The SDK on a real anvil: register the demo credit model through `Client`, request, serve by hand as a node,
read the result with its provenance, and verify it by re-execution (and catch a node that lies)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from eth_account.signers.local import LocalAccount
from onnx import TensorProto, helper
from web3 import Web3
from web3.types import FilterParams, RPCEndpoint

from tests.node.support import NODE_STAKE, Actors, next_second, open_all_windows
from verinfer.chain import commitments
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, deploy, save_deployment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.demo.models import DemoModel, build_credit_model
from verinfer.errors import ChainError
from verinfer.inference import codec
from verinfer.inference.manifest import manifest, manifest_hash
from verinfer.inference.model_store import CustomOperatorError
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client, RequestHandle, ResultTimeoutError
from verinfer.sdk.client import chain_now
from verinfer.types import Deployment, Mode, Status

pytestmark = pytest.mark.integration

PRICE = 10**15
SCALE = 1_000_000
DEPLOYER, OPERATOR, USER, SECOND_OPERATOR, THIRD_OPERATOR = 5, 6, 7, 8, 9


@dataclass(frozen=True)
class World:
    """A fresh deployment with the credit model registered through the SDK and one node staked to serve it."""

    deployment: Deployment
    client: Client
    node: System
    model: DemoModel
    model_id: bytes
    env_hash: bytes


@pytest.fixture(scope="module")
def credit_model(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    return build_credit_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def world(system: Actors, anvil: Anvil, accounts: list[LocalAccount], credit_model: DemoModel, tmp_path: Path) -> World:
    """Built inside `system`'s snapshot, so everything is rolled back after the test."""
    w3 = system.deployer.sender.w3
    decoder = system.deployer.sender.decoder
    deployment = deploy(TxSender(w3, accounts[DEPLOYER], decoder))
    client = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment, cache_dir=tmp_path / "cache")
    model_id = client.register_model(
        credit_model.path, credit_model.path.as_uri(), PRICE, [Mode.SINGLE, Mode.CONSENSUS], scale=SCALE
    )
    node = System.bind(TxSender(w3, accounts[OPERATOR], decoder), deployment)
    env_hash = manifest_hash(manifest(OnnxRunner(credit_model.path, expected_id=model_id)))
    node.register_node(env_hash, [model_id], NODE_STAKE)
    next_second(w3)
    return World(deployment, client, node, credit_model, model_id, env_hash)


def true_output(model: DemoModel, features: np.ndarray) -> bytes:
    """What an honest node answers: the canonical runner on the canonically decoded input."""
    decoded = codec.decode(codec.encode(features, SCALE), (1, features.size), SCALE).astype(np.float32)
    return codec.encode(OnnxRunner(model.path).run_batch(decoded), SCALE)


def serve(world: World, handle: RequestHandle, output: bytes) -> bytes:
    """What the node does (as story._serve): read the request from the raw logs, rebuild its params, submit."""
    (event,) = world.node.requested(handle.block_number, handle.block_number)
    assert event.request_id == handle.request_id
    params = event.params(world.node.terms_of(event.model_id))
    open_all_windows(world.node.sender.w3, event.lottery)
    receipt = world.node.sender.send(world.node.hub.functions.submitResult(event.request_id, params.as_abi(), output))
    return bytes(receipt["transactionHash"])


def test_register_request_result_and_verify(world: World) -> None:
    assert world.model_id == Web3.keccak(world.model.path.read_bytes())
    spec = world.client.model(world.model_id)
    assert (spec.input_shape, spec.output_shape, spec.scale, spec.price) == ((1, 4), (1, 2), SCALE, PRICE)

    features = world.model.samples[0]
    handle = world.client.request(world.model_id, features.tolist())  # nested lists of floats, batch dim implied
    assert handle.status() == Status.PENDING
    output = true_output(world.model, features)
    result_tx = serve(world, handle, output)

    result = handle.result(timeout=10.0)
    expected = codec.decode(output, (1, 2), SCALE)
    np.testing.assert_array_equal(result.output, expected)
    assert result.output.shape == (1, 2)
    assert result.output_bytes == output
    assert result.model_id == world.model_id
    assert result.input_hash == Web3.keccak(codec.encode(features, SCALE))
    assert result.output_hash == Web3.keccak(output)
    assert result.env_hashes == (world.env_hash,)
    assert result.nodes == (world.node.sender.address,)
    assert result.commitment == commitments.result(
        handle.request_id,
        world.model_id,
        result.input_hash,
        result.output_hash,
        world.env_hash,
        world.node.sender.address,
    )
    assert result.request_block == handle.block_number
    assert result.result_block > result.request_block
    assert result.request_tx == handle.tx_hash
    assert result.result_tx == result_tx

    report = world.client.verify(handle.request_id)
    assert report.matches, report.checks
    assert [c.field for c in report.checks] == [
        "model hash",
        "output bytes",
        "output hash",
        "commitment",
        "on-chain verifyResult",
    ]
    # A local copy of the model verifies the same way.
    assert world.client.verify(handle.request_id, model_path=world.model.path).matches


def test_lying_node_is_caught(world: World) -> None:
    features = np.asarray(world.model.samples[1])[None, :]  # numpy input with its batch dimension
    handle = world.client.request(world.model_id, features)
    honest = codec.decode(true_output(world.model, features[0]), (1, 2), SCALE)
    lie = codec.encode(honest[:, ::-1], SCALE)  # swap the two probabilities
    serve(world, handle, lie)
    np.testing.assert_array_equal(handle.result(timeout=10.0).output, honest[:, ::-1])

    report = world.client.verify(handle.request_id)
    assert not report.matches
    failed = set(report.failed)
    assert {"output bytes", "output hash", "commitment", "on-chain verifyResult"} <= failed
    assert "model hash" not in failed


def test_result_times_out_with_a_named_error(world: World) -> None:
    handle = world.client.request(world.model_id, world.model.samples[2])
    with pytest.raises(ResultTimeoutError) as caught:
        handle.result(timeout=0.5, poll=0.1)
    assert isinstance(caught.value, ChainError)
    assert caught.value.request_id == handle.request_id
    assert caught.value.status == Status.PENDING


def test_connect_reads_the_deployments_file(
    world: World, anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DEPLOYMENTS, str(tmp_path / "deployments"))
    save_deployment(world.deployment)
    client = Client.connect(anvil.rpc_url, anvil.accounts[USER].private_key, cache_dir=tmp_path / "cache")
    assert client.system.hub.address == world.deployment.hub.address
    assert client.model(world.model_id).uri == world.model.path.as_uri()


def test_register_model_refuses_a_custom_operator(world: World, tmp_path: Path) -> None:
    graph = helper.make_graph(
        nodes=[helper.make_node("Secret", ["x"], ["y"], domain="com.example")],
        name="custom",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save_model(model, path)
    with pytest.raises(CustomOperatorError, match=r"com\.example"):
        world.client.register_model(path, path.as_uri(), PRICE, [Mode.SINGLE])


def test_consensus_result_and_verify(world: World, accounts: list[LocalAccount]) -> None:
    others = [
        System.bind(TxSender(world.node.sender.w3, accounts[i], world.node.sender.decoder), world.deployment)
        for i in (SECOND_OPERATOR, THIRD_OPERATOR)
    ]
    for other in others:
        other.register_node(world.env_hash, [world.model_id], NODE_STAKE)
    next_second(world.node.sender.w3)
    features = world.model.samples[3]
    handle = world.client.request(world.model_id, features, mode=Mode.CONSENSUS, redundancy=3)
    output = true_output(world.model, features)

    nodes = (world.node, *others)
    (event,) = world.node.requested(handle.block_number, handle.block_number)
    params = event.params(world.node.terms_of(event.model_id)).as_abi()
    open_all_windows(world.node.sender.w3, event.lottery)
    salts = [Web3.keccak(text=f"salt {i}") for i in range(len(nodes))]
    for seat, (node, salt) in enumerate(zip(nodes, salts, strict=True)):
        # Past the cap every window is open: each node takes one seat.
        vote = commitments.vote(Web3.keccak(output), salt, node.sender.address)
        node.sender.send(node.hub.functions.commitResult(handle.request_id, params, vote, 1 << seat))
    for node, salt in zip(nodes, salts, strict=True):
        node.sender.send(node.hub.functions.revealResult(handle.request_id, params, output, salt))
    world.node.sender.send(world.node.hub.functions.finalizeConsensus(handle.request_id, params, output))

    result = handle.result(timeout=10.0)
    addresses = tuple(node.sender.address for node in nodes)
    assert result.mode == Mode.CONSENSUS
    assert result.output_bytes == output
    assert result.nodes == addresses
    assert result.env_hashes == (world.env_hash,) * 3
    node_commitments = [
        commitments.result(handle.request_id, world.model_id, result.input_hash, result.output_hash, world.env_hash, a)
        for a in addresses
    ]
    assert result.commitment == commitments.consensus(handle.request_id, result.output_hash, node_commitments)

    report = world.client.verify(handle.request_id)
    assert report.matches, report.checks


def test_result_reads_logs_in_ranges_of_the_configured_size(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hosted provider caps eth_getLogs ranges: `result` and `handle` scan from the request (or the deployment)
    in ranges of VERINFER_LOG_RANGE blocks, never one query from there to the head."""
    features = world.model.samples[0]
    handle = world.client.request(world.model_id, features)
    w3 = world.client.system.sender.w3
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [7])
    serve(world, handle, true_output(world.model, features))
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [7])
    ranges: list[tuple[int, int]] = []
    get_logs = w3.eth.get_logs

    def recording(query: FilterParams) -> Any:
        ranges.append((int(query["fromBlock"]), int(query["toBlock"])))
        return get_logs(query)

    monkeypatch.setattr(w3.eth, "get_logs", recording)
    monkeypatch.setenv("VERINFER_LOG_RANGE", "3")
    found = world.client.handle(handle.request_id).result(timeout=0)
    assert found.output_bytes == true_output(world.model, features)
    assert ranges, "no eth_getLogs call was recorded"
    assert all(1 <= end - start + 1 <= 3 for start, end in ranges), ranges
    head = w3.eth.block_number
    assert max(end for _, end in ranges) == head  # the result's logs are searched up to the head
    assert min(start for start, _ in ranges) == world.deployment.hub.block  # `handle` starts at the deployment

    monkeypatch.setenv("VERINFER_LOG_RANGE", "0")
    with pytest.raises(ValueError, match="VERINFER_LOG_RANGE must be a whole number of blocks >= 1, got '0'"):
        world.client.handle(handle.request_id)


def test_deadline_counts_from_now_on_an_idle_chain(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a chain with no empty blocks the latest timestamp can be hours old: a request's deadline counts from the
    wall clock then, so `deadline_s=3600` is an hour from now, not an hour from the last block."""
    w3 = world.client.system.sender.w3
    latest = int(w3.eth.get_block("latest")["timestamp"])
    assert chain_now(w3) >= latest
    monkeypatch.setattr(time, "time", lambda: latest + 7_200.0)  # the chain idle for two hours
    assert chain_now(w3) == latest + 7_200
    monkeypatch.setattr(time, "time", lambda: latest - 50.0)  # a chain whose clock runs ahead of ours
    assert chain_now(w3) == latest
