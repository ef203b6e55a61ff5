"""The lottery that assigns a request's seats (`contracts/lib/Lottery.sol`), computed off chain bit for bit.

Node i's ticket for seat j of request r is x = E * S / s with E = -ln(U / 2^256), U = keccak(seed, r, node, j),
S the model's serving stake at the request and s the node's stake. Its window opens floor(x * ticketDelay) seconds
after the request, capped at 8 units. The best ticket serves first; `assignment` ranks every serving node so a node
knows whether it is the primary, and when its own fallback window opens. Every step is the contract's integer step
(a differential test on anvil feeds both the same vectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

ONE = 1 << 64
LN2 = 12_786_308_645_202_655_659
MAX_TICKET_UNITS = 8
BEYOND = 16 << 64
CAP = MAX_TICKET_UNITS << 64
GWEI = 10**9
_MASK32 = (1 << 32) - 1
_MASK40 = (1 << 40) - 1
_MASK64 = (1 << 64) - 1
_MASK48 = (1 << 48) - 1
_MASK16 = (1 << 16) - 1


@dataclass(frozen=True)
class Lottery:
    """The fields of a request's `lottery` word (layout on `RequestParams` in IInferenceHub.sol): the draw, and the
    terms fixed with it (the callback's gas price cap in wei, the slash in basis points, the reveal window in s)."""

    seed: int
    requested_at: int
    serving_stake_gwei: int
    ticket_delay: int
    callback_gas_price: int = 0
    slash_bps: int = 0
    reveal_window: int = 0

    @classmethod
    def unpack(cls, word: int) -> Lottery:
        return cls(
            seed=word & _MASK32,
            requested_at=(word >> 32) & _MASK40,
            serving_stake_gwei=(word >> 72) & _MASK64,
            ticket_delay=(word >> 136) & _MASK32,
            callback_gas_price=(word >> 168) & _MASK48,
            slash_bps=(word >> 216) & _MASK16,
            reveal_window=word >> 232,
        )

    def pack(self) -> int:
        draw = self.seed | (self.requested_at << 32) | (self.serving_stake_gwei << 72) | (self.ticket_delay << 136)
        return draw | (self.callback_gas_price << 168) | (self.slash_bps << 216) | (self.reveal_window << 232)

    def escrow(self, callback_gas_limit: int) -> int:
        """The wei of a request's fee held back for its callback's gas: cap * limit (0 without a cap)."""
        return self.callback_gas_price * callback_gas_limit

    @property
    def opens_to_all_at(self) -> int:
        """When every eligible node's window is open (the cap)."""
        return self.requested_at + MAX_TICKET_UNITS * self.ticket_delay


def exponential(u: int) -> int:
    """-ln(u / 2^256) in Q64.64 for u >= 2^240, `BEYOND` below (`Lottery.exponential`)."""
    v = u >> 240
    if v == 0:
        return BEYOND
    k = 240 + v.bit_length() - 1
    y = u >> (k - 64)
    z = ((y - ONE) << 64) // (y + ONE)
    z2 = (z * z) >> 64
    t = (z * z2) >> 64
    total = z + t // 3
    for n in (5, 7, 9):
        t = (t * z2) >> 64
        total += t // n
    ln_y = min(2 * total, LN2)
    return (255 - k) * LN2 + (LN2 - ln_y)


def ticket_hash(seed: int, request_id: int, node: str, seat: int) -> int:
    """U = keccak256(abi.encodePacked(uint64 seed, uint192 requestId, address node, uint96 seat))."""
    first = (seed << 192) | request_id
    second = (int(node, 16) << 96) | seat
    return int.from_bytes(keccak(first.to_bytes(32, "big") + second.to_bytes(32, "big")), "big")


def ticket(lottery: Lottery, request_id: int, node: str, seat: int, stake: int) -> int:
    """Node `node`'s ticket (Q64.64) at `stake` wei: E * servingStake / stake."""
    if stake <= 0:
        raise ValueError(f"a ticket needs a positive stake, got {stake}")
    e = exponential(ticket_hash(lottery.seed, request_id, node, seat))
    return e * (lottery.serving_stake_gwei * GWEI) // stake


def delay(x: int, ticket_delay: int) -> int:
    """Seconds after the request at which a ticket's window opens (`Lottery.delay`)."""
    if x >= CAP:
        return MAX_TICKET_UNITS * ticket_delay
    return (x * ticket_delay) >> 64


def opens_at(lottery: Lottery, request_id: int, node: str, seat: int, stake: int) -> int:
    """When `node` may act on seat `seat` (unix seconds), as `InferenceHub.windowOf` computes it."""
    return lottery.requested_at + delay(ticket(lottery, request_id, node, seat, stake), lottery.ticket_delay)


@dataclass(frozen=True)
class Window:
    """One node's place in a request's lottery for one seat."""

    node: ChecksumAddress
    ticket: int
    opens_at: int


def assignment(lottery: Lottery, request_id: int, stakes: Mapping[ChecksumAddress, int], seat: int = 0) -> list[Window]:
    """Every node's window on `seat`, best ticket first (ties by address, as no contract rule orders them)."""
    windows = [
        Window(node, x, lottery.requested_at + delay(x, lottery.ticket_delay))
        for node, stake in stakes.items()
        if stake > 0
        for x in (ticket(lottery, request_id, node, seat, stake),)
    ]
    return sorted(windows, key=lambda w: (w.ticket, w.node.lower()))


def best_seats(
    lottery: Lottery, request_id: int, stakes: Mapping[ChecksumAddress, int], node: str, seats: Iterable[int]
) -> int:
    """The bitmask of `seats` on which `node` holds the best ticket among `stakes` (what an honest node commits for)."""
    mask = 0
    for seat in seats:
        ranked = assignment(lottery, request_id, stakes, seat)
        if ranked and ranked[0].node.lower() == node.lower():
            mask |= 1 << seat
    return mask
