"""NonceManager against a fake chain that only counts: consecutive reservation, release and reuse, confirmation,
resync after dropped transactions or another sender, RPC errors, and many threads reserving at once."""

from __future__ import annotations

import threading
from typing import cast

import pytest
from web3 import Web3
from web3.exceptions import Web3Exception

from verinfer.chain.nonces import NonceManager
from verinfer.errors import ChainError

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class FakeEth:
    """The one call the manager makes: the pending transaction count, settable and countable."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.reads = 0
        self.fail = False

    def get_transaction_count(self, address: str, block: str) -> int:
        if address != ADDRESS or block != "pending":
            raise AssertionError(f"unexpected get_transaction_count({address}, {block})")
        if self.fail:
            raise Web3Exception("connection reset")
        self.reads += 1
        return self.pending


class FakeWeb3:
    def __init__(self, pending: int = 0) -> None:
        self.eth = FakeEth(pending)


def manager(pending: int = 0) -> tuple[NonceManager, FakeEth]:
    chain = FakeWeb3(pending)
    return NonceManager(cast(Web3, chain), ADDRESS.lower()), chain.eth


def test_reserve_starts_at_pending_count_then_counts_locally() -> None:
    nonces, chain = manager(pending=7)
    assert nonces.next_nonce is None
    assert [nonces.reserve() for _ in range(4)] == [7, 8, 9, 10]
    assert chain.reads == 1
    assert nonces.gap() == (7, 8, 9, 10)
    assert nonces.address == ADDRESS


def test_confirm_closes_gap() -> None:
    nonces, _ = manager()
    for _ in range(3):
        nonces.reserve()
    nonces.confirm(1)
    nonces.confirm(0)
    assert nonces.gap() == (2,)
    nonces.confirm(0)  # idempotent
    assert nonces.gap() == (2,)


def test_release_reuses_lowest_hole_first() -> None:
    nonces, _ = manager(pending=3)
    for _ in range(4):
        nonces.reserve()  # 3, 4, 5, 6
    nonces.release(5)
    nonces.release(4)
    assert nonces.gap() == (3, 6)
    assert [nonces.reserve(), nonces.reserve(), nonces.reserve()] == [4, 5, 7]


def test_release_of_top_nonces_shrinks_sequence() -> None:
    nonces, _ = manager()
    for _ in range(3):
        nonces.reserve()
    nonces.release(1)
    nonces.release(2)
    assert nonces.next_nonce == 1
    assert nonces.reserve() == 1
    assert nonces.gap() == (0, 1)


def test_release_of_unreserved_nonce_raises() -> None:
    nonces, _ = manager()
    nonces.reserve()
    with pytest.raises(ValueError, match=r"nonce 5 of 0x7099\w+ is not reserved"):
        nonces.release(5)
    nonces.confirm(0)
    with pytest.raises(ValueError, match="not reserved"):
        nonces.release(0)


def test_release_below_confirmed_is_not_handed_out_again() -> None:
    nonces, _ = manager()
    for _ in range(3):
        nonces.reserve()
    nonces.confirm(2)  # so 0 and 1 are used on chain, whatever this process thinks
    nonces.release(0)
    assert nonces.reserve() == 3


def test_confirm_of_nonce_from_before_restart_raises_floor() -> None:
    nonces, _ = manager(pending=2)
    nonces.reserve()
    nonces.confirm(9)
    assert nonces.reserve() == 10
    with pytest.raises(ValueError, match="non-negative"):
        nonces.confirm(-1)


def test_resync_after_dropped_transactions_gives_up_their_nonces() -> None:
    nonces, chain = manager(pending=0)
    for _ in range(5):
        nonces.reserve()  # 0..4 sent; the node drops 3 and 4
    chain.pending = 3
    assert nonces.resync() == (3, 4)
    assert nonces.gap() == (0, 1, 2)
    assert nonces.reserve() == 3
    assert chain.reads == 2


def test_resync_never_goes_below_confirmed() -> None:
    nonces, chain = manager(pending=0)
    for _ in range(5):
        nonces.reserve()
    nonces.confirm(3)
    chain.pending = 1  # a lagging load-balanced RPC backend
    assert nonces.resync() == (4,)
    assert nonces.next_nonce == 4
    assert nonces.reserve() == 4


def test_resync_after_another_sender_skips_ahead_and_forgets_released() -> None:
    nonces, chain = manager(pending=0)
    for _ in range(3):
        nonces.reserve()
    nonces.release(0)
    chain.pending = 10
    assert nonces.resync() == ()
    assert nonces.gap() == (1, 2)
    assert nonces.reserve() == 10


def test_resync_before_first_reserve_reads_chain() -> None:
    nonces, chain = manager(pending=4)
    assert nonces.resync() == ()
    assert nonces.next_nonce == 4
    assert nonces.reserve() == 4
    assert chain.reads == 1


def test_unreachable_chain_raises_chain_error() -> None:
    nonces, chain = manager()
    chain.fail = True
    with pytest.raises(ChainError, match="read pending nonce failed: connection reset"):
        nonces.reserve()
    assert nonces.gap() == ()
    chain.fail = False
    assert nonces.reserve() == 0


def test_reserve_from_many_threads_hands_out_each_nonce_once() -> None:
    nonces, chain = manager(pending=100)
    got: list[int] = []
    got_lock = threading.Lock()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        mine = [nonces.reserve() for _ in range(250)]
        with got_lock:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(got) == list(range(100, 2100))
    assert chain.reads == 1
    assert len(nonces.gap()) == 2000
