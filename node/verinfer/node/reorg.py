"""The node's one reorg handler. Two things tell it that blocks were replaced: the watcher (the cursor's block left
the chain: `blocks_replaced`) and the tracker's audit of recent receipts (a mined transaction of ours is gone,
possibly above the cursor where the watcher cannot see: `txs_gone`). Either way the jobs whose event or whose
transaction was in the replaced blocks start again from `seen` (salts kept: a commit re-mined on the new branch
must still be revealable), the transactions forget where they were mined, and the nonce manager re-reads the chain
(its count can fall below what was confirmed)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from verinfer.node.ports import TxStore


class ReorgStore(Protocol):
    @property
    def txs(self) -> TxStore: ...

    def transaction(self) -> AbstractContextManager[None]: ...
    def reset_to_seen(self, request_ids: Sequence[int]) -> int: ...
    def request_ids_from_block(self, block_number: int) -> list[int]: ...
    def request_ids_with_tx(self, tx_hash: bytes) -> list[int]: ...
    def request_ids_with_tx_mined_from(self, block_number: int) -> list[int]: ...


class Nonces(Protocol):
    def forget(self) -> None: ...


class ReorgHandler:
    def __init__(self, store: ReorgStore, nonces: Nonces, log: Any) -> None:
        self.store = store
        self.nonces = nonces
        self.log = log

    def blocks_replaced(self, first: int) -> list[int]:
        """Blocks from `first` on are gone: restarts the jobs whose event or transaction was there; returns their
        ids. Call it inside the transaction that moves the cursor back."""
        store = self.store
        with store.transaction():
            ids = sorted(set(store.request_ids_from_block(first)) | set(store.request_ids_with_tx_mined_from(first)))
            store.reset_to_seen(ids)
            store.txs.unmine_from(first)
        self.nonces.forget()
        self.log.warning("reorg", first_replaced_block=first, jobs_restarted=len(ids))
        return ids

    def txs_gone(self, tx_hashes: Sequence[bytes]) -> list[int]:
        """These mined transactions have no receipt any more: restarts their jobs, whatever state they reached;
        returns the ids."""
        store = self.store
        restarted: set[int] = set()
        with store.transaction():
            for tx_hash in tx_hashes:
                ids = store.request_ids_with_tx(tx_hash)
                store.reset_to_seen(ids)
                restarted.update(ids)
                store.txs.set_mined(tx_hash, None)
        self.nonces.forget()
        self.log.warning("reorg took out mined transactions", txs=len(tx_hashes), jobs_restarted=len(restarted))
        return sorted(restarted)
