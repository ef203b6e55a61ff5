"""The node's durable journal, on SQLite in WAL mode: its jobs (`jobs`), the transactions it signed (`transactions`)
and where it is on the chain (`position`), behind one facade, `Journal`.

    journal = Journal("journal.sqlite", chain_id, hub)
    with journal.transaction():                  # one SQLite transaction across all three tables
        journal.txs.record(tx.hash, tx.nonce, "submit", tx.raw)
        journal.mark_submitted(request_id, tx.hash, tx.nonce)

Record a transaction *before* broadcasting it: a signed transaction's hash and nonce are known before it is sent,
so a crash between sending and recording never loses a nonce or, worse, the salt behind an on-chain commit. The
`txs` table keeps every signed transaction's raw bytes, so after a crash the very same transaction can be broadcast
again instead of a second one that could also be mined.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from verinfer.node.journal.db import SCHEMA_VERSION, Database, bytes32
from verinfer.node.journal.finals import Final, Finals
from verinfer.node.journal.jobs import Job, Jobs
from verinfer.node.journal.position import ChainPosition, Cursor
from verinfer.node.journal.states import (
    PENDING_STATES,
    IllegalTransitionError,
    JobState,
    JournalError,
    UnknownJobError,
)
from verinfer.node.journal.transactions import SentTx, TxLog
from verinfer.node.journal.watch import Check, Checks, DisputeRecord, DisputeRecords, ScanCursors

__all__ = [
    "PENDING_STATES",
    "SCHEMA_VERSION",
    "ChainPosition",
    "Check",
    "Checks",
    "Cursor",
    "DisputeRecord",
    "DisputeRecords",
    "Final",
    "Finals",
    "IllegalTransitionError",
    "Job",
    "JobState",
    "Journal",
    "JournalError",
    "ScanCursors",
    "SentTx",
    "TxLog",
    "UnknownJobError",
]


class Journal(Jobs):
    """The jobs (its own methods), transactions (`txs`) and chain position (`position`, with the cursor methods
    repeated here) of one hub, in a SQLite file that several hubs may share.

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
        self.db = Database(path, chain_id, hub, busy_timeout=busy_timeout, clock=clock)
        super().__init__(self.db)
        self.path = self.db.path
        self.chain_id = self.db.chain_id
        self.hub = self.db.hub
        self.txs = TxLog(self.db)
        """The signed transactions of this hub's jobs."""
        self.position = ChainPosition(self.db)
        """The scan cursor and recent block hashes."""
        self.finals = Finals(self.db)
        """The callbacks this node delivers once its SINGLE results are final."""
        self.checks = Checks(self.db)
        """Other nodes' results this node re-executes (a watchtower)."""
        self.disputes = DisputeRecords(self.db)
        """The disputes this node sits on or opened."""
        self.scans = ScanCursors(self.db)
        """Where the watch scans of the chain's logs are."""
        self.cursor = self.position.cursor
        self.set_cursor = self.position.set_cursor
        self.record_block = self.position.record_block
        self.block_hash = self.position.block_hash
        self.prune_blocks = self.position.prune_blocks
        self.file_problem = self.db.file_problem

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen or none do. Nested blocks are savepoints: an inner failure undoes only itself."""
        with self.db.transaction():
            yield

    def identity(self) -> tuple[bytes, bytes] | None:
        """(genesis block hash, keccak of the hub's code) of the chain this journal's records are from, if known."""
        with self.db.sql("read the chain identity"):
            row = self.db.connection.execute(
                "SELECT genesis_hash, hub_code_hash FROM identity WHERE chain_id = ? AND hub = ?", self.db.key
            ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def set_identity(self, genesis_hash: bytes, hub_code_hash: bytes) -> None:
        values = (*self.db.key, bytes32("genesis_hash", genesis_hash), bytes32("hub_code_hash", hub_code_hash))
        with self.db.transaction(), self.db.sql("record the chain identity"):
            self.db.connection.execute(
                "INSERT OR REPLACE INTO identity (chain_id, hub, genesis_hash, hub_code_hash, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (*values, self.db.clock()),
            )

    def forget_chain(self, reason: str) -> int:
        """The records describe another chain (a reset, a redeploy): every job is quarantined with `reason`, the
        transactions, cursor and block hashes are dropped. Returns how many jobs were quarantined."""
        with self.transaction():
            moved = self.quarantine_all(reason)
            with self.db.sql("forget the chain"):
                self.db.connection.execute("DELETE FROM txs WHERE chain_id = ? AND hub = ?", self.db.key)
                self.db.connection.execute("DELETE FROM cursors WHERE chain_id = ? AND hub = ?", self.db.key)
                self.db.connection.execute("DELETE FROM blocks WHERE chain_id = ?", (self.db.chain_id,))
        return moved

    def clear_cursor(self) -> None:
        """Forgets the scan position: the next poll starts at the watcher's start block."""
        with self.db.transaction(), self.db.sql("clear the cursor"):
            self.db.connection.execute("DELETE FROM cursors WHERE chain_id = ? AND hub = ?", self.db.key)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
