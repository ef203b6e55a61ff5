"""The `finals` table: SINGLE results this node delivered whose requester asked for its callback at finality
(`CALLBACK_ON_FINAL`). A row is written in the same journal transaction that confirms the delivery, holds everything
`deliverFinal` needs (params, output, env hash: the job may be pruned first), and leaves the table once the hub has
closed the request (this node's `deliverFinal` was mined, or a dispute or another caller settled it).

    due ──(deliverFinal signed: tx_hash)──> sent ──(mined, hub CONFIRMED)──> deleted
                                               └──(reverted, dropped)──> due again (attempts + 1)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from verinfer.node.journal.db import Database, bytes32, counter


@dataclass(frozen=True)
class Final:
    """A callback this node owes once its result is final."""

    request_id: int
    params: bytes
    output: bytes
    env_hash: bytes
    final_at: int | None
    """When the result is final (the hub's `finalityOf`), None until read."""
    tx_hash: bytes | None
    """The `deliverFinal` carrying it, while one is in flight."""
    attempts: int


_COLUMNS = "request_id, params, output, env_hash, final_at, tx_hash, attempts"


def _final(row: sqlite3.Row) -> Final:
    return Final(
        int(row[0]),
        bytes(row[1]),
        bytes(row[2]),
        bytes(row[3]),
        None if row[4] is None else int(row[4]),
        None if row[5] is None else bytes(row[5]),
        int(row[6]),
    )


class Finals:
    """The `finals` table of one journal (same connection, same transactions)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_many(self, rows: Sequence[tuple[int, bytes, bytes, bytes]]) -> None:
        """Records (request id, params, output, env hash) of confirmed deliveries; a known request is left alone."""
        now = self._db.clock()
        values = [
            (*self._db.key, counter("request_id", rid, minimum=1), bytes(p), bytes(out), bytes32("env_hash", env), now)
            for rid, p, out, env in rows
        ]
        with self._db.transaction(), self._db.sql("record final callbacks"):
            self._db.connection.executemany(
                "INSERT OR IGNORE INTO finals (chain_id, hub, request_id, params, output, env_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def due(self, now: int, *, limit: int = 1_000) -> list[Final]:
        """Up to `limit` callbacks not in flight whose finality is unknown or at or before `now`, lowest id first."""
        with self._db.sql("list due final callbacks"):
            rows = self._db.connection.execute(
                f"SELECT {_COLUMNS} FROM finals WHERE chain_id = ? AND hub = ? AND tx_hash IS NULL"
                " AND (final_at IS NULL OR final_at <= ?) ORDER BY request_id LIMIT ?",
                (*self._db.key, int(now), counter("limit", limit, minimum=1)),
            ).fetchall()
        return [_final(row) for row in rows]

    def in_flight(self, *, limit: int = 1_000) -> list[Final]:
        """Up to `limit` callbacks whose `deliverFinal` is signed, lowest id first."""
        with self._db.sql("list final callbacks in flight"):
            rows = self._db.connection.execute(
                f"SELECT {_COLUMNS} FROM finals WHERE chain_id = ? AND hub = ? AND tx_hash IS NOT NULL"
                " ORDER BY request_id LIMIT ?",
                (*self._db.key, counter("limit", limit, minimum=1)),
            ).fetchall()
        return [_final(row) for row in rows]

    def get(self, request_id: int) -> Final | None:
        with self._db.sql("read a final callback"):
            row = self._db.connection.execute(
                f"SELECT {_COLUMNS} FROM finals WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (*self._db.key, int(request_id)),
            ).fetchone()
        return None if row is None else _final(row)

    def set_final_at(self, request_id: int, final_at: int) -> None:
        with self._db.transaction(), self._db.sql("record when a result is final"):
            self._db.connection.execute(
                "UPDATE finals SET final_at = ? WHERE chain_id = ? AND hub = ? AND request_id = ?",
                (counter("final_at", final_at), *self._db.key, int(request_id)),
            )

    def mark_sent(self, request_ids: Iterable[int], tx_hash: bytes) -> None:
        """The callbacks go out in `tx_hash` (record the transaction in the same journal transaction)."""
        tx_hash = bytes32("tx_hash", tx_hash)
        with self._db.transaction(), self._db.sql("mark final callbacks sent"):
            self._db.connection.executemany(
                "UPDATE finals SET tx_hash = ? WHERE chain_id = ? AND hub = ? AND request_id = ?",
                [(tx_hash, *self._db.key, int(rid)) for rid in request_ids],
            )

    def retry(self, request_ids: Iterable[int]) -> None:
        """Their `deliverFinal` did not close them (reverted or lost): due again, one more attempt counted."""
        with self._db.transaction(), self._db.sql("retry final callbacks"):
            self._db.connection.executemany(
                "UPDATE finals SET tx_hash = NULL, attempts = attempts + 1 WHERE chain_id = ? AND hub = ?"
                " AND request_id = ?",
                [(*self._db.key, int(rid)) for rid in request_ids],
            )

    def remove(self, request_ids: Iterable[int]) -> None:
        """The hub closed these requests: nothing is owed any more."""
        with self._db.transaction(), self._db.sql("remove final callbacks"):
            self._db.connection.executemany(
                "DELETE FROM finals WHERE chain_id = ? AND hub = ? AND request_id = ?",
                [(*self._db.key, int(rid)) for rid in request_ids],
            )

    def count(self) -> int:
        with self._db.sql("count final callbacks"):
            row = self._db.connection.execute(
                "SELECT count(*) FROM finals WHERE chain_id = ? AND hub = ?", self._db.key
            ).fetchone()
        return int(row[0])
