"""The node service against a real anvil: it registers itself, serves SINGLE and CONSENSUS requests end to end,
and every result verifies by re-execution."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.node.integration.nodeworld import node_world, running
from verinfer.errors import ModelError
from verinfer.inference import codec
from verinfer.types import Mode, Status
from verinfer.worker.compute import LoadedModel
from verinfer.worker.journal import JobState
from verinfer.worker.service import NodeService

pytestmark = pytest.mark.integration


def test_node_registers_and_serves_single_requests(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, running(NodeService(world.config(0))) as service:
        assert service.registration is not None
        assert service.registration.models == (world.model_id,)
        ids = world.request(40)
        statuses = world.wait_final(ids)
        assert set(statuses.values()) == {Status.FULFILLED}
        submitted = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted"))
        assert all(submitted[rid] == 1 for rid in ids)
        assert world.hub_events("ResultSkipped") == []
        for rid in ids[:3]:
            assert world.client.verify(rid).matches
        metrics = httpx.get(f"http://127.0.0.1:{service.metrics_port}/metrics").text
        assert "verinfer_requests_fulfilled_total{mode=\"SINGLE\"}" in metrics
        assert httpx.get(f"http://127.0.0.1:{service.metrics_port}/healthz").status_code == 200


class LyingModel:
    """A test double: the real model's outputs with the first value changed (what a lazy or malicious node posts)."""

    def __init__(self, honest: LoadedModel) -> None:
        self.honest = honest

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        lies: list[bytes | ModelError] = []
        for out in self.honest.compute(inputs):
            if isinstance(out, bytes):
                values = codec.decode_ints(out)
                values[0] += 12_345
                out = codec.encode_ints(values)
            lies.append(out)
        return lies


def lie(service: NodeService) -> None:
    assert service.ctx is not None
    catalog = service.ctx.catalog
    real_get = catalog.get
    catalog.get = lambda model_id: LyingModel(real_get(model_id))  # type: ignore[method-assign,assignment,return-value]


def test_consensus_liar_is_outvoted_and_slashed_and_honest_nodes_paid(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, ExitStack() as stack:
        services = [stack.enter_context(running(NodeService(world.config(i)), lie if i == 2 else None))
                    for i in range(3)]
        honest, liar = [world.node_address(0), world.node_address(1)], world.node_address(2)
        ids = world.request(6, mode=Mode.CONSENSUS, redundancy=3)
        assert set(world.wait_final(ids, timeout=90).values()) == {Status.FULFILLED}
        slashed = world.hub_events("VoteSlashed")
        assert {e.args["requestId"] for e in slashed} == set(ids)
        assert {e.args["node"] for e in slashed} == {liar}
        reached = world.hub_events("ConsensusReached")
        assert sorted(e.args["requestId"] for e in reached) == sorted(ids)
        assert all(e.args["agreeing"] == 2 for e in reached)
        hub = world.owner.hub.functions
        for node in honest:
            assert world.owner.sender.call(hub.balanceOf(node)) > 0
        assert world.owner.sender.call(hub.balanceOf(liar)) == 0
        for rid in ids[:2]:
            assert world.client.verify(rid).matches
        for i, service in enumerate(services):
            assert service.ctx is not None
            backlog = service.ctx.journal.backlog()
            assert sum(backlog.values()) == 0, (i, backlog)
            assert len(service.ctx.journal.jobs(JobState.FINALIZED, limit=100)) == len(ids)
