"""The node on a second EVM implementation, Hardhat Network (EDR), automining and mining a block a second: it runs
one batch POST's calls concurrently and refuses nonce gaps, so a batch of consecutive nonces meets `Nonce too high`.
Nothing the node does may depend on anvil's ordering: consensus rounds of three honest nodes end with no vote
slashed."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.node.integration.hardhat import available, hardhat_node
from tests.node.integration.nodeworld import node_world, running, tally
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="hardhat is not installed: run scripts/setup.sh (npm ci)"),
]

REQUESTS = 20


def test_hardhat_consensus_automine_no_slash(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path, chain=hardhat_node(tmp_path / "hardhat.log")) as world, ExitStack() as stack:
        for i in range(3):  # k >= 3 seats
            stack.enter_context(running(NodeService(world.config(i, modes=["CONSENSUS"]))))
        hub = world.owner.hub.functions
        nodes = [world.node_address(i) for i in range(3)]
        stakes = [world.owner.sender.call(world.owner.nodes.functions.nodeInfo(n))[0] for n in nodes]
        ids = []
        for row in world.rows(REQUESTS, seed=5):
            ids.append(int(world.client.request(world.model_id, [row], mode=Mode.CONSENSUS, redundancy=3).request_id))
        statuses = world.wait_final(ids, timeout=120)
        assert set(statuses.values()) == {Status.FULFILLED}, statuses
        assert world.hub_events("VoteSlashed") == []
        after = [world.owner.sender.call(world.owner.nodes.functions.nodeInfo(n))[0] for n in nodes]
        assert after == stakes
        assert all(world.owner.sender.call(hub.balanceOf(n)) > 0 for n in nodes)
        result = tally(world, "Hardhat automine: 20 CONSENSUS (k=3), three honest nodes", ids)
        assert (result.final_once, result.lost, result.twice) == (REQUESTS, 0, 0)


def test_hardhat_request_many_automine(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path, chain=hardhat_node(tmp_path / "hardhat.log")) as world:
        with running(NodeService(world.config(0))):
            ids = world.request(30, seed=3)  # one batch POST of 30 consecutive nonces: Hardhat takes them out of order
            assert len(ids) == 30
            assert len(set(ids)) == 30
            statuses = world.wait_final(ids, timeout=60)
            assert set(statuses.values()) == {Status.FULFILLED}, statuses
        result = tally(world, "Hardhat automine: request_many of 30 (SINGLE)", ids)
        assert (result.final_once, result.lost, result.twice) == (30, 0, 0)


def test_hardhat_interval_mining_serves_single_and_consensus(tmp_path: Path, forge_build: Path) -> None:
    """Hardhat mining a block a second, automine off: transactions wait in its mempool and chain time moves only
    with the blocks. SINGLE batches and CONSENSUS rounds (commit, reveal, finalize across blocks) still end final
    once each, with no vote slashed."""
    with node_world(tmp_path, chain=hardhat_node(tmp_path / "hardhat.log")) as world, ExitStack() as stack:
        world.rpc("evm_setAutomine", [False])
        world.rpc("evm_setIntervalMining", [1_000])
        for i in range(3):
            stack.enter_context(running(NodeService(world.config(i, modes=["SINGLE", "CONSENSUS"]))))
        nodes = [world.node_address(i) for i in range(3)]
        stakes = [world.owner.sender.call(world.owner.nodes.functions.nodeInfo(n))[0] for n in nodes]
        ids = world.request(12, seed=7)
        for row in world.rows(4, seed=8):
            ids.append(int(world.client.request(world.model_id, [row], mode=Mode.CONSENSUS, redundancy=3).request_id))
        statuses = world.wait_final(ids, timeout=180)
        assert set(statuses.values()) == {Status.FULFILLED}, statuses
        assert world.hub_events("VoteSlashed") == []
        assert [world.owner.sender.call(world.owner.nodes.functions.nodeInfo(n))[0] for n in nodes] == stakes
        result = tally(world, "Hardhat interval mining (1 s): 12 SINGLE + 4 CONSENSUS (k=3), three nodes", ids)
        assert (result.final_once, result.lost, result.twice) == (16, 0, 0)
