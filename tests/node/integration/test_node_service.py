"""The node service against a real anvil: it registers itself, serves SINGLE and CONSENSUS requests end to end,
and every result verifies by re-execution."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.node.integration.nodeworld import PRICE, lie, node_world, running
from tests.node.support import gemm_softmax
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.sdk.bulk import request_many
from verinfer.types import Mode, Status

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
        assert 'verinfer_requests_fulfilled_total{mode="SINGLE"}' in metrics
        assert httpx.get(f"http://127.0.0.1:{service.metrics_port}/healthz").status_code == 200


def test_consensus_liar_is_outvoted_and_slashed_and_honest_nodes_paid(tmp_path: Path, forge_build: Path) -> None:
    """Three nodes of equal stake, one lying. Seats go by lottery (a node may hold several), so each round is decided
    by who holds the majority of its k = 3 seats: where the liar holds one seat it is outvoted and slashed and the
    honest seats are paid; where it holds two or three, its output wins and the honest minority is slashed (the
    stake-weighted majority decides; 7/27 of rounds on average). Either way every round settles."""
    with node_world(tmp_path) as world, ExitStack() as stack:
        # Five times the minimum stake: a 10 % slash leaves every node eligible for the next rounds.
        stake = {"registration": {"stake_wei": 5 * 10**18}}
        services = [
            stack.enter_context(running(NodeService(world.config(i, **stake)), lie if i == 2 else None))
            for i in range(3)
        ]
        liar = world.node_address(2)
        ids = world.request(6, mode=Mode.CONSENSUS, redundancy=3)
        assert set(world.wait_final(ids, timeout=120).values()) == {Status.FULFILLED}
        seats: dict[int, Counter[str]] = {rid: Counter() for rid in ids}
        for e in world.hub_events("ResultCommitted"):
            seats[e.args["requestId"]][e.args["node"]] += bin(e.args["seats"]).count("1")
        slashed: dict[int, set[str]] = {rid: set() for rid in ids}
        for e in world.hub_events("VoteSlashed"):
            slashed[e.args["requestId"]].add(e.args["node"])
        reached = {e.args["requestId"]: e for e in world.hub_events("ConsensusReached")}
        for rid in ids:
            assert sum(seats[rid].values()) == 3, seats[rid]
            liar_seats = seats[rid][liar]
            honest = {n for n in seats[rid] if n != liar}
            if liar_seats == 0:
                assert slashed[rid] == set()
            elif liar_seats == 1:
                assert slashed[rid] == {liar}
                assert world.client.verify(rid).matches
            else:
                assert slashed[rid] == honest
            assert reached[rid].args["agreeing"] == (len(honest) if liar_seats < 2 else 1)
        # Every slash is burned: none is paid to the round's voters.
        any_slash = any(slashed[r] for r in ids)
        assert (world.owner.sender.call(world.owner.hub.functions.burned()) > 0) == any_slash
        for i, service in enumerate(services):
            assert service.journal is not None
            backlog = service.journal.backlog()
            assert sum(backlog.values()) == 0, (i, backlog)


def test_bad_work_fails_with_its_reason_and_the_node_serves_the_rest(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        # Two more models the node would refuse: one whose file is gone, one whose URI serves different bytes.
        gone = tmp_path / "gone.onnx"
        gone.write_bytes(gemm_softmax(seed=11).SerializeToString())
        gone_id = world.client.register_model(gone, gone.as_uri(), PRICE, [Mode.SINGLE])
        gone.unlink()
        swapped = tmp_path / "swapped.onnx"
        swapped.write_bytes(gemm_softmax(seed=12).SerializeToString())
        swapped_id = world.client.register_model(swapped, swapped.as_uri(), PRICE, [Mode.SINGLE])
        swapped.write_bytes(gemm_softmax(seed=13).SerializeToString())
        with running(NodeService(world.config(0))) as service:
            bad = [world.client.request(model, [[0.1, 0.2, 0.3, 0.4]]).request_id for model in (gone_id, swapped_id)]
            good = world.request(5)
            assert set(world.wait_final(good).values()) == {Status.FULFILLED}
            assert service.journal is not None
            journal = service.journal
            deadline = time.monotonic() + 20
            while (
                any(
                    journal.job(rid) is None or journal.job(rid).state is not JobState.FAILED  # type: ignore[union-attr]
                    for rid in bad
                )
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            reasons = [journal.job(rid).fail_reason for rid in bad]  # type: ignore[union-attr]
            assert reasons[0] is not None
            assert "model:" in reasons[0]
            assert "gone.onnx" in reasons[0]
            assert reasons[1] is not None
            assert "its keccak256 is 0x" in reasons[1]
            assert set(world.statuses(bad).values()) == {Status.PENDING}  # nothing false was posted
            assert world.hub_events("ResultSubmitted", 0)
            assert all(e.args["requestId"] not in bad for e in world.hub_events("ResultSubmitted"))


def test_requests_below_the_fee_policy_are_skipped_with_the_reason(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0, policy={"min_fee_wei": PRICE + 1})
        with running(NodeService(config)) as service:
            (rid,) = world.request(1)
            assert service.journal is not None
            journal = service.journal
            deadline = time.monotonic() + 20
            while (
                journal.job(rid) is None or journal.job(rid).state is not JobState.FAILED  # type: ignore[union-attr]
            ) and time.monotonic() < deadline:
                time.sleep(0.1)
            job = journal.job(rid)
            assert job is not None
            assert job.fail_reason is not None
            assert job.fail_reason.startswith(f"skipped: fee share {PRICE} wei < {PRICE + 1} wei")
            assert world.statuses([rid]) == {rid: Status.PENDING}
            metrics = httpx.get(f"http://127.0.0.1:{service.metrics_port}/metrics").text
            assert 'verinfer_requests_failed_total{reason="fee"} 1.0' in metrics
            assert "verinfer_balance_wei" in metrics


def test_a_stuck_transaction_is_replaced_with_higher_fees(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0, tx={"stuck_after_s": 1.0})
        with running(NodeService(config)) as service:
            assert service.journal is not None
            (warm,) = world.request(1)
            assert world.wait_final([warm]) == {warm: Status.FULFILLED}
            world.rpc("evm_setAutomine", [False])
            sent = request_many(world.client, world.model_id, world.rows(2, seed=3))
            world.rpc("evm_mine", [])  # the requests, not yet the node's answer
            ids = sent.request_ids(world.client)
            deadline = time.monotonic() + 30
            while service.metrics.txs_replaced._value.get() < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert service.metrics.txs_replaced._value.get() >= 1  # bumped while nothing was mined
            world.rpc("evm_setAutomine", [True])
            world.rpc("evm_mine", [])
            assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
            delivered = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted"))
            assert all(delivered[rid] == 1 for rid in ids)
