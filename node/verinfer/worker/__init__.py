"""The node service: the durable job journal now; the scheduler and batching build on it."""

from __future__ import annotations

from verinfer.worker.journal import (
    Cursor,
    IllegalTransitionError,
    Job,
    JobState,
    Journal,
    JournalError,
    UnknownJobError,
)

__all__ = ["Cursor", "IllegalTransitionError", "Job", "JobState", "Journal", "JournalError", "UnknownJobError"]
