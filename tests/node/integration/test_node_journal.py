"""A bounded journal: finished jobs and their transactions are pruned once past the retention and deep enough,
and every statement a running node sends to SQLite while idle (and on a new block) is answered through an index,
never a scan of the jobs or txs tables, so idle CPU does not grow with history (the benchmark measures it:
bench/node.py --idle)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import node_world, running, tally
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration

IDLE_S = 2.0
# A scan, or a "search" bounded only by the journal's key (all of one hub's rows: a scan in disguise), unless it
# reads a partial index that holds only the records in flight.
_SCAN = re.compile(r"\bSCAN (jobs|txs|j|t)\b|\bSEARCH (jobs|txs|j|t) .*\(chain_id=\? AND hub=\?\)$")
_IN_FLIGHT_INDEXES = ("jobs_by_submit_tx", "jobs_by_commit_tx", "jobs_by_reveal_tx", "txs_unmined")


def _scans(step: str) -> bool:
    return bool(_SCAN.search(step)) and not any(f"INDEX {name} " in step for name in _IN_FLIGHT_INDEXES)


def _plans(path: Path, statements: list[str]) -> dict[str, list[str]]:
    db = sqlite3.connect(path)
    try:
        return {sql: [str(row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + sql)] for sql in statements}
    finally:
        db.close()


def test_journal_pruned_idle_cpu_flat(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0, journal_retention_s=0.0)

        def fast_pruning(service: NodeService) -> None:
            assert service.scheduler is not None
            assert service.scheduler.pruner is not None
            service.scheduler.pruner.every_s = 0.2

        with running(NodeService(config), fast_pruning) as service:
            ids = world.request(30)
            assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
            assert service.journal is not None
            journal = service.journal
            db = journal.db.connection
            time.sleep(0.5)
            assert journal.job(ids[0]) is not None  # finished, but not yet deep enough to prune
            world.rpc("anvil_mine", [hex(70)])  # deeper than any reorg the node expects (64 blocks)
            pruner = service.scheduler.pruner if service.scheduler else None
            assert pruner is not None
            # The pruner's thread deletes the rows, then counts them: wait for both (the count lags under load).
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (
                pruner.pruned_jobs < 30 or any(journal.job(rid) is not None for rid in ids)
            ):
                time.sleep(0.1)
            assert all(journal.job(rid) is None for rid in ids)
            assert db.execute("SELECT count(*) FROM txs").fetchone()[0] == 0
            assert pruner.pruned_jobs == 30
            assert pruner.pruned_txs >= 1

            seen: list[str] = []
            db.set_trace_callback(seen.append)
            time.sleep(IDLE_S / 2)
            world.rpc("evm_mine", [])  # the per-block queries too
            time.sleep(IDLE_S / 2)
            db.set_trace_callback(None)
        statements = sorted(
            {sql for sql in seen if sql.split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE", "WITH")}
        )
        assert len(statements) >= 5, seen
        for sql, plan in _plans(config.journal_path, statements).items():
            scans = [step for step in plan if _scans(step)]
            assert scans == [], f"{sql}\n  plan: {plan}"
        print(f"{len(statements)} distinct statements while idle, each answered through an index")
        result = tally(world, "journal pruned after finality (retention 0 s)", ids)
        assert (result.final_once, result.lost, result.twice) == (30, 0, 0)


def test_journal_deleted_under_a_running_node_fails_healthz(tmp_path: Path, forge_build: Path) -> None:
    """SQLite keeps writing to an unlinked file, so a deleted journal loses every record at exit: the node says so
    (an error log, /healthz fails naming the file and what to do) instead of running on as if nothing happened."""
    with node_world(tmp_path) as world:
        config = world.config(0)
        with running(NodeService(config)) as service:
            ids = world.request(2)
            assert set(world.wait_final(ids).values()) == {Status.FULFILLED}
            assert service.health.status()[0] is True
            config.journal_path.unlink()
            deadline = time.monotonic() + 20
            while service.health.status()[0] and time.monotonic() < deadline:
                time.sleep(0.1)
            healthy, why = service.health.status()
            assert not healthy
            assert f"journal file: the journal file {config.journal_path} was deleted while the node runs" in why
