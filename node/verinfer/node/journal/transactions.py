"""The node's signed transactions, kept in the journal's database (table `txs`) before each is broadcast: hash,
nonce, kind, raw bytes and, once mined, the block. After a crash the very same bytes go out again; after a reorg the
mined blocks are forgotten; replacements (same nonce) are found by nonce.

    journal.txs.record(tx_hash, nonce, "submit", raw)    # in the same journal transaction as the job's move
    journal.txs.set_mined(tx_hash, block)                  # once its receipt is seen
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from verinfer.node.journal.db import Database, bytes32, counter
from verinfer.node.journal.states import JournalError

_IN_FLIGHT = (
    ("submitted", "submit_tx_hash", "jobs_by_submit_tx"),
    ("committed", "commit_tx_hash", "jobs_by_commit_tx"),
    ("revealed", "reveal_tx_hash", "jobs_by_reveal_tx"),
)
"""(state, its transaction column, the partial index on it): without stats SQLite prefers the primary key, a scan
of the hub's jobs, so the prune names the index."""


@dataclass(frozen=True)
class SentTx:
    """A signed transaction the node recorded before broadcasting it."""

    hash: bytes
    nonce: int
    kind: str
    raw: bytes
    created_at: float
    mined_block: int | None


class TxLog:
    """The `txs` table of one journal (same connection, same transactions)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, tx_hash: bytes, nonce: int, kind: str, raw: bytes) -> SentTx:
        """Keeps a signed transaction (before it is broadcast). Recording the same hash again is a no-op."""
        values = (*self._db.key, bytes32("tx_hash", tx_hash), counter("nonce", nonce), str(kind), bytes(raw))
        with self._db.transaction(), self._db.sql("record a transaction"):
            self._db.connection.execute(
                "INSERT OR IGNORE INTO txs (chain_id, hub, hash, nonce, kind, raw, created_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?)",
                (*values, self._db.clock()),
            )
        found = self.get(tx_hash)
        if found is None:  # pragma: no cover - the insert above either wrote it or found it
            raise JournalError(f"transaction 0x{tx_hash.hex()} vanished after recording")
        return found

    def get(self, tx_hash: bytes) -> SentTx | None:
        with self._db.sql("read a transaction"):
            row = self._db.connection.execute(
                "SELECT hash, nonce, kind, raw, created_at, mined_block FROM txs WHERE chain_id = ? AND hub = ?"
                " AND hash = ?",
                (*self._db.key, bytes32("tx_hash", tx_hash)),
            ).fetchone()
        return None if row is None else _sent(row)

    def with_nonce(self, nonce: int) -> list[SentTx]:
        """Every recorded transaction signed with `nonce` (an original and its replacements), oldest first."""
        with self._db.sql("list transactions by nonce"):
            rows = self._db.connection.execute(
                "SELECT hash, nonce, kind, raw, created_at, mined_block FROM txs WHERE chain_id = ? AND hub = ?"
                " AND nonce = ? ORDER BY created_at",
                (*self._db.key, counter("nonce", nonce)),
            ).fetchall()
        return [_sent(row) for row in rows]

    def set_mined(self, tx_hash: bytes, block_number: int | None) -> None:
        """Records the block a transaction was mined in (None: a reorg took it out again)."""
        block = None if block_number is None else counter("block_number", block_number)
        with self._db.transaction(), self._db.sql("record a mined transaction"):
            self._db.connection.execute(
                "UPDATE txs SET mined_block = ? WHERE chain_id = ? AND hub = ? AND hash = ?",
                (block, *self._db.key, bytes32("tx_hash", tx_hash)),
            )

    def unmined(self, kind: str, *, limit: int = 1_000) -> list[SentTx]:
        """Recorded transactions of `kind` not (yet) mined, oldest first: those no job points at (finalizations)
        still have to be followed so that their nonces never leave a hole."""
        with self._db.sql("list unmined transactions"):
            rows = self._db.connection.execute(
                "SELECT hash, nonce, kind, raw, created_at, mined_block FROM txs WHERE chain_id = ? AND hub = ?"
                " AND kind = ? AND mined_block IS NULL ORDER BY created_at LIMIT ?",
                (*self._db.key, str(kind), counter("limit", limit, minimum=1)),
            ).fetchall()
        return [_sent(row) for row in rows]

    def forget(self, tx_hash: bytes) -> None:
        """Drops a transaction record that no job needs (a finalization someone else's transaction made moot)."""
        with self._db.transaction(), self._db.sql("forget a transaction"):
            self._db.connection.execute(
                "DELETE FROM txs WHERE chain_id = ? AND hub = ? AND hash = ?",
                (*self._db.key, bytes32("tx_hash", tx_hash)),
            )

    def mined_since(self, block_number: int) -> list[SentTx]:
        """Transactions recorded as mined in `block_number` or later: the ones a reorg could still take out."""
        with self._db.sql("list recently mined transactions"):
            rows = self._db.connection.execute(
                "SELECT hash, nonce, kind, raw, created_at, mined_block FROM txs WHERE chain_id = ? AND hub = ?"
                " AND mined_block IS NOT NULL AND mined_block >= ? ORDER BY mined_block",
                (*self._db.key, counter("block_number", block_number)),
            ).fetchall()
        return [_sent(row) for row in rows]

    def prune(self, *, created_before: float, mined_below: int, limit: int = 10_000) -> int:
        """Deletes up to `limit` transactions mined below `mined_below` (final), recorded before `created_before`,
        that no job still in flight points at; returns how many."""
        with self._db.transaction(), self._db.sql("prune transactions"):
            cursor = self._db.connection.execute(
                "DELETE FROM txs WHERE chain_id = ? AND hub = ? AND hash IN (SELECT t.hash FROM txs t"
                " WHERE t.chain_id = ? AND t.hub = ? AND t.mined_block IS NOT NULL AND t.mined_block < ?"
                " AND t.created_at < ?"
                + "".join(  # one indexed probe per in-flight state (jobs_by_state), never a scan of the jobs
                    f" AND NOT EXISTS (SELECT 1 FROM jobs j INDEXED BY {index} WHERE j.chain_id = ? AND j.hub = ?"
                    f" AND j.state = '{state}' AND j.{column} = t.hash)"
                    for state, column, index in _IN_FLIGHT
                )
                + " LIMIT ?)",
                (
                    *self._db.key,
                    *self._db.key,
                    counter("mined_below", mined_below),
                    created_before,
                    *(self._db.key * len(_IN_FLIGHT)),
                    limit,
                ),
            )
            return max(cursor.rowcount, 0)

    def unmine_from(self, block_number: int) -> int:
        """Forgets the inclusion of every transaction mined in `block_number` or later (a reorg replaced them)."""
        with self._db.transaction(), self._db.sql("forget mined transactions"):
            cursor = self._db.connection.execute(
                "UPDATE txs SET mined_block = NULL WHERE chain_id = ? AND hub = ? AND mined_block IS NOT NULL"
                " AND mined_block >= ?",
                (*self._db.key, counter("block_number", block_number)),
            )
            return cursor.rowcount


def _sent(row: sqlite3.Row) -> SentTx:
    return SentTx(
        bytes(row[0]), int(row[1]), str(row[2]), bytes(row[3]), float(row[4]), None if row[5] is None else int(row[5])
    )
