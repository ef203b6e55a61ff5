"""The node serves ZK requests: proofs run in its worker pool while SINGLE requests keep flowing, each proven
result is checked by the model's verifier on chain, and a restart in the middle of proving loses nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.node.integration.nodeworld import PRICE, NodeWorld, node_world, running
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status
from verinfer.zk import prepare, register_prepared
from verinfer.zk.models import calibration_rows, mlp

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # proving takes minutes

FEATURES = 4


def zk_model(world: NodeWorld, tmp_path: Path, seed: int) -> bytes:
    """A tiny MLP prepared (artifacts under tmp_path/zk, as the node's zk.artifacts_dir) and registered with its
    verifier, before the node starts (a node registers for the models that exist when it starts)."""
    model_path = tmp_path / "zk-mlp.onnx"
    model_path.write_bytes(mlp(FEATURES, 4, 2, seed=seed).SerializeToString())
    artifacts = prepare(model_path, calibration_rows(FEATURES), cache_dir=tmp_path / "zk")
    return register_prepared(world.owner, artifacts, uri=model_path.as_uri(), price=PRICE).model_id


def zk_requests(world: NodeWorld, model_id: bytes, seed: int, count: int = 3) -> list[int]:
    rng = np.random.default_rng(seed)
    return [
        world.client.request(model_id, rng.normal(size=FEATURES) / 2, mode=Mode.ZK).request_id for _ in range(count)
    ]


def test_node_proves_zk_requests_beside_single_ones(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        model_id = zk_model(world, tmp_path, seed=5)
        config = world.config(0, modes=["SINGLE", "ZK"], zk={"artifacts_dir": tmp_path / "zk"})
        with running(NodeService(config)) as service:
            zk_ids = zk_requests(world, model_id, seed=5)
            single_ids = world.request(20)
            assert set(world.wait_final(single_ids, timeout=60).values()) == {Status.FULFILLED}
            assert set(world.wait_final(zk_ids, timeout=120).values()) == {Status.FULFILLED}
            assert service.journal is not None
            journal = service.journal
            # The chain says FULFILLED once the delivery is mined; the journal says CONFIRMED once the node has read
            # its receipt, a tick or more later (seconds on a loaded machine).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                (job := journal.job(rid)) is None or job.state is not JobState.CONFIRMED for rid in zk_ids
            ):
                time.sleep(0.1)
            for rid in zk_ids:
                job = journal.job(rid)
                assert job is not None
                assert job.state is JobState.CONFIRMED
                assert job.proof
                report = world.client.verify(rid, zk_artifacts_dir=tmp_path / "zk")
                assert report.matches, [c for c in report.checks if not c.ok]
                assert {"proof (on-chain verifier)", "proof (local verifying key)"} <= {c.field for c in report.checks}


def test_proofs_interrupted_by_a_restart_are_made_again(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0, modes=["ZK"], zk={"artifacts_dir": tmp_path / "zk"})
        model_id = zk_model(world, tmp_path, seed=6)
        # Requested once the node serves the model: the hub refuses requests for a model nobody serves.
        with running(NodeService(config)) as first:
            ids = zk_requests(world, model_id, seed=6)
            assert first.journal is not None
            deadline = time.monotonic() + 30
            while first.prover is not None and not first.prover.busy and time.monotonic() < deadline:
                time.sleep(0.05)
            assert first.prover is not None
            assert first.prover.busy  # stopped while proofs are running
        assert Status.PENDING in world.statuses(ids).values()
        with running(NodeService(config)):
            assert set(world.wait_final(ids, timeout=120).values()) == {Status.FULFILLED}
        delivered = [e.args["requestId"] for e in world.hub_events("ResultSubmitted")]
        assert sorted(delivered) == sorted(ids)
