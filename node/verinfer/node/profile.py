"""Where the node's CPU goes: exclusive thread CPU time per section (a nested section's time is not counted again in
the one around it), for the benchmark's split and the `verinfer_cpu_seconds` metric.

    sw = Stopwatch()
    with sw("tick"):
        with sw("signing"): ...
    sw.seconds  # {"tick": <tick time minus signing>, "signing": ...}
"""

from __future__ import annotations

import time
from collections import defaultdict
from types import TracebackType


class Stopwatch:
    """Accumulates `time.thread_time()` per section on the calling thread (one stopwatch per thread)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # [start, time spent in nested sections]

    def __call__(self, section: str) -> _Section:
        return _Section(self, section)

    def total(self) -> float:
        return sum(self.seconds.values())

    def reset(self) -> None:
        self.seconds.clear()


class _Section:
    """One `with stopwatch(section):` block. A class, not a generator context manager: stages time sections per
    job, thousands a second, and this costs a third as much."""

    __slots__ = ("_frame", "_section", "_watch")

    def __init__(self, watch: Stopwatch, section: str) -> None:
        self._watch = watch
        self._section = section
        self._frame = [0.0, 0.0]

    def __enter__(self) -> None:
        self._frame[0] = time.thread_time()
        self._watch._stack.append(self._frame)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = self._watch._stack
        stack.pop()
        spent = time.thread_time() - self._frame[0]
        self._watch.seconds[self._section] += spent - self._frame[1]
        if stack:
            stack[-1][1] += spent
