"""The job journal: legal transitions only, atomic groups, reorg resets, and surviving kill -9 mid-write."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verinfer.errors import VerinferError
from verinfer.node import journal as journal_module
from verinfer.node.journal import (
    PENDING_STATES,
    Cursor,
    IllegalTransitionError,
    Job,
    JobState,
    Journal,
    JournalError,
    UnknownJobError,
)

CHAIN = 31337
HUB = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
OTHER_HUB = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
PARAMS = b"params" * 10
INPUT = bytes(range(32))
BLOCK = b"\xb1" * 32
OUTPUT = b"\x00" * 7 + b"\x2a"
OUTPUT_HASH = b"\x0a" * 32
TX = b"\x7a" * 32
SALT = b"\x5a" * 32

S = JobState


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", CHAIN, HUB) as opened:
        yield opened


def seen(journal: Journal, request_id: int, block: int = 10) -> Job:
    return journal.upsert_seen(request_id, PARAMS, INPUT, block, BLOCK)


def drive(journal: Journal, request_id: int, state: JobState) -> None:
    """Records a fresh job and moves it along the legal path to `state`."""
    seen(journal, request_id)
    if state is S.FAILED:
        journal.mark_failed(request_id, "gave up")
        return
    single = [S.SEEN, S.COMPUTED, S.SUBMITTED, S.CONFIRMED]
    consensus = [S.SEEN, S.COMPUTED, S.COMMITTED, S.REVEALED, S.FINALIZED]
    path = single if state in single else consensus
    for step in path[1 : path.index(state) + 1]:
        if step is S.COMMITTED:
            journal.store_salt(request_id, SALT)
        advance(journal, request_id, step)


def get(journal: Journal, request_id: int) -> Job:
    job = journal.job(request_id)
    assert job is not None
    return job


def advance(journal: Journal, request_id: int, to: JobState) -> Job:
    """One transition with valid arguments."""
    actions = {
        S.COMPUTED: lambda: journal.mark_computed(request_id, OUTPUT, OUTPUT_HASH),
        S.SUBMITTED: lambda: journal.mark_submitted(request_id, TX, 3),
        S.CONFIRMED: lambda: journal.mark_confirmed(request_id),
        S.COMMITTED: lambda: journal.mark_committed(request_id, TX, 4),
        S.REVEALED: lambda: journal.mark_revealed(request_id, b"\x7b" * 32, 5),
        S.FINALIZED: lambda: journal.mark_finalized(request_id),
        S.FAILED: lambda: journal.mark_failed(request_id, "reverted: RequestExpired"),
    }
    return actions[to]()


# ------------------------------------------------------------------------------------------------------ opening


def test_opens_in_wal_mode_with_full_sync(journal: Journal) -> None:
    assert journal.db.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.db.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert journal.db.connection.execute("PRAGMA user_version").fetchone()[0] == journal_module.SCHEMA_VERSION


def test_a_journal_file_deleted_or_replaced_under_it_is_named(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, 31337, HUB) as journal:
        assert journal.file_problem() is None
        path.unlink()
        problem = journal.file_problem()
        assert problem is not None
        assert f"the journal file {path} was deleted while the node runs" in problem
        assert "Stop the node (SIGTERM) and restore the file" in problem
        path.write_bytes(b"")  # another file under the same name
        assert "was replaced by another file" in (journal.file_problem() or "")


def test_refuses_a_journal_from_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(path, CHAIN, HUB)


def test_hub_must_be_an_address(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="hub must be a 20-byte address"):
        Journal(tmp_path / "journal.db", CHAIN, "0x1234")


def test_unopenable_path_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(tmp_path / "file" / "journal.db", CHAIN, HUB)


def test_journal_error_is_a_verinfer_error() -> None:
    assert issubclass(IllegalTransitionError, JournalError)
    assert issubclass(UnknownJobError, JournalError)
    assert issubclass(JournalError, VerinferError)


def test_jobs_persist_across_reopen_and_hubs_stay_apart(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, CHAIN, HUB) as first:
        drive(first, 1, S.SUBMITTED)
    with Journal(path, CHAIN, HUB.lower()) as again, Journal(path, CHAIN, OTHER_HUB) as other:
        job = get(again, 1)
        assert (job.state, job.submit_tx_hash, job.submit_nonce, job.output) == (S.SUBMITTED, TX, 3, OUTPUT)
        assert job.hub == HUB
        assert other.job(1) is None
        assert other.backlog()[S.SUBMITTED] == 0


# ------------------------------------------------------------------------------------------------- transitions


def test_single_path_records_each_stage(tmp_path: Path) -> None:
    ticks = iter(range(100, 200))
    with Journal(tmp_path / "journal.db", CHAIN, HUB, clock=lambda: float(next(ticks))) as journal:
        job = seen(journal, 7, block=12)
        assert (job.state, job.params, job.input) == (S.SEEN, PARAMS, INPUT)
        assert (job.block_number, job.block_hash) == (12, BLOCK)
        assert job.output is None
        job = journal.mark_computed(7, OUTPUT, OUTPUT_HASH)
        assert (job.state, job.output, job.output_hash) == (S.COMPUTED, OUTPUT, OUTPUT_HASH)
        job = journal.mark_submitted(7, TX, 3)
        assert (job.state, job.submit_tx_hash, job.submit_nonce) == (S.SUBMITTED, TX, 3)
        job = journal.mark_confirmed(7)
        assert job.state is S.CONFIRMED
        assert job.seen_at < job.state_at <= job.updated_at


def test_consensus_path_keeps_salt_and_every_transaction(journal: Journal) -> None:
    drive(journal, 2, S.COMPUTED)
    assert journal.store_salt(2, SALT).salt == SALT
    journal.mark_committed(2, TX, 4)
    journal.mark_revealed(2, b"\x7b" * 32, 5)
    job = journal.mark_finalized(2)
    assert job.state is S.FINALIZED
    assert (job.salt, job.commit_tx_hash, job.commit_nonce) == (SALT, TX, 4)
    assert (job.reveal_tx_hash, job.reveal_nonce) == (b"\x7b" * 32, 5)


def test_commit_without_a_stored_salt_is_refused(journal: Journal) -> None:
    drive(journal, 1, S.COMPUTED)
    with pytest.raises(JournalError, match="store_salt must come before the commit"):
        journal.mark_committed(1, TX, 4)
    assert get(journal, 1).state is S.COMPUTED


def test_salt_is_write_once(journal: Journal) -> None:
    drive(journal, 1, S.COMPUTED)
    journal.store_salt(1, SALT)
    assert journal.store_salt(1, SALT).salt == SALT  # the same salt again: no-op
    with pytest.raises(JournalError, match="write-once"):
        journal.store_salt(1, b"\x01" * 32)


def test_salt_needs_a_computed_output(journal: Journal) -> None:
    seen(journal, 1)
    with pytest.raises(JournalError, match="once the output is computed"):
        journal.store_salt(1, SALT)


LEGAL = {
    S.SEEN: {S.COMPUTED, S.FAILED},
    S.COMPUTED: {S.SUBMITTED, S.COMMITTED, S.FAILED},
    S.SUBMITTED: {S.CONFIRMED, S.FAILED},
    S.COMMITTED: {S.REVEALED, S.FAILED},
    S.REVEALED: {S.FINALIZED, S.FAILED},
    S.CONFIRMED: set(),
    S.FINALIZED: set(),
    S.FAILED: set(),
}
ILLEGAL = [(a, b) for a in S for b in S if b is not S.SEEN and b not in LEGAL[a]]


@pytest.mark.parametrize(("current", "attempted"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_is_refused_and_named(journal: Journal, current: JobState, attempted: JobState) -> None:
    drive(journal, 9, current)
    with pytest.raises(IllegalTransitionError) as raised:
        advance(journal, 9, attempted)
    error = raised.value
    assert (error.current, error.attempted) == (current, attempted)
    assert "request 9)" in str(error)
    assert f"hub {HUB}" in str(error)
    assert f"from {current.value} to {attempted.value}" in str(error)
    assert ("is final" in str(error)) == (not LEGAL[current])
    assert get(journal, 9).state is current


@pytest.mark.parametrize("state", PENDING_STATES)
def test_every_pending_state_can_fail_and_remembers_where(journal: Journal, state: JobState) -> None:
    drive(journal, 3, state)
    job = journal.mark_failed(3, "deadline passed")
    assert (job.state, job.fail_reason, job.failed_from) == (S.FAILED, "deadline passed", state)


def test_failure_needs_a_reason(journal: Journal) -> None:
    seen(journal, 1)
    with pytest.raises(JournalError, match="needs a reason"):
        journal.mark_failed(1, "  ")


def test_unknown_job_is_named(journal: Journal) -> None:
    with pytest.raises(UnknownJobError, match=r"request 404\) is not in the journal"):
        journal.mark_confirmed(404)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda j: j.upsert_seen(0, PARAMS, INPUT, 1, BLOCK), "request_id"),
        (lambda j: j.upsert_seen(1, PARAMS, INPUT, -1, BLOCK), "block_number"),
        (lambda j: j.upsert_seen(1, PARAMS, INPUT, 1, b"\x00" * 31), "block_hash must be 32 bytes"),
        (lambda j: j.mark_submitted(1, TX, 2**63), "nonce"),
        (lambda j: j.mark_submitted(1, TX, True), "nonce"),
        (lambda j: j.mark_computed(1, OUTPUT, b"short"), "output_hash must be 32 bytes"),
        (lambda j: j.jobs(S.SEEN, limit=0), "limit"),
    ],
)
def test_malformed_value_is_refused(journal: Journal, call: object, message: str) -> None:
    with pytest.raises(JournalError, match=message):
        call(journal)  # type: ignore[operator]


def test_schema_refuses_a_row_that_contradicts_its_state(journal: Journal) -> None:
    seen(journal, 1)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        journal.db.connection.execute("UPDATE jobs SET state = 'submitted' WHERE request_id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        journal.db.connection.execute("UPDATE jobs SET state = 'lost' WHERE request_id = 1")


def test_attempts_count_tries_of_the_next_step_and_reset_on_transition(journal: Journal) -> None:
    seen(journal, 1)
    assert journal.record_attempt(1, "model fetch timed out") == 1
    assert journal.record_attempt(1, "model fetch timed out again") == 2
    assert (get(journal, 1).attempts, get(journal, 1).last_error) == (2, "model fetch timed out again")
    assert journal.mark_computed(1, OUTPUT, OUTPUT_HASH).attempts == 0


# ------------------------------------------------------------------------------------------- seen, reorgs


def test_upsert_seen_never_regresses_a_job(journal: Journal) -> None:
    drive(journal, 5, S.SUBMITTED)
    before = get(journal, 5)
    assert seen(journal, 5) == before
    assert get(journal, 5) == before


def test_upsert_seen_follows_an_event_that_moved_blocks(journal: Journal) -> None:
    drive(journal, 5, S.COMPUTED)
    job = journal.upsert_seen(5, PARAMS, INPUT, 11, b"\xb2" * 32)
    assert (job.state, job.block_number, job.block_hash, job.output) == (S.COMPUTED, 11, b"\xb2" * 32, OUTPUT)


def test_upsert_seen_quarantines_a_job_in_flight_whose_id_now_names_another_request(journal: Journal) -> None:
    drive(journal, 5, S.COMPUTED)
    job = journal.upsert_seen(5, PARAMS, b"other input", 11, BLOCK)
    assert (job.state, job.input, job.output) == (S.SEEN, b"other input", None)
    assert journal.notes == [(5, "quarantined")]
    assert journal.quarantined() == 1


def test_a_failed_job_whose_request_reappears_in_another_block_starts_again(journal: Journal) -> None:
    drive(journal, 5, S.FAILED)
    assert seen(journal, 5).state is S.FAILED  # the same event again: nothing changes
    job = journal.upsert_seen(5, PARAMS, INPUT, 12, b"\xb3" * 32)
    assert (job.state, job.block_number, job.reorgs) == (S.SEEN, 12, 1)
    assert journal.notes == [(5, "reappeared")]


def test_quarantine_all_moves_every_job_aside(journal: Journal) -> None:
    drive(journal, 1, S.CONFIRMED)
    seen(journal, 2)
    assert journal.quarantine_all("another chain") == 2
    assert journal.job(1) is None
    assert journal.quarantined() == 2


def test_upsert_seen_replaces_content_of_a_seen_job(journal: Journal) -> None:
    seen(journal, 5)
    job = journal.upsert_seen(5, b"new params", b"new input", 11, b"\xb2" * 32)
    assert (job.params, job.input, job.block_number) == (b"new params", b"new input", 11)


def test_reset_to_seen_clears_derived_data_but_keeps_the_salt(journal: Journal) -> None:
    drive(journal, 1, S.REVEALED)
    drive(journal, 2, S.CONFIRMED)
    drive(journal, 3, S.FAILED)
    seen(journal, 4)
    drive(journal, 5, S.SUBMITTED)
    assert journal.reset_to_seen([1, 2, 3, 4, 404]) == 3
    for request_id in (1, 2, 3):
        job = get(journal, request_id)
        assert job.state is S.SEEN
        assert job.reorgs == 1
        assert (job.output, job.output_hash, job.submit_tx_hash, job.commit_tx_hash, job.reveal_tx_hash) == (None,) * 5
        assert (job.fail_reason, job.failed_from) == (None, None)
    assert get(journal, 1).salt == SALT
    assert get(journal, 4).reorgs == 0
    assert get(journal, 5).state is S.SUBMITTED
    # The job runs again, committing with the salt it kept.
    advance(journal, 1, S.COMPUTED)
    assert journal.store_salt(1, SALT).salt == SALT
    assert advance(journal, 1, S.COMMITTED).state is S.COMMITTED


def test_request_ids_from_block_finds_reorg_candidates(journal: Journal) -> None:
    for request_id, block in [(1, 10), (2, 11), (3, 12), (4, 11)]:
        seen(journal, request_id, block=block)
    assert journal.request_ids_from_block(11) == [2, 3, 4]
    assert journal.request_ids_from_block(13) == []


# ------------------------------------------------------------------------------------------------- queries


def test_jobs_by_state_are_ordered_limited_and_pageable(journal: Journal) -> None:
    for request_id in (9, 3, 7, 1, 5):
        seen(journal, request_id)
    drive(journal, 4, S.COMPUTED)
    assert [j.request_id for j in journal.jobs(S.SEEN)] == [1, 3, 5, 7, 9]
    assert [j.request_id for j in journal.jobs(S.SEEN, limit=2)] == [1, 3]
    assert [j.request_id for j in journal.jobs(S.SEEN, limit=2, after=3)] == [5, 7]
    assert [j.request_id for j in journal.jobs(S.COMPUTED)] == [4]


def test_backlog_counts_every_pending_state(journal: Journal) -> None:
    for request_id, state in enumerate(
        [S.SEEN, S.SEEN, S.COMPUTED, S.SUBMITTED, S.COMMITTED, S.REVEALED, S.CONFIRMED, S.FINALIZED, S.FAILED], start=1
    ):
        drive(journal, request_id, state)
    assert journal.backlog() == {S.SEEN: 2, S.COMPUTED: 1, S.SUBMITTED: 1, S.COMMITTED: 1, S.REVEALED: 1}


# ------------------------------------------------------------------------------------------------ transactions


def test_transaction_is_all_or_nothing(journal: Journal) -> None:
    def seen_then_crash() -> None:
        with journal.transaction():
            seen(journal, 1)
            journal.set_cursor(10, BLOCK)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        seen_then_crash()
    assert journal.job(1) is None
    assert journal.cursor() is None


def test_nested_failure_undoes_only_the_inner_block(journal: Journal) -> None:
    with journal.transaction():
        seen(journal, 1)
        with pytest.raises(IllegalTransitionError):
            journal.mark_confirmed(1)  # fails inside its own savepoint
        seen(journal, 2)
    assert [j.request_id for j in journal.jobs(S.SEEN)] == [1, 2]
    assert not journal.db.connection.in_transaction


def test_writes_in_a_transaction_are_invisible_to_other_connections_until_commit(journal: Journal) -> None:
    reader = sqlite3.connect(journal.path)
    try:
        with journal.transaction():
            seen(journal, 1)
            assert reader.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
        assert reader.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    finally:
        reader.close()


# ----------------------------------------------------------------------------------------------- cursor, blocks


def test_cursor_moves_both_ways_per_hub(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, CHAIN, HUB) as journal, Journal(path, CHAIN, OTHER_HUB) as other:
        assert journal.cursor() is None
        journal.set_cursor(20, BLOCK)
        journal.set_cursor(18, b"\xb2" * 32)  # rewound after a reorg
        assert journal.cursor() == Cursor(18, b"\xb2" * 32)
        assert other.cursor() is None


def test_blocks_are_recorded_replaced_and_pruned(journal: Journal) -> None:
    for number in range(10, 20):
        journal.record_block(number, number.to_bytes(32, "big"))
    journal.record_block(15, b"\xff" * 32)  # the reorg's new branch
    assert journal.block_hash(15) == b"\xff" * 32
    assert journal.block_hash(10) == (10).to_bytes(32, "big")
    assert journal.prune_blocks(below=14) == 4
    assert journal.block_hash(13) is None
    assert journal.block_hash(14) == (14).to_bytes(32, "big")
    assert journal.block_hash(99) is None


# ----------------------------------------------------------------------------------- random walks against a model

OPERATIONS = [*[s for s in S if s is not S.SEEN], "salt", "reset"]


@settings(max_examples=30, deadline=None)  # each write is an fsync (synchronous=FULL): keep the walk short
@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(OPERATIONS)), max_size=30))
def test_random_operations_follow_the_transition_table(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, object]]
) -> None:
    path = tmp_path_factory.mktemp("walk") / "journal.db"
    model: dict[int, JobState] = {}
    salts: set[int] = set()
    with Journal(path, CHAIN, HUB) as journal:
        for request_id in (1, 2, 3):
            seen(journal, request_id)
            model[request_id] = S.SEEN
        for request_id, operation in steps:
            state = model[request_id]
            if operation == "reset":
                journal.reset_to_seen([request_id])
                model[request_id] = S.SEEN
            elif operation == "salt":
                if state is S.COMPUTED or request_id in salts:
                    journal.store_salt(request_id, SALT)
                    salts.add(request_id)
                else:
                    with pytest.raises(JournalError):
                        journal.store_salt(request_id, SALT)
            else:
                assert isinstance(operation, JobState)
                legal = operation in LEGAL[state] and (operation is not S.COMMITTED or request_id in salts)
                if legal:
                    advance(journal, request_id, operation)
                    model[request_id] = operation
                else:
                    with pytest.raises(JournalError):
                        advance(journal, request_id, operation)
            assert {j: get(journal, j).state for j in model} == model


# ------------------------------------------------------------------------------------------------ crash safety

CHILD = r"""
import os, sys
from verinfer.node.journal import Journal
path, progress_path, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
journal = Journal(path, 31337, "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0")
progress = os.open(progress_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

def done(request_id, state):
    os.write(progress, f"{request_id} {state}\n".encode())  # only after the write committed

def h(request_id, tag):
    return bytes([tag]) * 24 + request_id.to_bytes(8, "big")

request_id = first
while True:
    with journal.transaction():  # the watcher's shape: events and cursor move together
        for k in range(3):
            journal.upsert_seen(request_id + k, b"p" * 300, b"i" * 64 + bytes(8), request_id + k, h(request_id + k, 1))
        journal.record_block(request_id + 2, h(request_id + 2, 1))
        journal.set_cursor(request_id + 2, h(request_id + 2, 1))
    for k in range(3):
        done(request_id + k, "seen")
    done(request_id + 2, "cursor")
    for rid in range(request_id, request_id + 3):
        journal.mark_computed(rid, b"o" * 1000 + rid.to_bytes(8, "big"), h(rid, 2))
        done(rid, "computed")
        if rid % 2:
            with journal.transaction():
                journal.store_salt(rid, h(rid, 3))
                journal.mark_committed(rid, h(rid, 4), rid)
            done(rid, "committed")
            journal.mark_revealed(rid, h(rid, 5), rid)
            done(rid, "revealed")
            journal.mark_finalized(rid)
            done(rid, "finalized")
        else:
            journal.mark_submitted(rid, h(rid, 6), rid)
            done(rid, "submitted")
            journal.mark_confirmed(rid)
            done(rid, "confirmed")
    request_id += 3
"""

ORDER = {
    0: [S.SEEN, S.COMPUTED, S.SUBMITTED, S.CONFIRMED],
    1: [S.SEEN, S.COMPUTED, S.COMMITTED, S.REVEALED, S.FINALIZED],
}


def tagged(request_id: int, tag: int) -> bytes:
    return bytes([tag]) * 24 + request_id.to_bytes(8, "big")


def check_consistent(path: Path, reported: dict[int, JobState], cursor: int) -> int:
    """integrity_check passes, every reported write is there, every row is what the child could have written."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with Journal(path, CHAIN, HUB) as journal:  # reopening also replays the WAL
        rows = [Job.from_row(row) for row in journal.db.connection.execute("SELECT * FROM jobs").fetchall()]
        for job in rows:
            rid = job.request_id
            path_states = ORDER[rid % 2]
            assert job.state in path_states, f"job {rid} in impossible state {job.state}"
            assert job.block_hash == tagged(rid, 1)
            assert job.input == b"i" * 64 + bytes(8)
            reached = path_states.index(job.state)
            if reached >= 1:
                assert (job.output, job.output_hash) == (b"o" * 1000 + rid.to_bytes(8, "big"), tagged(rid, 2))
            if job.state in (S.COMMITTED, S.REVEALED, S.FINALIZED):
                assert (job.salt, job.commit_tx_hash, job.commit_nonce) == (tagged(rid, 3), tagged(rid, 4), rid)
            if job.state in (S.REVEALED, S.FINALIZED):
                assert job.reveal_tx_hash == tagged(rid, 5)
            if job.state in (S.SUBMITTED, S.CONFIRMED):
                assert (job.submit_tx_hash, job.submit_nonce) == (tagged(rid, 6), rid)
        states = {job.request_id: job.state for job in rows}
        for rid, state in reported.items():
            assert rid in states, f"job {rid} was committed but is missing"
            path_states = ORDER[rid % 2]
            assert path_states.index(states[rid]) >= path_states.index(state), f"job {rid} lost its {state}"
        stored = journal.cursor()
        assert stored is not None
        assert stored.block_number >= cursor
        assert journal.block_hash(stored.block_number) == stored.block_hash
        return max(states, default=0)


def test_survives_kill_9_at_random_moments(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    path, progress = tmp_path / "journal.db", tmp_path / "progress"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(journal_module.__file__).parents[3]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    first = 1
    for round_ in range(5):
        start = progress.stat().st_size if progress.exists() else 0
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(progress), str(first)], env=env, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 120  # a cap: importing verinfer (its public face) is slow under load
            while not progress.exists() or progress.stat().st_size <= start:  # wait until this child writes
                assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
                assert time.monotonic() < deadline, "the child wrote nothing"
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stderr:
                child.stderr.close()
        reported: dict[int, JobState] = {}
        cursor = 0
        for line in progress.read_text().splitlines():
            rid_text, state = line.split()
            if state == "cursor":
                cursor = max(cursor, int(rid_text))
            else:
                rid = int(rid_text)
                order = ORDER[rid % 2]
                if rid not in reported or order.index(JobState(state)) > order.index(reported[rid]):
                    reported[rid] = JobState(state)
        assert reported, f"round {round_}: nothing committed (seed {seed})"
        first = check_consistent(path, reported, cursor) + 1
