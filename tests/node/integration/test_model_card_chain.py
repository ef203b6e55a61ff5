"""The model card on chain: a tree model served exactly at its own input scale with its output at the scale float32
carries, a classifier committing only its label and showing it by name, both verified; and the publisher's card as
an attack surface: a card that misdescribes its file, or asks for more than a node allows, is not served."""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.node.integration.nodeworld import PRICE, USER, node_world, running
from tests.node.integration.test_model_matrix import xgboost_regressor, zipmap_classifier
from tests.node.support import gemm_softmax
from verinfer.errors import ContractRevert
from verinfer.inference import signature
from verinfer.inference.card import CardLimits, ModelCard, PortCard
from verinfer.inference.model_store import inspect_model
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.sdk.client import Client
from verinfer.types import Mode, ModelSpec, Status

pytestmark = pytest.mark.integration

FINE = 2**40  # every float32 input above 2^-17 in magnitude travels exactly
OUTPUT = 2**15  # at most what float32 carries at the regressor's outputs (one step per canonical unit)
COARSE = 10**6  # the default scale, which flips tree splits


def _flipping_row(path: Path, name: str) -> np.ndarray:
    """A float32 row on which the default scale changes the tree's answer (so the test shows what the card fixes)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = inspect_model(path.read_bytes(), allow_dynamic_batch=True)
    coarse = signature.Layout.plain(info, 1, COARSE)
    (ensemble,) = [n for n in onnx.load(path).graph.node if n.op_type.startswith("TreeEnsemble")]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in ensemble.attribute}
    splits = zip(attributes["nodes_featureids"], attributes["nodes_values"], attributes["nodes_modes"], strict=True)
    for feature, threshold, mode in splits:
        if mode == b"LEAF":
            continue
        for steps in range(1, 64):  # a value just past the threshold, which six decimals round back across it
            row = np.zeros((1, 4), dtype=np.float32)
            row[0, feature] = np.float32(threshold) + np.float32(steps) * np.spacing(np.float32(threshold))
            exact = session.run(None, {name: row})[0]
            rounded = signature.feeds(signature.encode_inputs({name: row}, coarse), coarse)[name]
            if not np.array_equal(session.run(None, {name: rounded})[0], exact):
                return row
    raise AssertionError("no value next to a split crosses it at the default scale")


def _wait_failed(service: NodeService, request_id: int, timeout: float = 60.0) -> str:
    assert service.journal is not None
    deadline = time.monotonic() + timeout
    while (job := service.journal.job(request_id)) is None or job.state is not JobState.FAILED:
        assert time.monotonic() < deadline, f"request {request_id} was neither failed nor served: {job}"
        time.sleep(0.1)
    assert job.fail_reason is not None
    return job.fail_reason


def test_model_card_end_to_end(tmp_path: Path, forge_build: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree, classifier = xgboost_regressor(), zipmap_classifier()
    paths = {name: tmp_path / f"{name}.onnx" for name in ("tree", "classifier", "misdescribed", "greedy")}
    onnx.save_model(tree, paths["tree"])
    onnx.save_model(classifier, paths["classifier"])
    onnx.save_model(gemm_softmax(seed=11), paths["misdescribed"])
    onnx.save_model(gemm_softmax(seed=12), paths["greedy"])
    tree_info = inspect_model(paths["tree"].read_bytes(), allow_dynamic_batch=True)
    tree_in, tree_out = tree_info.inputs[0].name, tree_info.outputs[0].name
    clf_info = inspect_model(paths["classifier"].read_bytes(), allow_dynamic_batch=True)
    label = clf_info.outputs[0].name
    row = _flipping_row(paths["tree"], tree_in)

    with node_world(tmp_path) as world:
        client = world.client

        def register(name: str, **card: object) -> bytes:
            path = paths[name]
            return client.register_model(path, path.as_uri(), PRICE, [Mode.SINGLE], **card)  # type: ignore[arg-type]

        tree_id = register("tree", scales={tree_in: FINE, tree_out: OUTPUT})
        clf_id = register("classifier", committed=[label], labels={label: ["negative", "positive"]})
        greedy_id = register("greedy", limits=CardLimits(memory_mb=4_096))  # the node allows 1,024 MB
        # A hostile publisher's entry, sent past the SDK's checks: its card says the output is an int64 label.
        model_id = bytes(client.system.sender.w3.keccak(paths["misdescribed"].read_bytes()))
        lying = ModelCard(outputs=(PortCard("y", "int64", (1, 2)),))
        spec = ModelSpec(paths["misdescribed"].as_uri(), (1, 4), (1, 2), COARSE, PRICE, Mode.mask([Mode.SINGLE]))
        client.system.register_model(model_id, replace(spec, card=lying.to_bytes()))

        with running(NodeService(world.config(0))) as service:
            plain = [[0.5, -1.0, 0.25, 2.0]]
            misdescribed = client.request(model_id, plain)
            greedy = client.request(greedy_id, plain)
            tree_handle = client.request(tree_id, {tree_in: row})
            clf_handle = client.request(clf_id, {clf_info.inputs[0].name: row})

            served = tree_handle.result(timeout=90)
            session = ort.InferenceSession(str(paths["tree"]), providers=["CPUExecutionProvider"])
            exact = session.run(None, {tree_in: row})[0]
            assert served.outputs is not None
            # The float model's own answer, to the output's scale: the split the default scale flipped is kept.
            assert np.array_equal(served.outputs[tree_out], np.round(exact.astype(np.float64) * OUTPUT) / OUTPUT)

            answer = clf_handle.result(timeout=90)
            assert len(answer.output_bytes) == 8  # the label only: the probabilities were not committed
            assert answer.outputs is not None
            assert set(answer.outputs) == {label}
            assert answer.labelled == {label: [["negative", "positive"][int(answer.outputs[label][0])]]}

            assert "does not describe its file" in _wait_failed(service, misdescribed.request_id)
            assert "asks for 4096 MB per request, this node allows 1024 MB" in _wait_failed(service, greedy.request_id)
        assert misdescribed.status() == Status.PENDING
        assert greedy.status() == Status.PENDING
        for handle in (tree_handle, clf_handle):
            report = client.verify(handle.request_id)
            assert report.matches, report.failed


def test_mirror_added_by_the_publisher_serves_a_model_whose_uri_died(tmp_path: Path, forge_build: Path) -> None:
    """The entry's URI is gone (a host shut down): the publisher adds a mirror, and nodes and verify fetch from it.
    A stranger cannot add one; a mirror serving other bytes is skipped, since the id is the file's hash."""
    path = tmp_path / "published.onnx"
    onnx.save_model(gemm_softmax(seed=13), path)
    hosted = tmp_path / "host" / "model.onnx"
    hosted.parent.mkdir()
    hosted.write_bytes(path.read_bytes())
    wrong = tmp_path / "host" / "other.onnx"
    onnx.save_model(gemm_softmax(seed=14), wrong)
    with node_world(tmp_path) as world:
        client = world.client
        model_id = client.register_model(hosted, (tmp_path / "gone.onnx").as_uri(), PRICE, [Mode.SINGLE])
        stranger = world.sender(8)  # an account that published nothing
        with pytest.raises(ContractRevert, match="NotMirrorAdmin"), stranger.decoder.translate():
            stranger.send(client.system.models.functions.addMirror(model_id, hosted.as_uri()))
        client.add_mirror(model_id, wrong.as_uri())  # the publisher's mistake: other bytes, skipped by the hash
        client.add_mirror(model_id, hosted.as_uri())
        assert client.provenance(model_id).mirrors == (wrong.as_uri(), hosted.as_uri())
        with running(NodeService(world.config(0))):
            handle = client.request(model_id, [[0.1, 0.2, 0.3, 0.4]])
            handle.result(timeout=90)
        key = world.anvil.accounts[USER].private_key
        fresh = Client(world.anvil.rpc_url, key, client.system.deployment, cache_dir=tmp_path / "fresh-cache")
        assert fresh.verify(handle.request_id).matches
