"""Self-healing jobs, counted from the chain's logs: a funding gap, a fresh journal on a served hub, deadlines of a
few seconds behind a slow RPC, and requests a reorg drops and the chain mines again seconds later. Nothing is lost
that could be served, nothing is delivered twice, nothing is sent after its deadline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.node.integration.faultproxy import FaultProxy
from tests.node.integration.nodeworld import NodeWorld, node_world, running, tally
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.sdk.bulk import request_many
from verinfer.types import SkipReason, Status

pytestmark = pytest.mark.integration

ETH = 10**18
DRY_S = 6.0


def set_balance(world: NodeWorld, address: str, wei: int) -> None:
    answer = world.rpc("anvil_setBalance", [address, hex(wei)])
    assert "error" not in answer, answer


def node_nonce(world: NodeWorld, node: int = 0) -> int:
    return int(world.w3.eth.get_transaction_count(world.w3.to_checksum_address(world.node_address(node))))


def test_wallet_dry_then_refunded_loses_nothing(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, running(NodeService(world.config(0, tx={"stuck_after_s": 2.0}))) as service:
        address = world.node_address(0)
        ids = world.request(10, seed=1)
        assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
        set_balance(world, address, 10**9)  # far below one delivery's gas
        dry_until = time.monotonic() + DRY_S
        wave = 0
        while time.monotonic() < dry_until:
            wave += 1
            ids += world.request(10, seed=100 + wave)
            time.sleep(1.0)
        assert Status.PENDING in world.statuses(ids).values()  # nothing could be paid for meanwhile
        set_balance(world, address, 100 * ETH)
        ids += world.request(10, seed=999)
        statuses = world.wait_final(ids, timeout=60)
        assert set(statuses.values()) == {Status.FULFILLED}, statuses
        assert service.journal is not None
        journal = service.journal
        deadline = time.monotonic() + 20
        while sum(journal.backlog().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        served_by_node = [e for e in world.hub_events("ResultSubmitted") if e.args["node"] == address]
        confirmed = journal.jobs(JobState.CONFIRMED, limit=10_000)
        assert len(confirmed) == len(served_by_node) == len(ids)  # the journal agrees with the chain
        assert journal.jobs(JobState.FAILED, limit=10_000) == []
        result = tally(world, f"wallet dry {DRY_S:g}s, then refunded", ids)
        assert (result.final_once, result.lost, result.twice) == (len(ids), 0, 0)


def test_fresh_journal_redelivers_nothing(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0)
        with running(NodeService(config)):
            old = world.request(40, seed=1)
            assert set(world.wait_final(old).values()) == {Status.FULFILLED}
        config.journal_path.unlink()  # lost: a new disk, an operator's mistake, a new node on the same key
        for suffix in ("-wal", "-shm"):
            Path(str(config.journal_path) + suffix).unlink(missing_ok=True)
        head = world.w3.eth.block_number
        before = node_nonce(world)
        with running(NodeService(config)) as again:
            assert again.journal is not None
            journal = again.journal
            deadline = time.monotonic() + 30
            while len(journal.jobs(JobState.FAILED, limit=1_000)) < len(old) and time.monotonic() < deadline:
                time.sleep(0.1)
            failed = journal.jobs(JobState.FAILED, limit=1_000)
            assert {job.request_id for job in failed} == set(old)
            assert all(job.fail_reason == "skipped: already FULFILLED on chain" for job in failed)
            assert node_nonce(world) == before  # not one transaction for the old requests
            new = world.request(5, seed=2)
            assert set(world.wait_final(new).values()) == {Status.FULFILLED}
        assert list(world.hub_events("ResultSkipped", head + 1)) == []
        resent = [e for e in world.hub_events("ResultSubmitted", head + 1) if e.args["requestId"] in old]
        assert resent == []
        result = tally(world, "fresh journal on a served hub (40 old + 5 new)", old + new)
        assert (result.final_once, result.lost, result.twice) == (45, 0, 0)


def test_nothing_sent_after_deadline(tmp_path: Path, forge_build: Path) -> None:
    # Interval mining (1 s), so block timestamps follow the clock as on a live chain (automine gives every block
    # its own second, and a burst of requests would run the chain's time ahead of any margin).
    with node_world(tmp_path, anvil_args=("--block-time", "1")) as world:
        proxy = FaultProxy(world.anvil.rpc_url, rate=0.1, slow_s=0.5, kinds=("slow",))
        proxy.enable()
        try:
            config = world.config(0, rpc_url=proxy.url, tx={"rpc_timeout_s": 5.0, "deadline_margin_s": 3})
            with running(NodeService(config, backoff_start_s=0.05, backoff_cap_s=0.5)):
                ids: list[int] = []
                for wave in range(8):  # deadlines of 3-5 s: some can be served in time, some cannot
                    sent = request_many(
                        world.client, world.model_id, world.rows(10, seed=wave), deadline_s=3 + wave % 3
                    )
                    ids += world.ids_of(sent)
                    time.sleep(0.7)
                control = request_many(world.client, world.model_id, world.rows(10, seed=99), deadline_s=120)
                roomy = world.ids_of(control)  # the node is serving all along: these all make it
                assert set(world.wait_final(roomy, timeout=60).values()) == {Status.FULFILLED}
                time.sleep(5.0)  # every short deadline has passed
        finally:
            proxy.close()
        node = world.node_address(0)
        late = [
            e
            for e in world.hub_events("ResultSkipped")
            if e.args["node"] == node and SkipReason(e.args["reason"]) is SkipReason.EXPIRED
        ]
        assert late == []  # no delivery of ours reached the chain after its deadline
        short = tally(world, "deadlines 3-5 s, 1 s blocks, slow RPC (lost = expired unserved)", ids)
        assert short.twice == 0
        assert short.final_once + short.lost == len(ids)
        control_tally = tally(world, "same run, deadline 120 s (control)", roomy)
        assert (control_tally.final_once, control_tally.lost, control_tally.twice) == (10, 0, 0)


def test_reorg_remined_late_is_served(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world, running(NodeService(world.config(0))) as service:
        start = world.w3.eth.block_number
        ids = world.request(5, seed=3)
        assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
        time.sleep(0.5)  # confirmed in the journal
        head = world.w3.eth.block_number
        requests: list[Any] = []
        for number in range(start + 1, head + 1):
            block: Any = world.w3.eth.get_block(number, full_transactions=True)
            for tx in block["transactions"]:
                if tx["from"] != world.w3.to_checksum_address(world.node_address(0)):
                    requests.append(world.rpc("eth_getRawTransactionByHash", [tx["hash"].to_0x_hex()])["result"])
        assert len(requests) == len(ids)
        answer = world.rpc("anvil_reorg", [head - start, []])  # requests and results gone
        assert "error" not in answer, answer
        assert set(world.statuses(ids).values()) == {Status.NONE}
        time.sleep(5.0)  # the node restarts the jobs and finds the requests unknown
        assert service.journal is not None
        for raw in requests:  # the same requests, mined again: same ids, same params
            world.rpc("eth_sendRawTransaction", [raw])
        statuses = world.wait_final(ids, timeout=30)
        assert set(statuses.values()) == {Status.FULFILLED}, statuses
        result = tally(world, "reorg drops requests, re-mined 5 s later", ids, from_block=start + 1)
        assert (result.final_once, result.lost, result.twice) == (len(ids), 0, 0)
