"""Keeps the journal bounded: finished jobs (confirmed, finalized, failed) and their mined transactions are deleted
once they are older than the retention and deeper than any reorg to expect, a bounded number per pass, so the
journal's size and the cost of a tick stay flat however long the node runs. A pruned request that the watcher sees
again (a rescan) is checked against the hub's status before anything is sent, so pruning never causes a second
delivery."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from verinfer.node.track import REORG_WINDOW

PRUNE_EVERY_S = 60.0
PRUNE_LIMIT = 10_000  # rows per table per pass: a pass stays short even on a journal with a long history


class PrunableTxs(Protocol):
    def prune(self, *, created_before: float, mined_below: int, limit: int = ...) -> int: ...


class PrunableStore(Protocol):
    @property
    def txs(self) -> PrunableTxs: ...

    def prune(self, *, finished_before: float, below_block: int, limit: int = ...) -> int: ...


class Pruner:
    def __init__(
        self,
        store: PrunableStore,
        log: Any,
        *,
        retention_s: float,
        every_s: float = PRUNE_EVERY_S,
        depth: int = REORG_WINDOW,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.log = log
        self.retention_s = retention_s
        self.every_s = every_s
        self.depth = depth
        self._wall = wall
        self._monotonic = monotonic
        self._next = 0.0
        self.pruned_jobs = 0
        self.pruned_txs = 0

    def step(self, head: int) -> int:
        """Prunes if `every_s` passed since the last pass; returns how many rows went."""
        now = self._monotonic()
        if now < self._next:
            return 0
        self._next = now + self.every_s
        cutoff = self._wall() - self.retention_s
        below = head - self.depth
        if below <= 0:
            return 0
        jobs = self.store.prune(finished_before=cutoff, below_block=below, limit=PRUNE_LIMIT)
        txs = self.store.txs.prune(created_before=cutoff, mined_below=below, limit=PRUNE_LIMIT)
        if jobs or txs:
            self._next = now  # more may be left: the next new block prunes again
            self.pruned_jobs += jobs
            self.pruned_txs += txs
            self.log.info("journal pruned", jobs=jobs, txs=txs, older_than_s=self.retention_s, below_block=below)
        return jobs + txs
