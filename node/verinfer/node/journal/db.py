"""The journal's SQLite file: connection (WAL, full sync), schema and its upgrades, transactions and savepoints,
and the checks every table applies to its values. The tables (`jobs`, `transactions`, `position`) share one
`Database`, so one `with db.transaction():` covers writes to all of them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from verinfer.node.journal.states import PENDING_STATES, JobState, JournalError, sql_in

SCHEMA_VERSION = 4
"""2 added the txs table, 3 the jobs.proof column, 4 made jobs.params the complete request params (ten ABI words,
the model's terms included) instead of the event's eight words. Older files are upgraded in place: the tables here,
and rows of version 3 by the node at start-up, which reads the terms (`verinfer.node.ingest.Ingest.complete_legacy`).
A version 4 file is refused by an older verinfer, which would misread the new params. The finals table (callbacks this
node delivers once final) and the watch tables (results checked, disputes followed, scan cursors) came later without
a new version: they are created where missing, and a verinfer without them reads the rest unchanged."""
INT64_MAX = 2**63 - 1  # SQLite's INTEGER; request ids and nonces are counters that never get near it

_HAS_OUTPUT = sql_in(
    [
        JobState.COMPUTED,
        JobState.SUBMITTED,
        JobState.CONFIRMED,
        JobState.COMMITTED,
        JobState.REVEALED,
        JobState.FINALIZED,
    ]
)
_HAS_SUBMIT = sql_in([JobState.SUBMITTED, JobState.CONFIRMED])
_HAS_COMMIT = sql_in([JobState.COMMITTED, JobState.REVEALED, JobState.FINALIZED])
_HAS_REVEAL = sql_in([JobState.REVEALED, JobState.FINALIZED])

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL CHECK (request_id >= 1),
    state           TEXT    NOT NULL CHECK (state IN {sql_in(JobState)}),
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
    failed_from     TEXT    CHECK (failed_from IN {sql_in(PENDING_STATES)}),
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
CREATE INDEX IF NOT EXISTS jobs_by_state_age ON jobs (chain_id, hub, state, state_at);
CREATE INDEX IF NOT EXISTS jobs_by_submit_tx ON jobs (chain_id, hub, submit_tx_hash) WHERE state = 'submitted';
CREATE INDEX IF NOT EXISTS jobs_by_commit_tx ON jobs (chain_id, hub, commit_tx_hash) WHERE state = 'committed';
CREATE INDEX IF NOT EXISTS jobs_by_reveal_tx ON jobs (chain_id, hub, reveal_tx_hash) WHERE state = 'revealed';

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
CREATE INDEX IF NOT EXISTS txs_unmined ON txs (chain_id, hub, kind, created_at) WHERE mined_block IS NULL;
CREATE INDEX IF NOT EXISTS txs_by_mined ON txs (chain_id, hub, mined_block) WHERE mined_block IS NOT NULL;

CREATE TABLE IF NOT EXISTS identity (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    genesis_hash    BLOB    NOT NULL CHECK (length(genesis_hash) = 32),
    hub_code_hash   BLOB    NOT NULL CHECK (length(hub_code_hash) = 32),
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS quarantine (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    params          BLOB    NOT NULL,
    input           BLOB    NOT NULL,
    output          BLOB,
    fail_reason     TEXT,
    reason          TEXT    NOT NULL,
    quarantined_at  REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub, request_id, quarantined_at)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS finals (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL CHECK (request_id >= 1),
    params          BLOB    NOT NULL,
    output          BLOB    NOT NULL,
    env_hash        BLOB    NOT NULL CHECK (length(env_hash) = 32),
    final_at        INTEGER CHECK (final_at >= 0),
    tx_hash         BLOB    CHECK (length(tx_hash) = 32),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS finals_by_due ON finals (chain_id, hub, final_at) WHERE tx_hash IS NULL;
CREATE INDEX IF NOT EXISTS finals_by_tx ON finals (chain_id, hub, tx_hash) WHERE tx_hash IS NOT NULL;

CREATE TABLE IF NOT EXISTS scan_cursors (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (chain_id, hub, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS checks (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL CHECK (request_id >= 1),
    node            TEXT    NOT NULL,
    env_hash        BLOB    NOT NULL CHECK (length(env_hash) = 32),
    output          BLOB    NOT NULL,
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'agreed', 'mismatch', 'challenged', 'declined')),
    expected        BLOB,
    tx_hash         BLOB    CHECK (length(tx_hash) = 32),
    note            TEXT,
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS checks_by_state ON checks (chain_id, hub, state, request_id);

CREATE TABLE IF NOT EXISTS disputes (
    chain_id        INTEGER NOT NULL,
    hub             TEXT    NOT NULL,
    request_id      INTEGER NOT NULL CHECK (request_id >= 1),
    role            TEXT    NOT NULL CHECK (role IN ('member', 'challenger')),
    lottery         BLOB    NOT NULL CHECK (length(lottery) = 32),
    block_number    INTEGER NOT NULL CHECK (block_number >= 0),
    output          BLOB,
    outcome         TEXT,
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (chain_id, hub, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS disputes_open ON disputes (chain_id, hub, request_id) WHERE outcome IS NULL;

CREATE TABLE IF NOT EXISTS blocks (
    chain_id        INTEGER NOT NULL,
    number          INTEGER NOT NULL CHECK (number >= 0),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (chain_id, number)
) WITHOUT ROWID;
"""


def bytes32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise JournalError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def counter(name: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT64_MAX:
        raise JournalError(f"{name} must be an integer in [{minimum}, 2**63 - 1], got {value!r}")
    return value


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None if there is none (or for SQLite's in-memory names)."""
    if str(path) in ("", ":memory:"):
        return None
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class Database:
    """One journal file, opened for one (chain id, hub). Not thread-safe: one thread at a time uses it."""

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
        self.chain_id = counter("chain_id", chain_id, minimum=1)
        try:
            self.hub: ChecksumAddress = to_checksum_address(hub)
        except (TypeError, ValueError) as exc:
            raise JournalError(f"hub must be a 20-byte address, got {hub!r}") from exc
        self.clock = clock
        self.key = (self.chain_id, str(self.hub))
        """The (chain id, hub) every row of this journal is filed under."""
        self._depth = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: a service opens it in set-up and hands it to its scheduler thread; it is still
            # used by one thread at a time (see the class docstring).
            self.connection = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal at {self.path}: {exc}") from exc
        self.connection.row_factory = sqlite3.Row
        self._file = _file_identity(self.path)
        try:
            self._configure()
        except BaseException:
            self.connection.close()
            raise

    def file_problem(self) -> str | None:
        """Why the journal file on disk is no longer the one this process writes, if it is not: deleted or replaced
        while the node runs (SQLite keeps writing to the open, unlinked file, and everything is lost at exit)."""
        if self._file is None:
            return None
        now = _file_identity(self.path)
        if now == self._file:
            return None
        what = "deleted" if now is None else "replaced by another file"
        return (
            f"the journal file {self.path} was {what} while the node runs: its records now live only in this process"
            " and are lost when it stops. Stop the node (SIGTERM) and restore the file, or restart it on a fresh"
            " journal (nothing is delivered twice: the node checks each request's status on chain)"
        )

    def _configure(self) -> None:
        db = self.connection
        with self.sql("open"):
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(
                    f"the journal at {self.path} cannot use WAL mode (got {mode!r}): put it on a local filesystem"
                )
            # FULL, not NORMAL: in WAL mode NORMAL survives a process crash but may lose the last commits on power
            # loss. Losing "salt stored" or "submitted(nonce)" would mean an unrevealable commit (a slash) or a
            # reused nonce, and the node writes a handful of rows per request, so one fsync per commit is cheap.
            db.execute("PRAGMA synchronous=FULL")
            version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal at {self.path} has schema version {version}; this verinfer reads up to "
                f"{SCHEMA_VERSION}: upgrade verinfer or point the node at a fresh journal file"
            )
        with self.transaction():
            # One statement at a time: executescript would COMMIT the enclosing transaction first.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            if "proof" not in columns:  # a version 1 or 2 file
                db.execute("ALTER TABLE jobs ADD COLUMN proof BLOB")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.connection.close()

    def sql(self, doing: str) -> AbstractContextManager[None]:
        """SQLite errors inside become `JournalError`s naming the file and what was being done."""
        return _Sql(self.path, doing)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen or none do. Nested blocks are savepoints: an inner failure undoes only itself."""
        db = self.connection
        savepoint = f"sp{self._depth}"
        with self.sql("begin"):
            # IMMEDIATE takes the write lock up front, so a read-then-write never fails half-way on a busy upgrade.
            db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            with self.sql("rollback"):
                if not db.in_transaction:
                    pass  # SQLite already rolled back (it does on some errors, such as a full disk)
                elif self._depth == 0:
                    db.execute("ROLLBACK")
                else:
                    db.execute(f"ROLLBACK TO {savepoint}")
                    db.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        try:
            db.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")
        except sqlite3.Error as exc:
            if self._depth == 0 and db.in_transaction:
                db.execute("ROLLBACK")
            raise JournalError(f"journal {self.path}: commit failed: {exc}") from exc


class _Sql:
    """`Database.sql`: a class, not a generator context manager, as every journal read and write passes through it."""

    __slots__ = ("_doing", "_path")

    def __init__(self, path: Path, doing: str) -> None:
        self._path = path
        self._doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, sqlite3.Error):
            raise JournalError(f"journal {self._path}: {self._doing} failed: {exc}") from exc
