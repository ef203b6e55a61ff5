"""`Disputes.disputeOf`, decoded once for everyone who reads a dispute: the node's watch and committee stages and the
SDK's `finality`/`Client.dispute` (one typed record instead of two positional decoders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress

from verinfer.chain.lottery import Lottery
from verinfer.types import DISPUTE_SEATS, DisputeState, checksum


@dataclass(frozen=True)
class Dispute:
    """A challenge of a SINGLE result, as `Disputes.disputeOf` (IDisputes.DisputeView) shows it."""

    request_id: int
    state: DisputeState
    challenger: ChecksumAddress
    bond: int
    node: ChecksumAddress
    """The node whose result is challenged."""
    output_hash: bytes
    """The challenged output's hash."""
    model_id: bytes
    lottery: int
    """The current committee's draw (a `lottery` word: its seed and time are the challenge's, or the
    escalation's)."""
    commits: int
    """The current committee's seats taken so far (of `seat_count`)."""
    reveals: int
    commit_ends_at: int
    reveal_ends_at: int
    """When reveals close (0 while commits are open)."""
    winner: bytes
    """The committee's majority output hash once resolved (zero without one)."""
    members: tuple[ChecksumAddress, ...]
    """Every member of either committee."""
    round: int = 0
    """0: the first committee; 1: its escalation, drawn because the first had no majority."""
    seat_count: int = DISPUTE_SEATS
    """The current committee's seats."""
    opened_at: int = 0
    """When the dispute opened: stake and service older than this hold tickets, in either committee."""

    @classmethod
    def from_abi(cls, request_id: int, value: Sequence[Any]) -> Dispute:
        """From `disputeOf(request_id)`'s return value (its fields in declaration order)."""
        (state, challenger, bond, node, output_hash, model_id, word, commits, reveals) = value[:9]
        (commit_end, reveal_end, winner, members, round_, seat_count, opened_at) = value[9:]
        return cls(
            request_id=request_id,
            state=DisputeState(state),
            challenger=checksum(challenger),
            bond=int(bond),
            node=checksum(node),
            output_hash=bytes(output_hash),
            model_id=bytes(model_id),
            lottery=int(word),
            commits=int(commits),
            reveals=int(reveals),
            commit_ends_at=int(commit_end),
            reveal_ends_at=int(reveal_end),
            winner=bytes(winner),
            members=tuple(checksum(m) for m in members),
            round=int(round_),
            seat_count=int(seat_count),
            opened_at=int(opened_at),
        )

    @property
    def state_name(self) -> str:
        return self.state.name

    @property
    def escalated(self) -> bool:
        return self.round > 0

    @property
    def all_revealed(self) -> bool:
        """Every seat taken has revealed, after commits closed: the dispute may be resolved at once."""
        return self.reveal_ends_at != 0 and self.reveals == self.commits != 0

    @property
    def resolvable_at(self) -> int:
        """After when anyone may resolve it (earlier once `all_revealed`)."""
        if self.reveal_ends_at:
            return self.reveal_ends_at
        return self.commit_ends_at + Lottery.unpack(self.lottery).reveal_window
