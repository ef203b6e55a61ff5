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
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    """Accumulates `time.thread_time()` per section on the calling thread (one stopwatch per thread)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # [start, time spent in nested sections]

    @contextmanager
    def __call__(self, section: str) -> Iterator[None]:
        frame = [time.thread_time(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            spent = time.thread_time() - frame[0]
            self.seconds[section] += spent - frame[1]
            if self._stack:
                self._stack[-1][1] += spent

    def total(self) -> float:
        return sum(self.seconds.values())

    def reset(self) -> None:
        self.seconds.clear()
