"""A job's states and the moves between them, and the journal's errors."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from verinfer.errors import VerinferError


class JournalError(VerinferError):
    """The journal cannot be opened, read or written, or a write contradicts what it holds."""


class UnknownJobError(JournalError):
    """A transition names a request the journal has never seen."""


class JobState(enum.StrEnum):
    SEEN = "seen"
    COMPUTED = "computed"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    COMMITTED = "committed"
    REVEALED = "revealed"
    FINALIZED = "finalized"
    FAILED = "failed"


NEXT: Mapping[JobState, frozenset[JobState]] = {
    JobState.SEEN: frozenset({JobState.COMPUTED, JobState.FAILED}),
    JobState.COMPUTED: frozenset({JobState.SUBMITTED, JobState.COMMITTED, JobState.FAILED}),
    JobState.SUBMITTED: frozenset({JobState.CONFIRMED, JobState.FAILED}),
    JobState.COMMITTED: frozenset({JobState.REVEALED, JobState.FAILED}),
    JobState.REVEALED: frozenset({JobState.FINALIZED, JobState.FAILED}),
    # Final states: a receipt is a fact, so only a reorg (reset_to_seen) moves these jobs again.
    JobState.CONFIRMED: frozenset(),
    JobState.FINALIZED: frozenset(),
    JobState.FAILED: frozenset(),
}

PENDING_STATES = tuple(state for state, after in NEXT.items() if after)
"""States with work left to do, in pipeline order: what `backlog()` counts."""

TX_COLUMNS: Mapping[JobState, tuple[str, str]] = {
    JobState.SUBMITTED: ("submit_tx_hash", "submit_nonce"),
    JobState.COMMITTED: ("commit_tx_hash", "commit_nonce"),
    JobState.REVEALED: ("reveal_tx_hash", "reveal_nonce"),
}
"""state => the (tx hash, nonce) columns of the transaction a job in that state waits on."""


class IllegalTransitionError(JournalError):
    """A job was asked to move to a state its current state does not lead to."""

    def __init__(self, job: str, current: JobState, attempted: JobState) -> None:
        self.job = job
        self.current = current
        self.attempted = attempted
        allowed = ", ".join(sorted(s.value for s in NEXT[current]))
        why = f"from {current.value} only to {allowed}" if allowed else f"{current.value} is final"
        super().__init__(f"{job} cannot go from {current.value} to {attempted.value} ({why})")


def sql_in(states: Iterable[JobState]) -> str:
    """`('a', 'b')`: a SQL list of state names (fixed strings, never user input)."""
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"
