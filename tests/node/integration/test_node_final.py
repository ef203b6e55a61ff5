"""Callbacks at finality: the LendingPool asks for its callback only once a SINGLE result's challenge window has
passed (`CALLBACK_ON_FINAL`). The node that delivered the results sends their callbacks in one batched `deliverFinal`
once they are final (anvil's clock is moved past the window, never slept through), and still does after a kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from tests.node.integration.nodeworld import NodeWorld, node_world, running
from tests.node.support import next_second
from verinfer.chain.events import EventCodec
from verinfer.node.service import NodeService
from verinfer.types import HubParams, Status

pytestmark = pytest.mark.integration

REVEAL_WINDOW = HubParams().reveal_window


def decisions(world: NodeWorld, pool: Contract) -> list[tuple[int, str]]:
    """(request id, transaction hash) of every LoanDecided the pool emitted."""
    logs = world.w3.eth.get_logs({"address": pool.address, "fromBlock": 0})
    decided = EventCodec.from_abi(pool.abi, "LoanDecided")
    return [(int(e.args["requestId"]), e.transaction_hash.hex()) for e in decided.decode_all(list(logs))]


def test_final_callbacks_go_out_in_one_batch_once_the_window_has_passed(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        pool = world.lending_pool()
        with running(NodeService(world.config(0))) as service:
            ids = world.apply(pool, 5)
            assert set(world.wait_status(ids, Status.FULFILLED).values()) == {Status.FULFILLED}
            assert service.journal is not None
            journal = service.journal
            deadline = time.monotonic() + 30
            while journal.finals.count() < len(ids):  # confirmed: each callback it owes is journalled
                assert time.monotonic() < deadline, "the confirmed deliveries left no final callbacks in the journal"
                time.sleep(0.1)
            time.sleep(2 * service.config.poll_interval_s + 1)  # ticks pass: nothing is due before the window ends
            assert decisions(world, pool) == []
            nonce_before = world.w3.eth.get_transaction_count(Web3.to_checksum_address(world.node_address(0)))
            world.travel(REVEAL_WINDOW + 1)
            statuses = world.wait_status(ids, Status.CONFIRMED)
            assert set(statuses.values()) == {Status.CONFIRMED}, statuses
            decided = decisions(world, pool)
            assert sorted(rid for rid, _ in decided) == sorted(ids)
            assert len({tx for _, tx in decided}) == 1  # one deliverFinal carried all five
            deadline = time.monotonic() + 30
            while journal.finals.count():
                assert time.monotonic() < deadline, "delivered callbacks stayed in the journal"
                time.sleep(0.1)
            assert (
                world.w3.eth.get_transaction_count(Web3.to_checksum_address(world.node_address(0))) == nonce_before + 1
            )
        assert service.metrics.finals_delivered._value.get() == len(ids)


def test_final_callbacks_survive_a_kill_9_while_their_window_runs(tmp_path: Path, forge_build: Path) -> None:
    log = tmp_path / "node0.log"
    with node_world(tmp_path) as world:
        pool = world.lending_pool()
        config = world.config_file(0, metrics={"enabled": False})

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "verinfer.node", "--config", str(config), "--json-logs"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        process = start()
        try:
            deadline = time.monotonic() + 120
            while '"node ready"' not in (log.read_text() if log.exists() else ""):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the node did not get ready"
                time.sleep(0.1)
            next_second(world.w3)
            ids = world.apply(pool, 3)
            assert set(world.wait_status(ids, Status.FULFILLED, timeout=120).values()) == {Status.FULFILLED}
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            world.travel(REVEAL_WINDOW + 1)  # final while the node is down
            assert decisions(world, pool) == []
            process = start()
            statuses = world.wait_status(ids, Status.CONFIRMED, timeout=120)
            assert set(statuses.values()) == {Status.CONFIRMED}, log.read_text()[-3000:]
            assert sorted(rid for rid, _ in decisions(world, pool)) == sorted(ids)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
