"""Differential test: `verinfer.chain.lottery` against the Solidity library (tests/contracts/harness/LotteryHarness.sol)
on anvil, bit for bit, on hypothesis-generated vectors: the node computes the very windows the hub enforces."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from tests.node.support import Actors
from verinfer.chain import lottery
from verinfer.chain.artifacts import load_artifact

pytestmark = pytest.mark.integration

DIFF = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ADDRESS = st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)
# Hashes: uniform words, plus the edges of the fast path (2^240) and of the fixed point.
HASH = st.one_of(
    st.integers(0, 2**256 - 1),
    st.integers(2**240 - 2, 2**240 + 2),
    st.integers(2**255 - 2, 2**255 + 2),
    st.integers(2**256 - 3, 2**256 - 1),
    st.integers(0, 3),
)
LOTTERY = st.builds(
    lottery.Lottery,
    seed=st.integers(0, 2**32 - 1),
    requested_at=st.integers(0, 2**40 - 1),
    serving_stake_gwei=st.integers(0, 2**64 - 1),
    ticket_delay=st.integers(0, 2**32 - 1),
    callback_gas_price=st.integers(0, 2**48 - 1),
    slash_bps=st.integers(0, 10_000),
    reveal_window=st.integers(0, 2**24 - 1),
)


@pytest.fixture(scope="module")
def harness(deployed: Actors) -> Contract:
    contract, _ = deployed.deployer.sender.deploy(load_artifact("LotteryHarness"))
    return contract


@DIFF
@given(HASH)
def test_exponential(harness: Contract, u: int) -> None:
    assert harness.functions.exponential(u).call() == lottery.exponential(u)


@DIFF
@given(LOTTERY, st.integers(1, 2**64 - 1), ADDRESS, st.integers(0, 15), st.integers(10**15, 2**96 - 1))
def test_ticket_and_window(
    harness: Contract, draw: lottery.Lottery, request_id: int, node: str, seat: int, stake: int
) -> None:
    word = draw.pack()
    assert lottery.Lottery.unpack(word) == draw
    assert harness.functions.ticket(word, request_id, node, seat, stake).call() == lottery.ticket(
        draw, request_id, node, seat, stake
    )
    assert harness.functions.opensAt(word, request_id, node, seat, stake).call() == lottery.opens_at(
        draw, request_id, node, seat, stake
    )


@DIFF
@given(LOTTERY)
def test_terms_fixed_in_the_word(harness: Contract, draw: lottery.Lottery) -> None:
    bare = harness.functions.pack(draw.seed, draw.requested_at, draw.serving_stake_gwei * 10**9, draw.ticket_delay)
    word = harness.functions.withTerms(bare.call(), draw.callback_gas_price, draw.slash_bps, draw.reveal_window).call()
    assert word == draw.pack()
    assert harness.functions.terms(word).call() == [draw.callback_gas_price, draw.slash_bps, draw.reveal_window]


def test_pack_rounds_the_serving_stake_to_gwei(harness: Contract) -> None:
    word = harness.functions.pack(7, 1_700_000_000, 6 * 10**18 + 999, 2).call()
    assert lottery.Lottery.unpack(word) == lottery.Lottery(7, 1_700_000_000, 6 * 10**9, 2)


def test_exponential_is_exponentially_distributed() -> None:
    # Mean 1 and P(E > 1) = 1/e over 20,000 hashes, within 4 standard errors.
    values = [lottery.exponential(lottery.ticket_hash(1, i, "0x" + "11" * 20, 0)) / 2**64 for i in range(20_000)]
    mean = sum(values) / len(values)
    tail = sum(v > 1 for v in values) / len(values)
    assert abs(mean - 1) < 4 * (1 / len(values)) ** 0.5
    assert abs(tail - 0.36788) < 4 * (0.36788 * 0.63212 / len(values)) ** 0.5
