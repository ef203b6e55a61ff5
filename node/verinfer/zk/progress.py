"""Progress hooks for the slow steps (SRS, setup, verifier, witness, proof). Injectable: pass any `Progress`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import Progress as RichBar
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn


class Progress(Protocol):
    """Told when each step starts and ends (the context manager's lifetime)."""

    def step(self, name: str) -> contextlib.AbstractContextManager[None]: ...


class NoProgress:
    """Shows nothing."""

    def step(self, name: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class StepTimes:
    """Records each step's wall time in seconds (the bench reads it); `inner` is told too."""

    def __init__(self, inner: Progress | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: Progress = inner if inner is not None else NoProgress()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        with self._inner.step(name):
            yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


class RichProgress:
    """A spinner and elapsed time per step on a Rich console (stderr by default)."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console if console is not None else Console(stderr=True)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with RichBar(*columns, console=self._console, transient=False) as bar:
            task = bar.add_task(name, total=1)
            yield
            bar.update(task, completed=1)
