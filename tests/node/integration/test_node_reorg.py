"""Reorgs of depth 1 to 5 (`anvil_reorg`) while the node serves: the requests are re-mined on the new branch, the
node's results are not, and the node notices on its own and serves them again. Each request ends with exactly one
result on the canonical chain."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.node.integration.nodeworld import NodeWorld, node_world, running
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration


def reorg_dropping_node_results(world: NodeWorld, depth: int, node: str) -> int:
    """Replaces the last `depth` blocks; every transaction in them except the node's is mined again in the first
    new block. Returns how many of the node's transactions were dropped."""
    head = world.w3.eth.block_number
    keep, dropped = [], 0
    for number in range(head - depth + 1, head + 1):
        txs: list[Any] = list(world.w3.eth.get_block(number, full_transactions=True)["transactions"])
        for tx in txs:
            if tx["from"] == node:
                dropped += 1
            else:
                raw = world.rpc("eth_getRawTransactionByHash", [tx["hash"].to_0x_hex()])["result"]
                keep.append([raw, 0])
    answer = world.rpc("anvil_reorg", [depth, keep])
    assert "error" not in answer, answer
    return dropped


def test_reorgs_of_depth_1_to_5_get_dropped_results_served_again(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, running(NodeService(world.config(0))):
        node = world.node_address(0)
        everything: list[int] = []
        for depth in range(1, 6):
            ids = world.request(3, seed=depth)
            everything += ids
            assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
            time.sleep(0.3)  # let the node confirm what it sent before the chain changes under it
            assert reorg_dropping_node_results(world, depth, node) >= 1
            assert Status.PENDING in world.statuses(ids).values()  # the results are gone, the requests are not
            statuses = world.wait_final(everything)
            assert set(statuses.values()) == {Status.FULFILLED}, (depth, statuses)
        delivered = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted"))
        assert all(delivered[rid] == 1 for rid in everything), delivered
