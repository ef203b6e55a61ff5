"""The node service (`verinfer node run`): `service.NodeService` runs `scheduler.Scheduler` ticks over the durable
`journal.Journal`; each stage is its own module (compute, submit, consensus, inflight, prover)."""

from __future__ import annotations

from verinfer.node.journal import (
    Cursor,
    IllegalTransitionError,
    Job,
    JobState,
    Journal,
    JournalError,
    UnknownJobError,
)

__all__ = ["Cursor", "IllegalTransitionError", "Job", "JobState", "Journal", "JournalError", "UnknownJobError"]
