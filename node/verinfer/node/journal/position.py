"""Where the node is on the chain: the scan cursor (the last block whose events are fully journalled) and the
hashes of recent blocks, to find the fork point after a reorg."""

from __future__ import annotations

from dataclasses import dataclass

from verinfer.node.journal.db import Database, bytes32, counter


@dataclass(frozen=True)
class Cursor:
    """The last block whose events the node has fully processed."""

    block_number: int
    block_hash: bytes


class ChainPosition:
    """The `cursors` and `blocks` tables of one journal (same connection, same transactions)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def cursor(self) -> Cursor | None:
        with self._db.sql("read the cursor"):
            row = self._db.connection.execute(
                "SELECT block_number, block_hash FROM cursors WHERE chain_id = ? AND hub = ?", self._db.key
            ).fetchone()
        return None if row is None else Cursor(int(row[0]), bytes(row[1]))

    def set_cursor(self, block_number: int, block_hash: bytes) -> None:
        """Moves the cursor, forwards or (after a reorg) backwards."""
        values = (*self._db.key, counter("block_number", block_number), bytes32("block_hash", block_hash))
        with self._db.transaction(), self._db.sql("move the cursor"):
            self._db.connection.execute(
                "INSERT INTO cursors (chain_id, hub, block_number, block_hash, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (chain_id, hub) DO UPDATE SET block_number = excluded.block_number,"
                " block_hash = excluded.block_hash, updated_at = excluded.updated_at",
                (*values, self._db.clock()),
            )

    def record_block(self, number: int, block_hash: bytes) -> None:
        """Remembers a block's hash (replacing the one a reorg orphaned)."""
        values = (self._db.chain_id, counter("number", number), bytes32("block_hash", block_hash))
        with self._db.transaction(), self._db.sql("record a block"):
            self._db.connection.execute(
                "INSERT OR REPLACE INTO blocks (chain_id, number, hash) VALUES (?, ?, ?)", values
            )

    def block_hash(self, number: int) -> bytes | None:
        with self._db.sql("read a block"):
            row = self._db.connection.execute(
                "SELECT hash FROM blocks WHERE chain_id = ? AND number = ?", (self._db.chain_id, number)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def prune_blocks(self, below: int) -> int:
        """Forgets the hashes of blocks numbered below `below` (deeper than any reorg to expect); returns how many."""
        with self._db.transaction(), self._db.sql("prune blocks"):
            cursor = self._db.connection.execute(
                "DELETE FROM blocks WHERE chain_id = ? AND number < ?", (self._db.chain_id, below)
            )
            return cursor.rowcount
