"""The node service against a real anvil: it registers itself, serves SINGLE and CONSENSUS requests end to end,
and every result verifies by re-execution."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.node.integration.nodeworld import node_world, running
from verinfer.types import Mode, Status
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
