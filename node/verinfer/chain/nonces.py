"""Hands out an account's nonces locally, so many transactions can be signed before any of them is sent.

    nonces = NonceManager(rpc, account.address)   # a JsonRpc (or a Web3)
    nonce = nonces.reserve()        # the chain's pending count on first use, then one more each time
    nonces.release(nonce)           # signing or sending failed: the nonce goes back, to be handed out again first
    nonces.confirm(nonce)           # its transaction is mined
    nonces.resync()                 # after a dropped or replaced transaction, or another sender on the account

The chain is read once, then only on `resync()`: one process must own the account, or call `resync()` often.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from eth_typing import ChecksumAddress
from web3 import Web3

from verinfer.chain.tx import rpc


@runtime_checkable
class PendingNonces(Protocol):
    """The one read the manager makes (what `JsonRpc` offers)."""

    def pending_nonce(self, address: str) -> int: ...


class NonceManager:
    """Thread-safe nonce bookkeeping for one account.

    A nonce is *reserved* from `reserve()` until `release()` or `confirm()`; `gap()` lists the reserved ones, which are
    the transactions a node still has to see mined. Released nonces are handed out again, lowest first, so the
    sequence the chain sees has no holes.
    """

    def __init__(self, chain: PendingNonces | Web3, address: str) -> None:
        self._chain = chain
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self._lock = threading.Lock()
        self._next: int | None = None  # None until the chain is first read
        self._reserved: set[int] = set()
        self._released: set[int] = set()
        self._floor = 0  # one past the highest confirmed nonce: the chain has used every nonce below it

    def reserve(self) -> int:
        """The next nonce to sign with: a released one if any (lowest first), else one past the last handed out."""
        with self._lock:
            if self._released:
                nonce = min(self._released)
                self._released.discard(nonce)
            else:
                nonce = self._next if self._next is not None else self._pending()
                self._next = nonce + 1
            self._reserved.add(nonce)
            return nonce

    def release(self, nonce: int) -> None:
        """Gives back a reserved nonce whose transaction was never sent; ValueError if it is not reserved."""
        with self._lock:
            if nonce not in self._reserved:
                raise ValueError(f"nonce {nonce} of {self.address} is not reserved")
            self._reserved.discard(nonce)
            if nonce < self._floor:
                return  # a later nonce is mined, so this one is used on chain after all; nothing to hand out again
            self._released.add(nonce)
            # Released nonces at the top shrink the sequence rather than wait as holes.
            while self._next is not None and self._next - 1 in self._released:
                self._next -= 1
                self._released.discard(self._next)

    def confirm(self, nonce: int) -> None:
        """Records that the transaction with `nonce` is mined. Idempotent; a nonce never reserved here is accepted,
        for transactions sent before a restart."""
        if nonce < 0:
            raise ValueError(f"nonce must be non-negative, got {nonce}")
        with self._lock:
            self._reserved.discard(nonce)
            self._floor = max(self._floor, nonce + 1)
            self._released = {n for n in self._released if n >= self._floor}
            if self._next is not None:
                self._next = max(self._next, self._floor)

    def resync(self) -> tuple[int, ...]:
        """Re-reads the account's pending transaction count and continues from it, never below a confirmed nonce.

        Returns the reserved nonces given up: those at or above the new next nonce, whose transactions the chain
        does not hold (dropped, or never sent). Their transactions must be signed again with fresh nonces.
        """
        with self._lock:
            self._next = max(self._pending(), self._floor)
            dropped = tuple(sorted(n for n in self._reserved if n >= self._next))
            self._reserved.difference_update(dropped)
            self._released.clear()  # every released nonce is either used on chain now or at or above `_next`
            return dropped

    def forget(self) -> None:
        """Forgets everything, confirmed nonces included, and reads the chain again on the next `reserve()`: after a
        reorg took mined transactions out, the chain's count can fall below what was confirmed."""
        with self._lock:
            self._next = None
            self._floor = 0
            self._reserved.clear()
            self._released.clear()

    def gap(self) -> tuple[int, ...]:
        """The reserved nonces not yet released or confirmed, ascending."""
        with self._lock:
            return tuple(sorted(self._reserved))

    @property
    def next_nonce(self) -> int | None:
        """The nonce `reserve()` would hand out next if none is released; None before the chain is first read."""
        with self._lock:
            return self._next

    def _pending(self) -> int:
        chain = self._chain
        if isinstance(chain, PendingNonces):
            return chain.pending_nonce(self.address)
        return rpc(lambda: chain.eth.get_transaction_count(self.address, "pending"), "read pending nonce")
