"""The watch tables: other nodes' SINGLE results this node re-executes (`checks`), the disputes it follows as a
committee member or a challenger (`disputes`) and where its scans of the hub's and the dispute contract's logs are
(`scan_cursors`). Each row is written before anything is sent for it, so a restarted node resumes every check and
every dispute (its dispute salts are derived from its key, never stored).

    checks:   pending ──(re-executed)──> agreed | mismatch ──(challenge signed)──> challenged
                                                          └──(not worth it, or too late)──> declined
    disputes: open (outcome NULL) ──(the dispute contract settled it)──> outcome
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from verinfer.node.journal.db import Database, bytes32, counter
from verinfer.node.journal.states import JournalError

CHECK_STATES = ("pending", "agreed", "mismatch", "challenged", "declined")
ROLES = ("member", "challenger")


@dataclass(frozen=True)
class Check:
    """Another node's SINGLE result and what re-executing it gave."""

    request_id: int
    node: str
    env_hash: bytes
    output: bytes
    block_number: int
    state: str
    expected: bytes | None
    """This node's output for the request, once computed."""
    tx_hash: bytes | None
    note: str | None


@dataclass(frozen=True)
class DisputeRecord:
    """A dispute this node takes part in."""

    request_id: int
    role: str
    lottery: int
    block_number: int
    """The block of its `DisputeOpened`."""
    output: bytes | None
    """A member's output for the request, once computed."""
    outcome: str | None


def _check(row: sqlite3.Row) -> Check:
    return Check(
        int(row[0]),
        str(row[1]),
        bytes(row[2]),
        bytes(row[3]),
        int(row[4]),
        str(row[5]),
        None if row[6] is None else bytes(row[6]),
        None if row[7] is None else bytes(row[7]),
        None if row[8] is None else str(row[8]),
    )


def _dispute(row: sqlite3.Row) -> DisputeRecord:
    return DisputeRecord(
        int(row[0]),
        str(row[1]),
        int.from_bytes(bytes(row[2]), "big"),
        int(row[3]),
        None if row[4] is None else bytes(row[4]),
        None if row[5] is None else str(row[5]),
    )


_CHECK_COLUMNS = "request_id, node, env_hash, output, block_number, state, expected, tx_hash, note"
_DISPUTE_COLUMNS = "request_id, role, lottery, block_number, output, outcome"


class Checks:
    """The `checks` table of one journal."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_many(self, rows: Sequence[tuple[int, str, bytes, bytes, int]]) -> None:
        """Records (request id, node, env hash, output, block) of results to re-execute; known ones are left."""
        now = self._db.clock()
        values = [
            (
                *self._db.key,
                counter("request_id", rid, minimum=1),
                str(node),
                bytes32("env_hash", env),
                bytes(output),
                counter("block_number", block),
                now,
            )
            for rid, node, env, output, block in rows
        ]
        with self._db.transaction(), self._db.sql("record results to check"):
            self._db.connection.executemany(
                "INSERT OR IGNORE INTO checks (chain_id, hub, request_id, node, env_hash, output, block_number, state,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                values,
            )

    def in_state(self, state: str, *, limit: int = 1_000) -> list[Check]:
        if state not in CHECK_STATES:
            raise JournalError(f"a check's state is one of {', '.join(CHECK_STATES)}, got {state!r}")
        with self._db.sql("list checks"):
            rows = self._db.connection.execute(
                f"SELECT {_CHECK_COLUMNS} FROM checks WHERE chain_id = ? AND hub = ? AND state = ?"
                " ORDER BY request_id LIMIT ?",
                (*self._db.key, state, counter("limit", limit, minimum=1)),
            ).fetchall()
        return [_check(row) for row in rows]

    def get(self, request_id: int) -> Check | None:
        with self._db.sql("read a check"):
            row = self._db.connection.execute(
                f"SELECT {_CHECK_COLUMNS} FROM checks WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (*self._db.key, int(request_id)),
            ).fetchone()
        return None if row is None else _check(row)

    def settle(
        self,
        request_id: int,
        state: str,
        *,
        expected: bytes | None = None,
        tx_hash: bytes | None = None,
        note: str | None = None,
    ) -> None:
        """Moves a check to `state`, keeping what it learnt (this node's output, its challenge, why)."""
        if state not in CHECK_STATES:
            raise JournalError(f"a check's state is one of {', '.join(CHECK_STATES)}, got {state!r}")
        with self._db.transaction(), self._db.sql("settle a check"):
            self._db.connection.execute(
                "UPDATE checks SET state = ?, expected = coalesce(?, expected), tx_hash = coalesce(?, tx_hash),"
                " note = coalesce(?, note), updated_at = ? WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (
                    state,
                    None if expected is None else bytes(expected),
                    None if tx_hash is None else bytes32("tx_hash", tx_hash),
                    note,
                    self._db.clock(),
                    *self._db.key,
                    int(request_id),
                ),
            )

    def count(self, state: str) -> int:
        with self._db.sql("count checks"):
            row = self._db.connection.execute(
                "SELECT count(*) FROM checks WHERE chain_id = ? AND hub = ? AND state = ?", (*self._db.key, state)
            ).fetchone()
        return int(row[0])


class DisputeRecords:
    """The `disputes` table of one journal."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, request_id: int, role: str, lottery: int, block_number: int) -> None:
        """Follows a dispute (a known one is left alone)."""
        if role not in ROLES:
            raise JournalError(f"a dispute role is one of {', '.join(ROLES)}, got {role!r}")
        with self._db.transaction(), self._db.sql("record a dispute"):
            self._db.connection.execute(
                "INSERT OR IGNORE INTO disputes (chain_id, hub, request_id, role, lottery, block_number, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    *self._db.key,
                    counter("request_id", request_id, minimum=1),
                    role,
                    int(lottery).to_bytes(32, "big"),
                    counter("block_number", block_number),
                    self._db.clock(),
                ),
            )

    def open(self, *, limit: int = 1_000) -> list[DisputeRecord]:
        """The disputes not settled yet, lowest request id first."""
        with self._db.sql("list open disputes"):
            rows = self._db.connection.execute(
                f"SELECT {_DISPUTE_COLUMNS} FROM disputes WHERE chain_id = ? AND hub = ? AND outcome IS NULL"
                " ORDER BY request_id LIMIT ?",
                (*self._db.key, counter("limit", limit, minimum=1)),
            ).fetchall()
        return [_dispute(row) for row in rows]

    def get(self, request_id: int) -> DisputeRecord | None:
        with self._db.sql("read a dispute"):
            row = self._db.connection.execute(
                f"SELECT {_DISPUTE_COLUMNS} FROM disputes WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (*self._db.key, int(request_id)),
            ).fetchone()
        return None if row is None else _dispute(row)

    def set_output(self, request_id: int, output: bytes) -> None:
        self._set(request_id, "output", bytes(output))

    def close(self, request_id: int, outcome: str) -> None:
        if not outcome:
            raise JournalError("a dispute's outcome must be named")
        self._set(request_id, "outcome", outcome)

    def _set(self, request_id: int, column: str, value: object) -> None:
        with self._db.transaction(), self._db.sql(f"set a dispute's {column}"):
            self._db.connection.execute(
                f"UPDATE disputes SET {column} = ?, updated_at = ? WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (value, self._db.clock(), *self._db.key, int(request_id)),
            )


class ScanCursors:
    """The last block each named log scan read (`scan_cursors`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str) -> int | None:
        with self._db.sql("read a scan cursor"):
            row = self._db.connection.execute(
                "SELECT block_number FROM scan_cursors WHERE chain_id = ? AND hub = ? AND name = ?",
                (*self._db.key, name),
            ).fetchone()
        return None if row is None else int(row[0])

    def set(self, name: str, block_number: int) -> None:
        with self._db.transaction(), self._db.sql("move a scan cursor"):
            self._db.connection.execute(
                "INSERT OR REPLACE INTO scan_cursors (chain_id, hub, name, block_number) VALUES (?, ?, ?, ?)",
                (*self._db.key, name, counter("block_number", block_number)),
            )
