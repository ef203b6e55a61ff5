"""The node's durable job journal: one row per request it serves, on SQLite in WAL mode.

A job is keyed by (chain id, hub address, request id) and moves through these states:

    seen ──> computed ──> submitted ──> confirmed                  SINGLE
                     └──> committed ──> revealed ──> finalized     CONSENSUS
    every state that is not final ──> failed
    any state ──> seen                                             only through `reset_to_seen` (a reorg)
    submitted ──> computed                                         only through `requeue` (its delivery reverted)

Each transition checks the current state inside one `BEGIN IMMEDIATE` transaction, and CHECK constraints in the
schema make a row that contradicts its state (`submitted` without a tx hash, `committed` without a salt) impossible
to write, whatever the code above does.

Record a transaction *before* broadcasting it: a signed transaction's hash and nonce are known before it is sent,
so a crash between sending and recording never loses a nonce or, worse, the salt behind an on-chain commit. The
`txs` table keeps every signed transaction's raw bytes (`Journal.txs`, see `verinfer.node.txlog`), so after a
crash the very same transaction can be broadcast again instead of a second one that could also be mined.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from verinfer.errors import VerinferError

SCHEMA_VERSION = 3  # 2 added the txs table, 3 the jobs.proof column (older files are upgraded in place)
INT64_MAX = 2**63 - 1  # SQLite's INTEGER; request ids and nonces are counters that never get near it


class JournalError(VerinferError):
    """The journal cannot be opened, read or written, or a write contradicts what it holds."""


class UnknownJobError(JournalError):
    """A transition names a request the journal has never seen."""


class IllegalTransitionError(JournalError):
    """A job was asked to move to a state its current state does not lead to."""

    def __init__(self, job: str, current: JobState, attempted: JobState) -> None:
        self.job = job
        self.current = current
        self.attempted = attempted
        allowed = ", ".join(sorted(s.value for s in _NEXT[current]))
        why = f"from {current.value} only to {allowed}" if allowed else f"{current.value} is final"
        super().__init__(f"{job} cannot go from {current.value} to {attempted.value} ({why})")


class JobState(enum.StrEnum):
    SEEN = "seen"
    COMPUTED = "computed"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    COMMITTED = "committed"
    REVEALED = "revealed"
    FINALIZED = "finalized"
    FAILED = "failed"


_NEXT: Mapping[JobState, frozenset[JobState]] = {
    JobState.SEEN: frozenset({JobState.COMPUTED, JobState.FAILED}),
    JobState.COMPUTED: frozenset({JobState.SUBMITTED, JobState.COMMITTED, JobState.FAILED}),
    JobState.SUBMITTED: frozenset({JobState.CONFIRMED, JobState.FAILED}),
    JobState.COMMITTED: frozenset({JobState.REVEALED, JobState.FAILED}),
    JobState.REVEALED: frozenset({JobState.FINALIZED, JobState.FAILED}),
    # Final states: a receipt is a fact, so only a reorg (reset_to_seen) moves these jobs again.
    JobState.CONFIRMED: frozenset(),
    JobState.FINALIZED: frozenset(),
    JobState.FAILED: frozenset(),
}

PENDING_STATES = tuple(state for state, after in _NEXT.items() if after)
"""States with work left to do, in pipeline order: what `backlog()` counts."""


def _in(states: Iterable[JobState]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"


_HAS_OUTPUT = _in(
    [
        JobState.COMPUTED,
        JobState.SUBMITTED,
        JobState.CONFIRMED,
        JobState.COMMITTED,
        JobState.REVEALED,
        JobState.FINALIZED,
    ]
)
_HAS_SUBMIT = _in([JobState.SUBMITTED, JobState.CONFIRMED])
_HAS_COMMIT = _in([JobState.COMMITTED, JobState.REVEALED, JobState.FINALIZED])
_HAS_REVEAL = _in([JobState.REVEALED, JobState.FINALIZED])

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL CHECK (request_id >= 1),
    state           TEXT    NOT NULL CHECK (state IN {_in(JobState)}),
    params          BLOB    NOT NULL,
    input           BLOB    NOT NULL,
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    block_hash      BLOB    NOT NULL CHECK (length(block_hash) = 32),
    output          BLOB,
    output_hash     BLOB    CHECK (length(output_hash) = 32),
    proof           BLOB,
    submit_tx_hash  BLOB    CHECK (length(submit_tx_hash) = 32),
    submit_nonce    INTEGER CHECK (submit_nonce >= 0),
    salt            BLOB    CHECK (length(salt) = 32),
    commit_tx_hash  BLOB    CHECK (length(commit_tx_hash) = 32),
    commit_nonce    INTEGER CHECK (commit_nonce >= 0),
    reveal_tx_hash  BLOB    CHECK (length(reveal_tx_hash) = 32),
    reveal_nonce    INTEGER CHECK (reveal_nonce >= 0),
    fail_reason     TEXT,
    failed_from     TEXT    CHECK (failed_from IN {_in(PENDING_STATES)}),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    reorgs          INTEGER NOT NULL DEFAULT 0 CHECK (reorgs >= 0),
    seen_at         REAL    NOT NULL,
    state_at        REAL    NOT NULL,
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub, request_id),
    CHECK (state NOT IN {_HAS_OUTPUT} OR (output IS NOT NULL AND output_hash IS NOT NULL)),
    CHECK (state NOT IN {_HAS_SUBMIT} OR (submit_tx_hash IS NOT NULL AND submit_nonce IS NOT NULL)),
    CHECK (state NOT IN {_HAS_COMMIT} OR (salt IS NOT NULL AND commit_tx_hash IS NOT NULL
                                          AND commit_nonce IS NOT NULL)),
    CHECK (state NOT IN {_HAS_REVEAL} OR (reveal_tx_hash IS NOT NULL AND reveal_nonce IS NOT NULL)),
    CHECK ((state = 'failed') = (fail_reason IS NOT NULL AND failed_from IS NOT NULL))
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (chain_id, hub, state, request_id);
CREATE INDEX IF NOT EXISTS jobs_by_block ON jobs (chain_id, hub, block_number);

CREATE TABLE IF NOT EXISTS cursors (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    block_hash      BLOB    NOT NULL CHECK (length(block_hash) = 32),
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS txs (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    nonce           INTEGER NOT NULL CHECK (nonce >= 0),
    kind            TEXT    NOT NULL,
    raw             BLOB    NOT NULL,
    created_at      REAL    NOT NULL,
    mined_block     INTEGER CHECK (mined_block >= 0),
    PRIMARY KEY (chain_id, hub, hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_by_nonce ON txs (chain_id, hub, nonce);

CREATE TABLE IF NOT EXISTS blocks (
    chain_id        INTEGER NOT NULL,
    number          INTEGER NOT NULL CHECK (number >= 0),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (chain_id, number)
) WITHOUT ROWID;
"""

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


@dataclass(frozen=True)
class SentTx:
    """A signed transaction the node recorded before broadcasting it."""

    hash: bytes
    nonce: int
    kind: str
    raw: bytes
    created_at: float
    mined_block: int | None


_TX_COLUMN = {
    JobState.SUBMITTED: ("submit_tx_hash", "submit_nonce"),
    JobState.COMMITTED: ("commit_tx_hash", "commit_nonce"),
    JobState.REVEALED: ("reveal_tx_hash", "reveal_nonce"),
}


@dataclass(frozen=True)
class Cursor:
    """The last block whose events the node has fully processed."""

    block_number: int
    block_hash: bytes


def _bytes32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise JournalError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def _counter(name: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT64_MAX:
        raise JournalError(f"{name} must be an integer in [{minimum}, 2**63 - 1], got {value!r}")
    return value


class Journal:
    """The jobs, scan cursor and recent block hashes of one hub, in a SQLite file (shareable by several hubs).

    Every method is atomic on its own; group several in `with journal.transaction():` to make them atomic together.
    Not thread-safe: use it from one thread at a time (the node's scheduler thread).
    """

    def __init__(
        self,
        path: Path | str,
        chain_id: int,
        hub: str,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.chain_id = _counter("chain_id", chain_id, minimum=1)
        try:
            self.hub: ChecksumAddress = to_checksum_address(hub)
        except (TypeError, ValueError) as exc:
            raise JournalError(f"hub must be a 20-byte address, got {hub!r}") from exc
        self._clock = clock
        self._depth = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: a service opens it in set-up and hands it to its scheduler thread; it is still
            # used by one thread at a time (see the class docstring).
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal at {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self.txs = TxLog(self)
        """The signed transactions of this hub's jobs (see `verinfer.node.txlog`)."""
        try:
            self._configure()
        except BaseException:
            self._db.close()
            raise

    def _configure(self) -> None:
        with self._sql("open"):
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(
                    f"the journal at {self.path} cannot use WAL mode (got {mode!r}): put it on a local filesystem"
                )
            # FULL, not NORMAL: in WAL mode NORMAL survives a process crash but may lose the last commits on power
            # loss. Losing "salt stored" or "submitted(nonce)" would mean an unrevealable commit (a slash) or a
            # reused nonce, and the node writes a handful of rows per request, so one fsync per commit is cheap.
            self._db.execute("PRAGMA synchronous=FULL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal at {self.path} has schema version {version}; this verinfer reads up to "
                f"{SCHEMA_VERSION}: upgrade verinfer or point the node at a fresh journal file"
            )
        with self.transaction():
            # One statement at a time: executescript would COMMIT the enclosing transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "proof" not in columns:  # a version 1 or 2 file
                self._db.execute("ALTER TABLE jobs ADD COLUMN proof BLOB")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ----------------------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _sql(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {doing} failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen or none do. Nested blocks are savepoints: an inner failure undoes only itself."""
        savepoint = f"sp{self._depth}"
        with self._sql("begin"):
            # IMMEDIATE takes the write lock up front, so a read-then-write never fails half-way on a busy upgrade.
            self._db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            with self._sql("rollback"):
                if not self._db.in_transaction:
                    pass  # SQLite already rolled back (it does on some errors, such as a full disk)
                elif self._depth == 0:
                    self._db.execute("ROLLBACK")
                else:
                    self._db.execute(f"ROLLBACK TO {savepoint}")
                    self._db.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        try:
            self._db.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")
        except sqlite3.Error as exc:
            if self._depth == 0 and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise JournalError(f"journal {self.path}: commit failed: {exc}") from exc

    # ------------------------------------------------------------------------------------------------------ jobs

    def _describe(self, request_id: int) -> str:
        return f"job (chain {self.chain_id}, hub {self.hub}, request {request_id})"

    def _key(self) -> tuple[int, str]:
        return (self.chain_id, self.hub)

    def job(self, request_id: int) -> Job | None:
        with self._sql("read a job"):
            row = self._db.execute(
                "SELECT * FROM jobs WHERE chain_id = ? AND hub = ? AND request_id = ?", (*self._key(), request_id)
            ).fetchone()
        return None if row is None else Job.from_row(row)

    def _existing(self, request_id: int) -> Job:
        job = self.job(request_id)
        if job is None:
            raise UnknownJobError(
                f"{self._describe(request_id)} is not in the journal: record it with upsert_seen first"
            )
        return job

    def upsert_seen(self, request_id: int, params: bytes, input: bytes, block_number: int, block_hash: bytes) -> Job:
        """Records a request event. Seeing it again never moves the job back; it only updates where the event lives.

        Seeing different params or input under the same id is refused unless the job is still `seen`: that is a
        reorg the caller has not handled with `reset_to_seen`.
        """
        _counter("request_id", request_id, minimum=1)
        _counter("block_number", block_number)
        block_hash = _bytes32("block_hash", block_hash)
        params, input = bytes(params), bytes(input)
        now = self._clock()
        with self.transaction(), self._sql("record a job"):
            job = self.job(request_id)
            if job is None:
                self._db.execute(
                    "INSERT INTO jobs (chain_id, hub, request_id, state, params, input, block_number, block_hash,"
                    " seen_at, state_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *self._key(),
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
            elif (job.params, job.input) != (params, input) and job.state is not JobState.SEEN:
                raise JournalError(
                    f"{self._describe(request_id)} is {job.state.value} but its event now carries different params "
                    "or input: the chain reorganised; call reset_to_seen for it before recording the new event"
                )
            elif (job.params, job.input, job.block_number, job.block_hash) != (params, input, block_number, block_hash):
                self._update(request_id, params=params, input=input, block_number=block_number, block_hash=block_hash)
            else:
                return job
        return self._existing(request_id)

    def upsert_seen_many(self, events: Sequence[tuple[int, bytes, bytes, int, bytes]]) -> None:
        """`upsert_seen` for many (request id, params, input, block number, block hash) at once: jobs new to the
        journal are inserted in one statement, the few already known go through `upsert_seen` and its checks."""
        rows = [
            (
                _counter("request_id", rid, minimum=1),
                bytes(params),
                bytes(data),
                _counter("block_number", block),
                _bytes32("block_hash", block_hash),
            )
            for rid, params, data, block, block_hash in events
        ]
        if not rows:
            return
        now = self._clock()
        with self.transaction(), self._sql("record jobs"):
            known: set[int] = set()
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                chunk = ids[start : start + 500]
                found = self._db.execute(
                    f"SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND request_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    (*self._key(), *chunk),
                ).fetchall()
                known.update(int(row[0]) for row in found)
            fresh = [row for row in rows if row[0] not in known]
            self._db.executemany(
                "INSERT INTO jobs (chain_id, hub, request_id, state, params, input, block_number, block_hash,"
                " seen_at, state_at, updated_at) VALUES (?, ?, ?, 'seen', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (*self._key(), rid, params, data, block, block_hash, now, now, now)
                    for rid, params, data, block, block_hash in fresh
                ],
            )
            for row in rows:
                if row[0] in known:
                    self.upsert_seen(*row)

    def _update(self, request_id: int, **columns: object) -> None:
        columns["updated_at"] = self._clock()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(
            f"UPDATE jobs SET {assignments} WHERE chain_id = ? AND hub = ? AND request_id = ?",
            (*columns.values(), *self._key(), request_id),
        )

    def _transition(self, request_id: int, to: JobState, **columns: object) -> Job:
        with self.transaction(), self._sql(f"move a job to {to.value}"):
            job = self._existing(request_id)
            if to not in _NEXT[job.state]:
                raise IllegalTransitionError(self._describe(request_id), job.state, to)
            self._update(request_id, state=to.value, state_at=self._clock(), attempts=0, **columns)
        return self._existing(request_id)

    def _transition_many(self, to: JobState, rows: Sequence[tuple[int, Mapping[str, object]]]) -> None:
        """Moves many jobs to `to` in one statement (`rows`: request id and its columns, the same names in each).
        All or nothing: if any job is unknown or in a state that does not lead to `to`, nothing moves and the
        single-job path raises the precise error for the first offender."""
        if not rows:
            return
        names = list(rows[0][1])
        sources = [state for state, after in _NEXT.items() if to in after]
        assignments = "".join(f", {name} = ?" for name in names)
        now = self._clock()
        try:
            with self.transaction(), self._sql(f"move jobs to {to.value}"):
                cursor = self._db.executemany(
                    f"UPDATE jobs SET state = ?, state_at = ?, updated_at = ?, attempts = 0{assignments}"
                    f" WHERE chain_id = ? AND hub = ? AND request_id = ? AND state IN {_in(sources)}",
                    [(to.value, now, now, *(columns[n] for n in names), *self._key(), rid) for rid, columns in rows],
                )
                if cursor.rowcount != len(rows):
                    raise _BulkMismatch
        except _BulkMismatch:
            with self.transaction():
                for rid, columns in rows:
                    self._transition(rid, to, **columns)  # raises for the first job that cannot move

    def mark_computed_many(self, results: Sequence[tuple[int, bytes, bytes]]) -> None:
        """`mark_computed` for many (request id, output, output hash) at once."""
        self._transition_many(
            JobState.COMPUTED,
            [
                (rid, {"output": bytes(output), "output_hash": _bytes32("output_hash", output_hash)})
                for rid, output, output_hash in results
            ],
        )

    def mark_submitted_many(self, request_ids: Sequence[int], tx_hash: bytes, nonce: int) -> None:
        """`mark_submitted` for the jobs of one batch transaction."""
        columns = {"submit_tx_hash": _bytes32("tx_hash", tx_hash), "submit_nonce": _counter("nonce", nonce)}
        self._transition_many(JobState.SUBMITTED, [(rid, columns) for rid in request_ids])

    def mark_confirmed_many(self, request_ids: Sequence[int]) -> None:
        self._transition_many(JobState.CONFIRMED, [(rid, {}) for rid in request_ids])

    def mark_computed(self, request_id: int, output: bytes, output_hash: bytes) -> Job:
        return self._transition(
            request_id, JobState.COMPUTED, output=bytes(output), output_hash=_bytes32("output_hash", output_hash)
        )

    def mark_proven(self, request_id: int, output: bytes, output_hash: bytes, proof: bytes) -> Job:
        """ZK: the output and its proof are ready (`computed`, with the proof kept for the submission)."""
        if not proof:
            raise JournalError(f"{self._describe(request_id)}: a proven output needs its proof")
        return self._transition(
            request_id,
            JobState.COMPUTED,
            output=bytes(output),
            output_hash=_bytes32("output_hash", output_hash),
            proof=bytes(proof),
        )

    def mark_submitted(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        """SINGLE: the result transaction is signed; record it before broadcasting."""
        return self._transition(
            request_id,
            JobState.SUBMITTED,
            submit_tx_hash=_bytes32("tx_hash", tx_hash),
            submit_nonce=_counter("nonce", nonce),
        )

    def mark_confirmed(self, request_id: int) -> Job:
        return self._transition(request_id, JobState.CONFIRMED)

    def store_salt(self, request_id: int, salt: bytes) -> Job:
        """CONSENSUS: keeps the vote's salt before the commit is even signed. Write-once: storing the same salt
        again is a no-op, a different one is refused (a commit made with the first may already be on chain)."""
        salt = _bytes32("salt", salt)
        with self.transaction(), self._sql("store a salt"):
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
        tx_hash, nonce = _bytes32("tx_hash", tx_hash), _counter("nonce", nonce)
        with self.transaction():
            job = self._existing(request_id)
            if job.salt is None and JobState.COMMITTED in _NEXT[job.state]:
                raise JournalError(
                    f"{self._describe(request_id)} has no salt: store_salt must come before the commit is sent"
                )
            return self._transition(request_id, JobState.COMMITTED, commit_tx_hash=tx_hash, commit_nonce=nonce)

    def mark_revealed(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        return self._transition(
            request_id,
            JobState.REVEALED,
            reveal_tx_hash=_bytes32("tx_hash", tx_hash),
            reveal_nonce=_counter("nonce", nonce),
        )

    def mark_finalized(self, request_id: int) -> Job:
        return self._transition(request_id, JobState.FINALIZED)

    def mark_failed(self, request_id: int, reason: str) -> Job:
        if not isinstance(reason, str) or not reason.strip():
            raise JournalError("a failure needs a reason")
        with self.transaction():
            job = self._existing(request_id)
            return self._transition(request_id, JobState.FAILED, fail_reason=reason, failed_from=job.state.value)

    def record_attempt(self, request_id: int, error: str | None = None) -> int:
        """Counts one more try of the job's next step (and why the last one failed); returns the count so the
        caller can give up at its cap with `mark_failed`."""
        with self.transaction(), self._sql("record an attempt"):
            job = self._existing(request_id)
            self._update(request_id, attempts=job.attempts + 1, last_error=error)
        return job.attempts + 1

    def reset_to_seen(self, request_ids: Iterable[int]) -> int:
        """A reorg removed these requests' events: back to `seen`, clearing everything derived from them (not the
        salt). Returns how many jobs moved; jobs already `seen` or unknown are left alone."""
        now = self._clock()
        cleared = ", ".join(f"{name} = NULL" for name in _RESET_COLUMNS)
        with self.transaction(), self._sql("reset jobs"):
            cursor = self._db.executemany(
                f"UPDATE jobs SET state = 'seen', {cleared}, attempts = 0, reorgs = reorgs + 1, state_at = ?,"
                " updated_at = ? WHERE chain_id = ? AND hub = ? AND request_id = ? AND state != 'seen'",
                [(now, now, *self._key(), int(request_id)) for request_id in request_ids],
            )
            return max(cursor.rowcount, 0)

    def replace_tx(self, request_id: int, tx_hash: bytes, nonce: int) -> Job:
        """Points a job in flight (submitted, committed or revealed) at the transaction that replaces the one its
        state names: a fee bump with the same nonce, or a re-signed copy under a fresh nonce. Record the new
        transaction (`txs.record`) in the same journal transaction, before broadcasting it."""
        tx_hash, nonce = _bytes32("tx_hash", tx_hash), _counter("nonce", nonce)
        with self.transaction(), self._sql("replace a transaction"):
            job = self._existing(request_id)
            columns = _TX_COLUMN.get(job.state)
            if columns is None:
                raise JournalError(
                    f"{self._describe(request_id)} is {job.state.value}: only a job with a transaction in flight "
                    f"({', '.join(s.value for s in _TX_COLUMN)}) has one to replace"
                )
            self._update(request_id, **{columns[0]: tx_hash, columns[1]: nonce})
        return self._existing(request_id)

    def requeue(self, request_ids: Iterable[int], error: str) -> int:
        """Puts submitted jobs whose delivery reverted back to `computed` (output kept, transaction cleared, one more
        attempt counted with `error`), to be batched and estimated again. Returns how many moved."""
        now = self._clock()
        with self.transaction(), self._sql("requeue jobs"):
            cursor = self._db.executemany(
                "UPDATE jobs SET state = 'computed', submit_tx_hash = NULL, submit_nonce = NULL,"
                " attempts = attempts + 1, last_error = ?, state_at = ?, updated_at = ?"
                " WHERE chain_id = ? AND hub = ? AND request_id = ? AND state = 'submitted'",
                [(error, now, now, *self._key(), int(rid)) for rid in request_ids],
            )
            return max(cursor.rowcount, 0)

    def jobs(self, state: JobState, *, limit: int = 100, after: int = 0) -> list[Job]:
        """Up to `limit` jobs in `state` with request id above `after`, lowest id first (page with `after`)."""
        _counter("limit", limit, minimum=1)
        with self._sql("list jobs"):
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE chain_id = ? AND hub = ? AND state = ? AND request_id > ?"
                " ORDER BY request_id LIMIT ?",
                (*self._key(), JobState(state).value, after, limit),
            ).fetchall()
        return [Job.from_row(row) for row in rows]

    def request_ids_from_block(self, block_number: int) -> list[int]:
        """Ids of the jobs whose event is in `block_number` or later: the candidates for `reset_to_seen`."""
        with self._sql("list jobs by block"):
            rows = self._db.execute(
                "SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND block_number >= ? ORDER BY request_id",
                (*self._key(), block_number),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def backlog(self) -> dict[JobState, int]:
        """How many jobs wait in each state that has work left (zeros included)."""
        counts = dict.fromkeys(PENDING_STATES, 0)
        with self._sql("count jobs"):
            rows = self._db.execute(
                f"SELECT state, count(*) FROM jobs WHERE chain_id = ? AND hub = ? AND state IN {_in(PENDING_STATES)}"
                " GROUP BY state",
                self._key(),
            ).fetchall()
        counts.update({JobState(state): int(count) for state, count in rows})
        return counts

    def jobs_with_tx(self, tx_hash: bytes) -> list[Job]:
        """The jobs whose current transaction (of their state) is `tx_hash`, lowest id first."""
        tx_hash = _bytes32("tx_hash", tx_hash)
        clauses = " OR ".join(f"(state = '{state.value}' AND {cols[0]} = ?)" for state, cols in _TX_COLUMN.items())
        with self._sql("list jobs by transaction"):
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE chain_id = ? AND hub = ? AND ({clauses}) ORDER BY request_id",
                (*self._key(), *([tx_hash] * len(_TX_COLUMN))),
            ).fetchall()
        return [Job.from_row(row) for row in rows]

    def inflight_txs(self) -> list[tuple[bytes, JobState]]:
        """The distinct current transactions of the jobs in flight (submitted, committed, revealed), with the state
        of their jobs: what the node must follow until mined, without loading every job."""
        selects = " UNION ".join(
            f"SELECT DISTINCT {cols[0]}, '{state.value}' FROM jobs WHERE chain_id = ? AND hub = ? AND state = "
            f"'{state.value}'"
            for state, cols in _TX_COLUMN.items()
        )
        with self._sql("list transactions in flight"):
            rows = self._db.execute(selects, self._key() * len(_TX_COLUMN)).fetchall()
        return [(bytes(row[0]), JobState(row[1])) for row in rows]

    def request_ids_with_tx_mined_from(self, block_number: int) -> list[int]:
        """Ids of the jobs with a transaction of theirs recorded as mined in `block_number` or later (reorg
        candidates even when their request's event stayed put: the result may be gone while the request is not)."""
        columns = ("submit_tx_hash", "commit_tx_hash", "reveal_tx_hash")
        joins = " OR ".join(f"t.hash = j.{column}" for column in columns)
        with self._sql("list jobs by mined transaction"):
            rows = self._db.execute(
                f"SELECT DISTINCT j.request_id FROM jobs j JOIN txs t ON t.chain_id = j.chain_id AND t.hub = j.hub"
                f" AND ({joins}) WHERE j.chain_id = ? AND j.hub = ? AND t.mined_block >= ? ORDER BY j.request_id",
                (*self._key(), block_number),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def request_ids_with_tx(self, tx_hash: bytes) -> list[int]:
        """Ids of the jobs that recorded `tx_hash` as their submission, commit or reveal, whatever their state."""
        tx_hash = _bytes32("tx_hash", tx_hash)
        with self._sql("list jobs by any transaction"):
            rows = self._db.execute(
                "SELECT request_id FROM jobs WHERE chain_id = ? AND hub = ? AND (submit_tx_hash = ?"
                " OR commit_tx_hash = ? OR reveal_tx_hash = ?) ORDER BY request_id",
                (*self._key(), tx_hash, tx_hash, tx_hash),
            ).fetchall()
        return [int(row[0]) for row in rows]

    # -------------------------------------------------------------------------------------------- cursor, blocks

    def cursor(self) -> Cursor | None:
        with self._sql("read the cursor"):
            row = self._db.execute(
                "SELECT block_number, block_hash FROM cursors WHERE chain_id = ? AND hub = ?", self._key()
            ).fetchone()
        return None if row is None else Cursor(int(row[0]), bytes(row[1]))

    def set_cursor(self, block_number: int, block_hash: bytes) -> None:
        """Moves the cursor, forwards or (after a reorg) backwards."""
        values = (*self._key(), _counter("block_number", block_number), _bytes32("block_hash", block_hash))
        with self.transaction(), self._sql("move the cursor"):
            self._db.execute(
                "INSERT INTO cursors (chain_id, hub, block_number, block_hash, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (chain_id, hub) DO UPDATE SET block_number = excluded.block_number,"
                " block_hash = excluded.block_hash, updated_at = excluded.updated_at",
                (*values, self._clock()),
            )

    def record_block(self, number: int, block_hash: bytes) -> None:
        """Remembers a block's hash (replacing the one a reorg orphaned)."""
        values = (self.chain_id, _counter("number", number), _bytes32("block_hash", block_hash))
        with self.transaction(), self._sql("record a block"):
            self._db.execute("INSERT OR REPLACE INTO blocks (chain_id, number, hash) VALUES (?, ?, ?)", values)

    def block_hash(self, number: int) -> bytes | None:
        with self._sql("read a block"):
            row = self._db.execute(
                "SELECT hash FROM blocks WHERE chain_id = ? AND number = ?", (self.chain_id, number)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def prune_blocks(self, below: int) -> int:
        """Forgets the hashes of blocks numbered below `below` (deeper than any reorg to expect); returns how many."""
        with self.transaction(), self._sql("prune blocks"):
            cursor = self._db.execute("DELETE FROM blocks WHERE chain_id = ? AND number < ?", (self.chain_id, below))
            return cursor.rowcount


from verinfer.node.txlog import TxLog  # noqa: E402 - TxLog builds on this module's Journal
