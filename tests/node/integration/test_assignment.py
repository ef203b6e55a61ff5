"""The lottery on anvil with real nodes: with two nodes serving, each SINGLE request is worked on by its primary only
(no `ResultSkipped`, no second delivery); with the primary dead, the fallback serves once its turn comes."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import node_world, running
from verinfer.chain import lottery
from verinfer.node.hub import FALLBACK_GRACE_S
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration


def _stakes(world: object, addresses: list[str]) -> dict[str, int]:
    nodes = world.owner.nodes.functions  # type: ignore[attr-defined]
    return {a: int(world.owner.sender.call(nodes.nodeInfo(a))[0]) for a in addresses}  # type: ignore[attr-defined]


def test_two_nodes_serve_200_single_requests_each_once(tmp_path: Path, forge_build: Path) -> None:
    with (
        node_world(tmp_path) as world,
        running(NodeService(world.config(0))),
        running(NodeService(world.config(1))),
    ):
        ids = world.request(200)
        statuses = world.wait_final(ids, timeout=180)
        assert set(statuses.values()) == {Status.FULFILLED}
        submitted = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted"))
        assert all(submitted[rid] == 1 for rid in ids)
        assert world.hub_events("ResultSkipped") == [], "a second node worked on a request"
        # Each request was served by the node the lottery made its primary.
        addresses = [world.node_address(0), world.node_address(1)]
        stakes = _stakes(world, addresses)
        requested = {e.args["requestId"]: e.args["lottery"] for e in world.hub_events("InferenceRequested")}
        by = {e.args["requestId"]: e.args["node"] for e in world.hub_events("ResultSubmitted")}
        primaries: Counter[str] = Counter()
        for rid in ids:
            ranked = lottery.assignment(lottery.Lottery.unpack(requested[rid]), rid, stakes)  # type: ignore[arg-type]
            assert by[rid] == ranked[0].node, f"request {rid} served by {by[rid]}, primary {ranked[0].node}"
            primaries[by[rid]] += 1
        assert set(primaries) == set(addresses), "both nodes were primaries (equal stakes)"


def test_the_fallback_serves_when_the_primary_is_dead(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        addresses = [world.node_address(0), world.node_address(1)]
        # Both register, then node 0 stops for good: it is the primary of about half the requests.
        with running(NodeService(world.config(0))):
            pass
        with running(NodeService(world.config(1))):
            ids = world.request(20)
            started = time.monotonic()
            statuses = world.wait_final(ids, timeout=120)
            elapsed = time.monotonic() - started
        assert set(statuses.values()) == {Status.FULFILLED}
        stakes = _stakes(world, addresses)
        requested = {e.args["requestId"]: e.args["lottery"] for e in world.hub_events("InferenceRequested")}
        served = {e.args["requestId"]: e for e in world.hub_events("ResultSubmitted")}
        dead_primary = 0
        for rid in ids:
            assert served[rid].args["node"] == addresses[1]
            draw = lottery.Lottery.unpack(requested[rid])
            ranked = lottery.assignment(draw, rid, stakes)  # type: ignore[arg-type]
            if ranked[0].node != addresses[0]:
                continue
            dead_primary += 1
            # The fallback's turn: its own window and the grace after the primary's, both within the cap + grace.
            mined = world.w3.eth.get_block(served[rid].block_number)["timestamp"]
            turn = max(ranked[1].opens_at, ranked[0].opens_at + FALLBACK_GRACE_S)
            assert mined >= ranked[1].opens_at, "never before its window"
            assert mined <= turn + 10, f"request {rid}: served at {mined}, the fallback's turn was {turn}"
            assert turn <= draw.opens_to_all_at + FALLBACK_GRACE_S
        assert dead_primary > 0, "node 0 was the primary of some requests"
        assert elapsed < 120
