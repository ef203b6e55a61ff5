"""Watchtowers and dispute committees on a real anvil. Three nodes serve the credit model: a liar (the only one
serving SINGLE, its model wrapped to change every output), a watchtower that re-executes other nodes' SINGLE
results, and an honest node on committee duty (the liar and the challenger never sit). A wrong result is challenged,
the committee re-executes it, and the dispute overturns it and slashes the liar; honest results pass their windows
without a single transaction beyond their submissions. Windows are passed with anvil's clock, never slept through."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from tests.node.integration.nodeworld import NodeWorld, lie, node_world, running
from tests.node.integration.test_sdk import true_output
from tests.node.support import next_second
from verinfer.chain import commitments, lottery
from verinfer.chain.events import DecodedLog, EventCodec
from verinfer.chain.system import System
from verinfer.node.service import NodeService
from verinfer.types import ESCALATION_SEATS, HubParams, Mode, Status

pytestmark = pytest.mark.integration

LIAR, WATCHTOWER, HONEST = 0, 1, 2
VOTER_ACCOUNTS = (7, 8)  # anvil accounts no node of the world uses
SALT = Web3.keccak(text="a hand-played vote's salt")
STAKE = 5 * 10**18
SLASH_BPS = HubParams().slash_bps
OPEN, OVERTURNED = 1, 3
WAIT_S = 120.0


def dispute_events(world: NodeWorld, name: str) -> list[DecodedLog]:
    disputes = world.owner.disputes
    assert disputes is not None
    logs = world.w3.eth.get_logs({"address": disputes.address, "fromBlock": 0})
    return EventCodec.from_abi(disputes.abi, name).decode_all(list(logs))


def dispute_of(world: NodeWorld, request_id: int) -> Any:
    assert world.owner.disputes is not None
    return world.owner.sender.call(world.owner.disputes.functions.disputeOf(request_id))


def stake_of(world: NodeWorld, node: int) -> int:
    standing = world.owner.sender.call(world.owner.nodes.functions.standing(world.node_address(node), world.model_id))
    return int(standing[2])


def disputes_balance(world: NodeWorld, node: int) -> int:
    assert world.owner.disputes is not None
    return int(world.owner.sender.call(world.owner.disputes.functions.balanceOf(world.node_address(node))))


def wait_until(what: str, done: Any, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def open_every_seat(world: NodeWorld, request_id: int) -> None:
    """Moves anvil's clock past every committee window of the request's dispute (8 ticket delays after it opened)."""
    draw = lottery.Lottery.unpack(int(dispute_of(world, request_id)[6]))
    now = int(world.w3.eth.get_block("latest")["timestamp"])
    if draw.opens_to_all_at >= now:
        world.travel(draw.opens_to_all_at - now + 1)


def config(world: NodeWorld, node: int, **extra: Any) -> Any:
    """Node `node`'s config: the liar serves SINGLE only, the others CONSENSUS only (so every SINGLE result is the
    liar's); the watchtower watches."""
    modes = ["SINGLE"] if node == LIAR else ["CONSENSUS"]
    watch = {"watchtower": node == WATCHTOWER}
    return {"modes": modes, "watch": watch, "registration": {"stake_wei": STAKE}, **extra}


def test_lying_node_is_challenged_and_slashed(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, ExitStack() as stack:
        liar = stack.enter_context(running(NodeService(world.config(LIAR, **config(world, LIAR))), lie))
        watchtower = stack.enter_context(running(NodeService(world.config(WATCHTOWER, **config(world, WATCHTOWER)))))
        honest = stack.enter_context(running(NodeService(world.config(HONEST, **config(world, HONEST)))))
        next_second(world.w3)
        liar_stake = stake_of(world, LIAR)
        balance_before = disputes_balance(world, WATCHTOWER)
        (rid,) = world.request(1)
        wait_until("the liar's result", lambda: world.owner.status_of(rid) != Status.PENDING)
        wait_until("the watchtower's challenge", lambda: world.owner.status_of(rid) == Status.DISPUTED)
        (opened,) = dispute_events(world, "DisputeOpened")
        assert opened.args["challenger"] == world.node_address(WATCHTOWER)
        assert opened.args["node"] == world.node_address(LIAR)
        open_every_seat(world, rid)
        wait_until("the dispute to resolve", lambda: dispute_of(world, rid)[0] != OPEN)

        view = dispute_of(world, rid)
        assert view[0] == OVERTURNED
        members = {str(m) for m in view[12]}
        assert members == {world.node_address(HONEST)}  # neither the liar nor the challenger sat
        committed = dispute_events(world, "DisputeCommitted")
        assert sum(bin(e.args["seats"]).count("1") for e in committed) == 3
        assert world.owner.status_of(rid) == Status.OVERTURNED
        slashed = liar_stake * SLASH_BPS // 10_000
        assert stake_of(world, LIAR) == liar_stake - slashed
        (resolved,) = dispute_events(world, "DisputeResolved")
        assert resolved.args["slashed"] == slashed
        # The challenger got its bond back and half of what the slash left after the requester's refund.
        assert disputes_balance(world, WATCHTOWER) > balance_before + int(opened.args["bond"])
        # The record now holds the committee's output, named after its first agreeing member.
        winner = bytes(resolved.args["outputHash"])
        assert winner != bytes(opened.args["outputHash"])
        (revealed,) = dispute_events(world, "DisputeRevealed")
        assert bytes(Web3.keccak(revealed.args["output"])) == winner
        assert world.owner.disputes is not None
        vote = world.owner.sender.call(world.owner.disputes.functions.voteOf(rid, world.node_address(HONEST)))
        (request,) = [e for e in world.owner.requested(0) if e.request_id == rid]
        assert world.owner.sender.call(
            world.owner.hub.functions.verifyResult(
                rid, world.model_id, Web3.keccak(request.input), winner, vote[2], world.node_address(HONEST)
            )
        )
        metrics = watchtower.metrics
        wait_until("the watchtower to see the outcome", lambda: metrics.challenges_won._value.get() == 1)
        assert metrics.results_checked.labels("mismatch")._value.get() == 1
        assert metrics.challenges_opened._value.get() == 1
        assert metrics.challenges_lost._value.get() == 0
        assert honest.metrics.dispute_votes.labels("commit")._value.get() >= 1
        assert honest.metrics.dispute_votes.labels("reveal")._value.get() == 1
        assert liar.metrics.dispute_votes.labels("commit")._value.get() == 0


def test_watchtower_killed_during_dispute_completes_after_restart(tmp_path: Path, forge_build: Path) -> None:
    log = tmp_path / "watchtower.log"
    with node_world(tmp_path) as world, ExitStack() as stack:
        stack.enter_context(running(NodeService(world.config(LIAR, **config(world, LIAR))), lie))
        stack.enter_context(running(NodeService(world.config(HONEST, **config(world, HONEST)))))
        path = world.config_file(WATCHTOWER, **config(world, WATCHTOWER, metrics={"enabled": False}))

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "verinfer.node", "--config", str(path), "--json-logs"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        process = start()
        try:
            wait_until("the watchtower to start", lambda: '"node ready"' in (log.read_text() if log.exists() else ""))
            next_second(world.w3)
            (rid,) = world.request(1)
            wait_until("the watchtower's challenge", lambda: world.owner.status_of(rid) == Status.DISPUTED)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            assert dispute_of(world, rid)[0] == OPEN
            process = start()
            open_every_seat(world, rid)
            wait_until("the dispute to resolve", lambda: dispute_of(world, rid)[0] != OPEN)
            assert dispute_of(world, rid)[0] == OVERTURNED
            assert world.owner.status_of(rid) == Status.OVERTURNED
            journal = path.parent / f"node{WATCHTOWER}" / "journal.sqlite"

            def outcome() -> str | None:
                with sqlite3.connect(journal) as db:
                    row = db.execute("SELECT role, outcome FROM disputes WHERE request_id = ?", (rid,)).fetchone()
                assert row is None or row[0] == "challenger"
                return None if row is None else row[1]

            wait_until("the restarted watchtower to record the outcome", lambda: outcome() == "OVERTURNED")
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        assert process.returncode == 0, log.read_text()[-3000:]
        assert len(dispute_events(world, "DisputeOpened")) == 1  # the restart did not challenge twice


def test_committee_serves_the_escalation_of_a_split_dispute(tmp_path: Path, forge_build: Path) -> None:
    """The first committee is two hand-played voters, one seat each, that disagree (the third seat stays empty):
    the watchtower's resolve escalates the dispute, and the honest node, started only then, sits on the fresh
    seven-seat committee, which overturns the lie and judges the first committee's votes."""
    with node_world(tmp_path) as world, ExitStack() as stack:
        stack.enter_context(running(NodeService(world.config(LIAR, **config(world, LIAR))), lie))
        stack.enter_context(running(NodeService(world.config(WATCHTOWER, **config(world, WATCHTOWER)))))
        deployment = world.owner.deployment
        truthful, dissenter = (System.bind(world.sender(account), deployment) for account in VOTER_ACCOUNTS)
        for voter in (truthful, dissenter):
            voter.register_node(Web3.keccak(text="a hand-played voter's environment"), [world.model_id], STAKE)
        # The honest node registers now, so that it holds tickets, but takes no dispute duty until the escalation.
        off_duty = {"watchtower": False, "committee": False}
        with running(NodeService(world.config(HONEST, **config(world, HONEST, watch=off_duty)))):
            pass
        next_second(world.w3)
        (rid,) = world.request(1)
        wait_until("the watchtower's challenge", lambda: world.owner.status_of(rid) == Status.DISPUTED)
        (submitted,) = [e for e in world.hub_events("ResultSubmitted") if e.args["requestId"] == rid]
        told = bytes(submitted.args["output"])
        truth = true_output(world.model, world.rows(1)[0])
        assert truth != told
        disputes = world.owner.disputes
        assert disputes is not None
        open_every_seat(world, rid)
        for voter, output, seat in ((truthful, truth, 1), (dissenter, told, 2)):
            vote = commitments.vote(Web3.keccak(output), SALT, voter.sender.address)
            voter.sender.send(disputes.functions.commit(rid, vote, seat))
        world.travel(int(dispute_of(world, rid)[9]) - int(world.w3.eth.get_block("latest")["timestamp"]) + 1)
        for voter, output in ((truthful, truth), (dissenter, told)):
            voter.sender.send(disputes.functions.reveal(rid, output, SALT))
        world.travel(HubParams().reveal_window + 1)
        wait_until("the watchtower to escalate", lambda: dispute_of(world, rid)[13] == 1)
        (escalated,) = dispute_events(world, "DisputeEscalated")
        assert escalated.args["seats"] == ESCALATION_SEATS
        dissent_stake = stake_of_address(world, dissenter.sender.address)

        honest = stack.enter_context(running(NodeService(world.config(HONEST, **config(world, HONEST)))))
        open_every_seat(world, rid)
        wait_until("the escalation to resolve", lambda: dispute_of(world, rid)[0] != OPEN)
        view = dispute_of(world, rid)
        assert view[0] == OVERTURNED
        assert world.owner.status_of(rid) == Status.OVERTURNED
        members = [str(m) for m in view[12]]
        assert members == [truthful.sender.address, dissenter.sender.address, world.node_address(HONEST)]
        honest_vote = world.owner.sender.call(disputes.functions.voteOf(rid, world.node_address(HONEST)))
        assert (honest_vote[3], honest_vote[5]) == ((1 << ESCALATION_SEATS) - 1, 1)  # every seat, of the escalation
        (resolved,) = dispute_events(world, "DisputeResolved")
        assert bytes(resolved.args["outputHash"]) == Web3.keccak(truth)
        assert stake_of_address(world, dissenter.sender.address) == dissent_stake - dissent_stake * SLASH_BPS // 10_000
        paid = {address: int(world.owner.sender.call(disputes.functions.balanceOf(address))) for address in members}
        assert paid[truthful.sender.address] * ESCALATION_SEATS == paid[world.node_address(HONEST)] > 0
        assert paid[dissenter.sender.address] == 0
        assert honest.metrics.dispute_votes.labels("reveal")._value.get() == 1


def stake_of_address(world: NodeWorld, address: str) -> int:
    return int(world.owner.sender.call(world.owner.nodes.functions.standing(address, world.model_id))[2])


def test_honest_results_pass_windows_without_challenge(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, ExitStack() as stack:
        server = stack.enter_context(running(NodeService(world.config(LIAR, **config(world, LIAR)))))  # honest here
        watchtower = stack.enter_context(running(NodeService(world.config(WATCHTOWER, **config(world, WATCHTOWER)))))
        next_second(world.w3)
        server_address = Web3.to_checksum_address(world.node_address(LIAR))
        tower_address = Web3.to_checksum_address(world.node_address(WATCHTOWER))
        server_nonce = world.w3.eth.get_transaction_count(server_address)
        tower_nonce = world.w3.eth.get_transaction_count(tower_address)
        ids = world.request(200, mode=Mode.SINGLE)
        assert set(world.wait_final(ids, timeout=WAIT_S).values()) == {Status.FULFILLED}
        checked = watchtower.metrics.results_checked.labels("agreed")
        wait_until("the watchtower to check every result", lambda: checked._value.get() == len(ids))
        world.travel(HubParams().reveal_window + 1)  # every window passes
        time.sleep(3 * watchtower.config.poll_interval_s + 2)  # ticks run after the windows ended
        params = {int(e.request_id): e for e in world.owner.requested(0)}
        hub = world.owner.hub.functions
        for rid in ids[:5]:
            final = params[rid].params(world.owner.terms_of(world.model_id))
            assert world.owner.sender.call(hub.finalityOf(rid, final.as_abi()))[0] is True
        assert dispute_events(world, "DisputeOpened") == []
        assert set(world.statuses(ids).values()) == {Status.FULFILLED}
        submissions = {e.transaction_hash for e in world.hub_events("ResultSubmitted")}
        assert world.w3.eth.get_transaction_count(server_address) == server_nonce + len(submissions)
        assert world.w3.eth.get_transaction_count(tower_address) == tower_nonce
        assert watchtower.metrics.results_checked.labels("mismatch")._value.get() == 0
        assert server.metrics.dispute_votes.labels("commit")._value.get() == 0
