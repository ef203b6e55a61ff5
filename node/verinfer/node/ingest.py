"""Ingest: the watcher's batches of `InferenceRequested` events into the journal, with the complete request params
(event fields plus the model's terms, read once per model), and the node's scan position (cursor and recent block
hashes). A reorg the watcher reports goes to the one `ReorgHandler` first, in the same journal transaction that
moves the cursor back.

    ingest = Ingest(watcher, journal, hub, reorgs)
    ingest.complete_legacy()      # once at start: rows from a schema 3 journal get their model terms
    batch = ingest.poll()         # one bounded step; batch.requests are the new (or re-seen) jobs
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from verinfer.chain.events import InferenceRequested
from verinfer.chain.watcher import DeepReorgError, KnownBlocks, LogBatch, Position
from verinfer.errors import ChainError
from verinfer.node.journal import Cursor, Job
from verinfer.node.ports import Timer
from verinfer.node.reorg import ReorgHandler
from verinfer.node.request import LEGACY_PARAMS_BYTES, event_params, legacy_model_id, legacy_params
from verinfer.types import ModelTerms


class LogSource(Protocol):
    """The watcher's face."""

    keep_blocks: int

    def poll(self, position: Position | None, known: KnownBlocks) -> LogBatch: ...


class IngestStore(KnownBlocks, Protocol):
    """The journal as ingestion writes it."""

    notes: list[tuple[int, str]]

    def transaction(self) -> AbstractContextManager[None]: ...
    def cursor(self) -> Cursor | None: ...
    def set_cursor(self, block_number: int, block_hash: bytes) -> None: ...
    def record_block(self, number: int, block_hash: bytes) -> None: ...
    def prune_blocks(self, below: int) -> int: ...
    def clear_cursor(self) -> None: ...
    def upsert_seen_many(self, events: Sequence[tuple[int, bytes, bytes, int, bytes]]) -> None: ...
    def jobs_with_params_length(self, length: int, *, limit: int = ...) -> list[Job]: ...
    def set_params(self, request_id: int, params: bytes) -> None: ...


class TermsReader(Protocol):
    def terms_of(self, model_id: bytes) -> ModelTerms: ...


class Ingest:
    def __init__(
        self,
        watcher: LogSource,
        store: IngestStore,
        hub: TermsReader,
        reorgs: ReorgHandler,
        *,
        timer: Timer | None = None,
        log: Any | None = None,
    ) -> None:
        self.watcher = watcher
        self.store = store
        self.hub = hub
        self.reorgs = reorgs
        self.log = log
        self.reappeared = 0
        """Failed jobs whose request was re-mined, started again (since start)."""
        self.quarantined = 0
        self.rollbacks = 0
        """Journal records replaced because their id now names another request (since start)."""
        self._timer: Timer = timer if timer is not None else (lambda _section: nullcontext())
        self._terms: dict[bytes, ModelTerms] = {}

    def terms(self, model_id: bytes) -> ModelTerms:
        """The model's terms, read once per model (output size and env restriction never change)."""
        terms = self._terms.get(model_id)
        if terms is None:
            terms = self.hub.terms_of(model_id)
            if not terms.exists:
                raise ChainError(f"model 0x{bytes(model_id).hex()} has no terms on the hub, yet a request names it")
            self._terms[bytes(model_id)] = terms
        return terms

    def poll(self) -> LogBatch:
        """One watcher step stored: reorg undone, events journalled as `seen`, block hashes kept, cursor moved.

        A rollback below everything recorded (`DeepReorgError`) restarts every job from the first block on and
        rescans from the watcher's start block: the chain as it is wins over the journal."""
        store = self.store
        try:
            batch = self.watcher.poll(store.cursor(), store)
        except DeepReorgError as exc:
            with store.transaction():
                restarted = self.reorgs.blocks_replaced(0)
                store.clear_cursor()
            self.rollbacks += 1
            if self.log is not None:
                self.log.error("chain rolled back below the journal's records", detail=str(exc), jobs=len(restarted))
            batch = self.watcher.poll(None, store)
        rows = [self._row(event, batch.block_hashes[event.block_number]) for event in batch.requests]
        with self._timer("journal"), store.transaction():
            if batch.reorg is not None:
                self.reorgs.blocks_replaced(batch.reorg.first_replaced)
                store.set_cursor(batch.reorg.ancestor.block_number, batch.reorg.ancestor.block_hash)
            if batch.end is not None:
                store.upsert_seen_many(rows)
                for number, block_hash in batch.block_hashes.items():
                    store.record_block(number, block_hash)
                store.set_cursor(batch.end.block_number, batch.end.block_hash)
                store.prune_blocks(batch.end.block_number - self.watcher.keep_blocks)
        notes, store.notes[:] = list(store.notes), []
        for request_id, what in notes:
            if what == "reappeared":
                self.reappeared += 1
                if self.log is not None:
                    self.log.info("failed request reappeared on chain; serving it again", request_id=request_id)
            else:
                self.quarantined += 1
                if self.log is not None:
                    self.log.error(
                        "journal record quarantined: its request id now names another request (reorg or chain reset);"
                        " serving the chain as it is",
                        request_id=request_id,
                    )
        return batch

    def _row(self, event: InferenceRequested, block_hash: bytes) -> tuple[int, bytes, bytes, int, bytes]:
        return (
            event.request_id,
            event_params(event, self.terms(event.model_id)),
            event.input,
            event.block_number,
            block_hash,
        )

    def complete_legacy(self) -> int:
        """Gives every job a schema 3 journal recorded (the event's words only) its complete params; returns how
        many were completed."""
        done = 0
        while jobs := self.store.jobs_with_params_length(LEGACY_PARAMS_BYTES, limit=500):
            with self.store.transaction():
                for job in jobs:
                    self.store.set_params(job.request_id, legacy_params(job, self.terms(legacy_model_id(job))))
            done += len(jobs)
        return done
