"""The `jobs` table: one row per request the node serves, moved through its states by checked transitions.

    seen ──> computed ──> submitted ──> confirmed                  SINGLE
                     └──> committed ──> revealed ──> finalized     CONSENSUS
    every state that is not final ──> failed
    any state ──> seen                                             only through `reset_to_seen` (a reorg)
    submitted ──> computed                                         only through `requeue` (its delivery reverted)

Each transition checks the current state inside one `BEGIN IMMEDIATE` transaction, and CHECK constraints in the
schema make a row that contradicts its state (`submitted` without a tx hash, `committed` without a salt) impossible
to write, whatever the code above does. A job's `params` are opaque bytes here: the node decides what they hold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from eth_typing import ChecksumAddress

from verinfer.node.journal.db import Database, bytes32, counter
from verinfer.node.journal.states import (
    NEXT,
    PENDING_STATES,
    TX_COLUMNS,
    IllegalTransitionError,
    JobState,
    JournalError,
    UnknownJobError,
    sql_in,
)

# Columns a reorg clears: whatever was derived from the event that may no longer exist. The salt stays: it is
# write-once, because a commit made with it may be re-mined on the new branch and must still be revealable.
_RESET_COLUMNS = (
    "output",
    "output_hash",
    "proof",
    "submit_tx_hash",
    "submit_nonce",
    "commit_tx_hash",
    "commit_nonce",
    "reveal_tx_hash",
    "reveal_nonce",
    "fail_reason",
    "failed_from",
    "last_error",
)


def _distinct_txs(state: JobState, column: str) -> str:
    """The distinct `column` values of the jobs in `state`, one index seek each (a skip scan of its partial index):
    a plain DISTINCT reads every job in flight, thousands under load, on every tick."""
    index = f"jobs INDEXED BY jobs_by_{column.removesuffix('_hash')}"
    where = f"chain_id = ?1 AND hub = ?2 AND state = '{state.value}'"
    return (
        f"WITH RECURSIVE tx(hash) AS (SELECT (SELECT min({column}) FROM {index} WHERE {where})"
        f" UNION ALL SELECT (SELECT min({column}) FROM {index} WHERE {where} AND {column} > tx.hash) FROM tx"
        " WHERE tx.hash IS NOT NULL) SELECT hash FROM tx WHERE hash IS NOT NULL"
    )


_INFLIGHT = {state: _distinct_txs(state, cols[0]) for state, cols in TX_COLUMNS.items()}


class _BulkMismatch(Exception):  # noqa: N818 - a private signal between two lines of one method
    """A bulk transition touched fewer rows than asked: redo it job by job to find and name the offender."""


@dataclass(frozen=True)
class Job:
    """One row of the journal."""

    chain_id: int
    hub: ChecksumAddress
    request_id: int
    state: JobState
    params: bytes
    input: bytes
    block_number: int
    block_hash: bytes
    output: bytes | None
    output_hash: bytes | None
    proof: bytes | None
    """ZK: the proof of `output` (submitted with it)."""
    submit_tx_hash: bytes | None
    submit_nonce: int | None
    salt: bytes | None
    commit_tx_hash: bytes | None
    commit_nonce: int | None
    reveal_tx_hash: bytes | None
    reveal_nonce: int | None
    fail_reason: str | None
    failed_from: JobState | None
    attempts: int
    """Tries of the current state's next step (`record_attempt`); every transition resets it to 0."""
    last_error: str | None
    reorgs: int
    seen_at: float
    state_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values: dict[str, Any] = dict(zip(row.keys(), tuple(row), strict=True))
        values["state"] = JobState(values["state"])
        if values["failed_from"] is not None:
            values["failed_from"] = JobState(values["failed_from"])
        return cls(**values)


_JOB_FIELDS = tuple(f.name for f in fields(Job))
_SELECT_JOB = "SELECT " + ", ".join(_JOB_FIELDS) + " FROM jobs"
"""The columns in `Job`'s field order (a file upgraded from version 1 or 2 has `proof` last in `SELECT *`)."""
_STATE_AT, _FAILED_FROM_AT = _JOB_FIELDS.index("state"), _JOB_FIELDS.index("failed_from")
_STATES = {state.value: state for state in JobState}


def _job(row: Sequence[Any]) -> Job:
    """A `Job` from a row of `_SELECT_JOB`, by position: the node reads thousands a second, and building one by
    name costs twice as much."""
    values = list(row)
    values[_STATE_AT] = _STATES[values[_STATE_AT]]
    if values[_FAILED_FROM_AT] is not None:
        values[_FAILED_FROM_AT] = _STATES[values[_FAILED_FROM_AT]]
    return Job(*values)


class Jobs:
    """The jobs of one hub. Every method is atomic on its own; group several in `db.transaction()`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.notes: list[tuple[int, str]] = []
        """(request id, "reappeared" | "quarantined") for each job `upsert_seen` restarted or replaced: the caller
        takes (and clears) them to log and count."""

    def _describe(self, request_id: int) -> str:
        return f"job (chain {self._db.chain_id}, hub {self._db.hub}, request {request_id})"

    def _key(self) -> tuple[int, str]:
        return (self._db.chain_id, self._db.hub)

    def job(self, request_id: int) -> Job | None:
        with self._db.sql("read a job"):
            row = self._db.connection.execute(
                f"{_SELECT_JOB} WHERE chain_id = ? AND hub = ? AND request_id = ?", (*self._db.key, request_id)
            ).fetchone()
        return None if row is None else _job(row)

    def _existing(self, request_id: int) -> Job:
        job = self.job(request_id)
        if job is None:
            raise UnknownJobError(
                f"{self._describe(request_id)} is not in the journal: record it with upsert_seen first"
            )
        return job

    def upsert_seen(self, request_id: int, params: bytes, input: bytes, block_number: int, block_hash: bytes) -> Job:
        """Records a request event. Seeing it again never moves the job back; it only updates where the event lives.

        Two exceptions, both what the chain says now winning over what the journal remembers:
          * a `failed` job whose event shows up in another block (the request was re-mined after a reorg dropped
            it) starts again from `seen` (`reset_to_seen`): it may have failed only because it was gone;
          * different params or input under the same id (another request took the id: a reorg, a chain reset)
            moves the old record to the `quarantine` table and records the event as a new job. `notes` says so.
        """
        counter("request_id", request_id, minimum=1)
        counter("block_number", block_number)
        block_hash = bytes32("block_hash", block_hash)
        params, input = bytes(params), bytes(input)
        now = self._db.clock()
        with self._db.transaction(), self._db.sql("record a job"):
            job = self.job(request_id)
            if job is not None and (job.params, job.input) != (params, input) and job.state is not JobState.SEEN:
                self.quarantine(
                    request_id, f"its id now names another request (in block {block_number}): reorg or chain reset"
                )
                self.notes.append((request_id, "quarantined"))
                job = None
            if job is None:
                self._db.connection.execute(
                    "INSERT INTO jobs (chain_id, hub, request_id, state, params, input, block_number, block_hash,"
                    " seen_at, state_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *self._db.key,
                        request_id,
                        JobState.SEEN.value,
                        params,
                        input,
                        block_number,
                        block_hash,
                        now,
                        now,
                        now,
                    ),
                )
            elif (job.params, job.input, job.block_number, job.block_hash) != (params, input, block_number, block_hash):
                if job.state is JobState.FAILED:
                    self.reset_to_seen([request_id])
                    self.notes.append((request_id, "reappeared"))
                self._update(request_id, params=params, input=input, block_number=block_number, block_hash=block_hash)
            else:
                return job
        return self._existing(request_id)

    def quarantine(self, request_id: int, reason: str) -> None:
        """Moves a job's record out of the way (to the `quarantine` table, with `reason`): it contradicts the chain."""
        with self._db.transaction(), self._db.sql("quarantine a job"):
            self._db.connection.execute(
                "INSERT OR REPLACE INTO quarantine (chain_id, hub, request_id, state, params, input, output,"
                " fail_reason, reason, quarantined_at) SELECT chain_id, hub, request_id, state, params, input, output,"
                " fail_reason, ?, ? FROM jobs WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (reason, self._db.clock(), *self._db.key, request_id),
            )
            self._db.connection.execute(
                "DELETE FROM jobs WHERE chain_id = ? AND hub = ? AND request_id = ?", (*self._db.key, request_id)
            )

    def quarantine_all(self, reason: str) -> int:
        """Moves every job of this hub to the `quarantine` table (the journal describes another chain); returns how
        many."""
        with self._db.transaction(), self._db.sql("quarantine the jobs"):
            self._db.connection.execute(
                "INSERT OR REPLACE INTO quarantine (chain_id, hub, request_id, state, params, input, output,"
                " fail_reason, reason, quarantined_at) SELECT chain_id, hub, request_id, state, params, input, output,"
                " fail_reason, ?, ? FROM jobs WHERE chain_id = ? AND hub = ?",
                (reason, self._db.clock(), *self._db.key),
            )
            cursor = self._db.connection.execute("DELETE FROM jobs WHERE chain_id = ? AND hub = ?", self._db.key)
            return max(cursor.rowcount, 0)

    def quarantined(self) -> int:
        """How many records of this hub were quarantined."""
        with self._db.sql("count quarantined jobs"):
            row = self._db.connection.execute(
                "SELECT count(*) FROM quarantine WHERE chain_id = ? AND hub = ?", self._db.key
            ).fetchone()
        return int(row[0])

    def upsert_seen_many(self, events: Sequence[tuple[int, bytes, bytes, int, bytes]]) -> None:
        """`upsert_seen` for many (request id, params, input, block number, block hash) at once: jobs new to the
        journal are inserted in one statement, the few already known go through `upsert_seen` and its checks."""
        rows = [
            (
                counter("request_id", rid, minimum=1),
                bytes(params),
                bytes(data),
                counter("block_number", block),
                bytes32("block_hash", block_hash),
            )
            for rid, params, data, block, block_hash in events
        ]
        if not rows:
            return
        now = self._db.clock()
        with self._db.transaction(), self._db.sql("record jobs"):
            known: set[int] = set()
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                chunk = ids[start : start + 500]
                found = self._db.connection.execute(
                    f"SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND request_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    (*self._db.key, *chunk),
                ).fetchall()
                known.update(int(row[0]) for row in found)
            fresh = [row for row in rows if row[0] not in known]
            self._db.connection.executemany(
                "INSERT INTO jobs (chain_id, hub, request_id, state, params, input, block_number, block_hash,"
                " seen_at, state_at, updated_at) VALUES (?, ?, ?, 'seen', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (*self._db.key, rid, params, data, block, block_hash, now, now, now)
                    for rid, params, data, block, block_hash in fresh
                ],
            )
            for row in rows:
                if row[0] in known:
                    self.upsert_seen(*row)

    def _update(self, request_id: int, **columns: object) -> None:
        columns["updated_at"] = self._db.clock()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._db.connection.execute(
            f"UPDATE jobs SET {assignments} WHERE chain_id = ? AND hub = ? AND request_id = ?",
            (*columns.values(), *self._db.key, request_id),
        )

    def _transition(self, request_id: int, to: JobState, **columns: object) -> Job:
        with self._db.transaction(), self._db.sql(f"move a job to {to.value}"):
            job = self._existing(request_id)
            if to not in NEXT[job.state]:
                raise IllegalTransitionError(self._describe(request_id), job.state, to)
            self._update(request_id, state=to.value, state_at=self._db.clock(), attempts=0, **columns)
        return self._existing(request_id)

    def _transition_many(self, to: JobState, rows: Sequence[tuple[int, Mapping[str, object]]]) -> None:
        """Moves many jobs to `to` in one statement (`rows`: request id and its columns, the same names in each).
        All or nothing: if any job is unknown or in a state that does not lead to `to`, nothing moves and the
        single-job path raises the precise error for the first offender."""
        if not rows:
            return
        names = list(rows[0][1])
        sources = [state for state, after in NEXT.items() if to in after]
        assignments = "".join(f", {name} = ?" for name in names)
        now = self._db.clock()
        try:
            with self._db.transaction(), self._db.sql(f"move jobs to {to.value}"):
                cursor = self._db.connection.executemany(
                    f"UPDATE jobs SET state = ?, state_at = ?, updated_at = ?, attempts = 0{assignments}"
                    f" WHERE chain_id = ? AND hub = ? AND request_id = ? AND state IN {sql_in(sources)}",
                    [(to.value, now, now, *(columns[n] for n in names), *self._db.key, rid) for rid, columns in rows],
                )
                if cursor.rowcount != len(rows):
                    raise _BulkMismatch
        except _BulkMismatch:
            with self._db.transaction():
                for rid, columns in rows:
                    self._transition(rid, to, **columns)  # raises for the first job that cannot move

    def mark_computed_many(self, results: Sequence[tuple[int, bytes, bytes]]) -> None:
        """`mark_computed` for many (request id, output, output hash) at once."""
        self._transition_many(
            JobState.COMPUTED,
            [
                (rid, {"output": bytes(output), "output_hash": bytes32("output_hash", output_hash)})
                for rid, output, output_hash in results
            ],
        )

    def mark_submitted_many(self, request_ids: Sequence[int], tx_hash: bytes, nonce: int) -> None:
        """`mark_submitted` for the jobs of one batch transaction."""
        columns = {"submit_tx_hash": bytes32("tx_hash", tx_hash), "submit_nonce": counter("nonce", nonce)}
        self._transition_many(JobState.SUBMITTED, [(rid, columns) for rid in request_ids])

    def mark_confirmed_many(self, request_ids: Sequence[int]) -> None:
        self._transition_many(JobState.CONFIRMED, [(rid, {}) for rid in request_ids])

    def mark_computed(self, request_id: int, output: bytes, output_hash: bytes) -> Job:
        return self._transition(
            request_id, JobState.COMPUTED, output=bytes(output), output_hash=bytes32("output_hash", output_hash)
        )

    def mark_proven(self, request_id: int, output: bytes, output_hash: bytes, proof: bytes) -> Job:
        """ZK: the output and its proof are ready (`computed`, with the proof kept for the submission)."""
        if not proof:
            raise JournalError(f"{self._describe(request_id)}: a proven output needs its proof")
        return self._transition(
            request_id,
            JobState.COMPUTED,
            output=bytes(output),
            output_hash=bytes32("output_hash", output_hash),
            proof=bytes(proof),
        )

    def mark_submitted(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        """SINGLE: the result transaction is signed; record it before broadcasting."""
        return self._transition(
            request_id,
            JobState.SUBMITTED,
            submit_tx_hash=bytes32("tx_hash", tx_hash),
            submit_nonce=counter("nonce", nonce),
        )

    def mark_confirmed(self, request_id: int) -> Job:
        return self._transition(request_id, JobState.CONFIRMED)

    def store_salt(self, request_id: int, salt: bytes) -> Job:
        """CONSENSUS: keeps the vote's salt before the commit is even signed. Write-once: storing the same salt
        again is a no-op, a different one is refused (a commit made with the first may already be on chain)."""
        salt = bytes32("salt", salt)
        with self._db.transaction(), self._db.sql("store a salt"):
            job = self._existing(request_id)
            if job.salt is not None:
                if job.salt != salt:
                    raise JournalError(
                        f"{self._describe(request_id)} already has a salt; it is write-once because a commit made "
                        "with it may be on chain: reuse job.salt"
                    )
                return job
            if job.state is not JobState.COMPUTED:
                raise JournalError(
                    f"{self._describe(request_id)} is {job.state.value}: a salt is stored once the output is computed"
                )
            self._update(request_id, salt=salt)
        return self._existing(request_id)

    def mark_committed(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        """CONSENSUS: the commit transaction is signed; record it before broadcasting. Needs `store_salt` first."""
        tx_hash, nonce = bytes32("tx_hash", tx_hash), counter("nonce", nonce)
        with self._db.transaction():
            job = self._existing(request_id)
            if job.salt is None and JobState.COMMITTED in NEXT[job.state]:
                raise JournalError(
                    f"{self._describe(request_id)} has no salt: store_salt must come before the commit is sent"
                )
            return self._transition(request_id, JobState.COMMITTED, commit_tx_hash=tx_hash, commit_nonce=nonce)

    def mark_revealed(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        return self._transition(
            request_id,
            JobState.REVEALED,
            reveal_tx_hash=bytes32("tx_hash", tx_hash),
            reveal_nonce=counter("nonce", nonce),
        )

    def mark_finalized(self, request_id: int) -> Job:
        return self._transition(request_id, JobState.FINALIZED)

    def mark_failed(self, request_id: int, reason: str) -> Job:
        if not isinstance(reason, str) or not reason.strip():
            raise JournalError("a failure needs a reason")
        with self._db.transaction():
            job = self._existing(request_id)
            return self._transition(request_id, JobState.FAILED, fail_reason=reason, failed_from=job.state.value)

    def record_attempt(self, request_id: int, error: str | None = None) -> int:
        """Counts one more try of the job's next step (and why the last one failed); returns the count so the
        caller can give up at its cap with `mark_failed`."""
        with self._db.transaction(), self._db.sql("record an attempt"):
            job = self._existing(request_id)
            self._update(request_id, attempts=job.attempts + 1, last_error=error)
        return job.attempts + 1

    def reset_to_seen(self, request_ids: Iterable[int]) -> int:
        """A reorg removed these requests' events: back to `seen`, clearing everything derived from them (not the
        salt). Returns how many jobs moved; jobs already `seen` or unknown are left alone."""
        now = self._db.clock()
        cleared = ", ".join(f"{name} = NULL" for name in _RESET_COLUMNS)
        with self._db.transaction(), self._db.sql("reset jobs"):
            cursor = self._db.connection.executemany(
                f"UPDATE jobs SET state = 'seen', {cleared}, attempts = 0, reorgs = reorgs + 1, state_at = ?,"
                " updated_at = ? WHERE chain_id = ? AND hub = ? AND request_id = ? AND state != 'seen'",
                [(now, now, *self._db.key, int(request_id)) for request_id in request_ids],
            )
            return max(cursor.rowcount, 0)

    def replace_tx(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        """Points a job in flight (submitted, committed or revealed) at the transaction that replaces the one its
        state names: a fee bump with the same nonce, or a re-signed copy under a fresh nonce. Record the new
        transaction (`txs.record`) in the same journal transaction, before broadcasting it."""
        tx_hash, nonce = bytes32("tx_hash", tx_hash), counter("nonce", nonce)
        with self._db.transaction(), self._db.sql("replace a transaction"):
            job = self._existing(request_id)
            columns = TX_COLUMNS.get(job.state)
            if columns is None:
                raise JournalError(
                    f"{self._describe(request_id)} is {job.state.value}: only a job with a transaction in flight "
                    f"({', '.join(s.value for s in TX_COLUMNS)}) has one to replace"
                )
            self._update(request_id, **{columns[0]: tx_hash, columns[1]: nonce})
        return self._existing(request_id)

    def requeue(self, request_ids: Iterable[int], error: str) -> int:
        """Puts submitted jobs whose delivery reverted back to `computed` (output kept, transaction cleared, one more
        attempt counted with `error`), to be batched and estimated again. Returns how many moved."""
        now = self._db.clock()
        with self._db.transaction(), self._db.sql("requeue jobs"):
            cursor = self._db.connection.executemany(
                "UPDATE jobs SET state = 'computed', submit_tx_hash = NULL, submit_nonce = NULL,"
                " attempts = attempts + 1, last_error = ?, state_at = ?, updated_at = ?"
                " WHERE chain_id = ? AND hub = ? AND request_id = ? AND state = 'submitted'",
                [(error, now, now, *self._db.key, int(rid)) for rid in request_ids],
            )
            return max(cursor.rowcount, 0)

    def jobs(self, state: JobState, *, limit: int = 100, after: int = 0) -> list[Job]:
        """Up to `limit` jobs in `state` with request id above `after`, lowest id first (page with `after`)."""
        counter("limit", limit, minimum=1)
        with self._db.sql("list jobs"):
            rows = self._db.connection.execute(
                f"{_SELECT_JOB} WHERE chain_id = ? AND hub = ? AND state = ? AND request_id > ?"
                " ORDER BY request_id LIMIT ?",
                (*self._db.key, JobState(state).value, after, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def request_ids_from_block(self, block_number: int) -> list[int]:
        """Ids of the jobs whose event is in `block_number` or later: the candidates for `reset_to_seen`."""
        with self._db.sql("list jobs by block"):
            rows = self._db.connection.execute(
                "SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND block_number >= ? ORDER BY request_id",
                (*self._db.key, block_number),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def jobs_with_params_length(self, length: int, *, limit: int = 100) -> list[Job]:
        """Up to `limit` jobs (any state) whose params are `length` bytes, lowest id first: rows an older format
        wrote, for the node to complete (`set_params`)."""
        counter("limit", limit, minimum=1)
        with self._db.sql("list jobs by params length"):
            rows = self._db.connection.execute(
                f"{_SELECT_JOB} WHERE chain_id = ? AND hub = ? AND length(params) = ? ORDER BY request_id LIMIT ?",
                (*self._db.key, counter("length", length), limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def set_params(self, request_id: int, params: bytes) -> None:
        """Rewrites a job's params in place (an upgrade of their format; the request itself is the same)."""
        with self._db.transaction(), self._db.sql("rewrite params"):
            self._existing(request_id)
            self._update(request_id, params=bytes(params))

    def backlog(self) -> dict[JobState, int]:
        """How many jobs wait in each state that has work left (zeros included)."""
        counts = dict.fromkeys(PENDING_STATES, 0)
        with self._db.sql("count jobs"):
            rows = self._db.connection.execute(
                f"SELECT state, count(*) FROM jobs WHERE chain_id = ? AND hub = ? AND state IN {sql_in(PENDING_STATES)}"
                " GROUP BY state",
                self._db.key,
            ).fetchall()
        counts.update({JobState(state): int(count) for state, count in rows})
        return counts

    def jobs_with_tx(self, tx_hash: bytes) -> list[Job]:
        """The jobs whose current transaction (of their state) is `tx_hash`, lowest id first."""
        tx_hash = bytes32("tx_hash", tx_hash)
        # One indexed select per in-flight state (jobs_by_state), not an OR over the whole table.
        selects = " UNION ALL ".join(
            f"{_SELECT_JOB} INDEXED BY jobs_by_{cols[0].removesuffix('_hash')} WHERE chain_id = ? AND hub = ?"
            f" AND state = '{state.value}' AND {cols[0]} = ?"
            for state, cols in TX_COLUMNS.items()
        )
        with self._db.sql("list jobs by transaction"):
            rows = self._db.connection.execute(
                f"SELECT * FROM ({selects}) ORDER BY request_id", (*self._db.key, tx_hash) * len(TX_COLUMNS)
            ).fetchall()
        return [_job(row) for row in rows]

    def prune(self, *, finished_before: float, below_block: int, limit: int = 10_000) -> int:
        """Deletes up to `limit` finished jobs (confirmed, finalized, failed) that reached that state before
        `finished_before` (wall time) and whose event is below `below_block` (deeper than any reorg to expect);
        returns how many. A pruned request seen again is checked against the chain before any delivery."""
        counter("limit", limit, minimum=1)
        finished = [JobState.CONFIRMED, JobState.FINALIZED, JobState.FAILED]
        with self._db.transaction(), self._db.sql("prune jobs"):
            total = 0
            for state in finished:
                cursor = self._db.connection.execute(
                    "DELETE FROM jobs WHERE chain_id = ? AND hub = ? AND request_id IN (SELECT request_id FROM jobs"
                    " WHERE chain_id = ? AND hub = ? AND state = ? AND state_at < ? AND block_number < ? LIMIT ?)",
                    (*self._db.key, *self._db.key, state.value, finished_before, below_block, limit - total),
                )
                total += max(cursor.rowcount, 0)
                if total >= limit:
                    break
            return total

    def inflight_txs(self) -> list[tuple[bytes, JobState]]:
        """The distinct current transactions of the jobs in flight (submitted, committed, revealed), with the state
        of their jobs: what the node must follow until mined, without loading every job."""
        found: list[tuple[bytes, JobState]] = []
        with self._db.sql("list transactions in flight"):
            for state, query in _INFLIGHT.items():
                found.extend((bytes(row[0]), state) for row in self._db.connection.execute(query, self._db.key))
        return sorted(found, key=lambda tx: (tx[0], tx[1].value))

    def request_ids_with_tx_mined_from(self, block_number: int) -> list[int]:
        """Ids of the jobs with a transaction of theirs recorded as mined in `block_number` or later (reorg
        candidates even when their request's event stayed put: the result may be gone while the request is not)."""
        columns = ("submit_tx_hash", "commit_tx_hash", "reveal_tx_hash")
        joins = " OR ".join(f"t.hash = j.{column}" for column in columns)
        with self._db.sql("list jobs by mined transaction"):
            rows = self._db.connection.execute(
                f"SELECT DISTINCT j.request_id FROM jobs j JOIN txs t ON t.chain_id = j.chain_id AND t.hub = j.hub"
                f" AND ({joins}) WHERE j.chain_id = ? AND j.hub = ? AND t.mined_block >= ? ORDER BY j.request_id",
                (*self._db.key, block_number),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def request_ids_with_tx(self, tx_hash: bytes) -> list[int]:
        """Ids of the jobs that recorded `tx_hash` as their submission, commit or reveal, whatever their state."""
        tx_hash = bytes32("tx_hash", tx_hash)
        with self._db.sql("list jobs by any transaction"):
            rows = self._db.connection.execute(
                "SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND (submit_tx_hash = ?"
                " OR commit_tx_hash = ? OR reveal_tx_hash = ?) ORDER BY request_id",
                (*self._db.key, tx_hash, tx_hash, tx_hash),
            ).fetchall()
        return [int(row[0]) for row in rows]
