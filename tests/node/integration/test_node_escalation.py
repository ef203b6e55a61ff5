"""A CONSENSUS round without a majority escalates to a fresh committee, served by real nodes: three seat holders
reveal three different garbage outputs, the round escalates, the two honest nodes (which held no seat) wake on the
`ConsensusEscalated` event, take the escalation's seven seats by the lottery, and their majority decides; the
garbage reveals are slashed. Before, that round ended NO_CONSENSUS with the revealed liars unharmed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from eth_account import Account

from tests.node.integration.nodeworld import NODE_ACCOUNTS, node_world
from tests.node.support import open_all_windows
from verinfer.chain import commitments
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = pytest.mark.integration

LIAR_STAKE = 10**18


def test_consensus_escalation_outvotes_garbage_reveals(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        deployment = world.owner.deployment
        decoder = RevertDecoder.for_system()
        liars = [
            System.bind(
                TxSender(world.w3, Account.from_key(world.anvil.accounts[NODE_ACCOUNTS[i]].private_key), decoder),
                deployment,
            )
            for i in (2, 3, 4)
        ]
        for liar in liars:
            liar.register_node(b"\x11" * 32, [world.model_id], LIAR_STAKE)
        honest = [NodeService(world.config(i)) for i in (0, 1)]
        for service in honest:
            service.setup()  # registered and serving before the request: they hold tickets for it
        time.sleep(1.1)

        handle = world.client.request(world.model_id, world.model.samples[0], mode=Mode.CONSENSUS, redundancy=3)
        (event,) = world.owner.requested(handle.block_number, handle.block_number)
        params = event.params(world.owner.terms_of(event.model_id)).as_abi()
        output_bytes = event.params(world.owner.terms_of(event.model_id)).output_bytes
        open_all_windows(world.w3, event.lottery)
        garbage = [bytes([0x10 + i]) * output_bytes for i in range(3)]
        salts = [bytes([0x20 + i]) * 32 for i in range(3)]
        for seat, (liar, out, salt) in enumerate(zip(liars, garbage, salts, strict=True)):
            vote = commitments.vote(bytes(world.w3.keccak(out)), salt, liar.sender.address)
            liar.sender.send(liar.hub.functions.commitResult(handle.request_id, params, vote, 1 << seat))
        for liar, out, salt in zip(liars, garbage, salts, strict=True):
            liar.sender.send(liar.hub.functions.revealResult(handle.request_id, params, out, salt))
        stakes = [liar.nodes.functions.nodeInfo(liar.sender.address).call()[0] for liar in liars]
        liars[0].sender.send(liars[0].hub.functions.finalizeConsensus(handle.request_id, params, b""))
        assert world.owner.status_of(handle.request_id) == Status.PENDING, "escalated, not refunded"
        assert len(world.hub_events("ConsensusEscalated")) == 1

        threads = [threading.Thread(target=s.run, name=f"node{i}", daemon=True) for i, s in enumerate(honest)]
        for thread in threads:
            thread.start()
        try:
            result = handle.result(timeout=120.0)
        finally:
            for service in honest:
                service.stop()
            for thread in threads:
                thread.join(timeout=30)
            for service in honest:
                service.close()

        assert result.mode == Mode.CONSENSUS
        assert result.nodes
        assert set(result.nodes) <= {world.node_address(i) for i in (0, 1)}, "the fresh committee"
        report = world.client.verify(handle.request_id)
        assert report.matches, report.checks  # the escalation's majority is the honest output
        after = [liar.nodes.functions.nodeInfo(liar.sender.address).call()[0] for liar in liars]
        slash = world.owner.hub.functions.params().call()[4]
        assert after == [s - s * slash // 10_000 for s in stakes], "every garbage reveal slashed"
        assert world.hub_events("ResultSkipped") == []
