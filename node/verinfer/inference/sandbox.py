"""Runs a model in a worker process of its own, under a wall-clock limit and a memory limit.

A model is code chosen by whoever registered it: a `Loop` of 10^9 iterations never returns, a `Tile` sized by the
input allocates gigabytes, and onnxruntime keeps what a call allocated. So the node never runs one in its own
process. Each `Sandbox` owns one worker that loads the model file and answers batches over a pipe:

    sandbox = Sandbox(path, limits=SandboxLimits(timeout_s=10, memory_bytes=1 << 30), expected_id=model_id)
    outputs = sandbox.run_batch(rows)      # LimitExceededError if the call breaches a limit; ModelError otherwise
    sandbox.close()

The memory limit is an address-space limit (`RLIMIT_AS`) set inside the worker once the model is loaded, on top of
what the loaded worker already maps: an allocation past it fails inside onnxruntime (or kills the worker), which is
reported as a breach. The wall-clock limit is the parent's: a call that has not answered in time gets its worker
killed (SIGKILL). Either way only that worker dies; the next call starts a fresh one. A `cancel` event set by the
node (SIGTERM) kills a busy worker at once, so stopping never waits for a model.

Workers come from a fork server (one per node process, started with the first worker): a fresh Python process,
not a fork of the node, that imports numpy and onnxruntime once and forks each worker from that clean state. So a
worker shares no threads or locks with the node, as a spawned one would, but starts without paying ~0.9 s of CPU
for its imports again (the node starts a worker per model, and again after every breach).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from verinfer.errors import ModelError

POLL_S = 0.05  # how often a waiting call looks at its cancel event
START_TIMEOUT_S = 60.0  # a worker that has not loaded its model by then is killed (loading is bounded separately)
_ALLOCATION_WORDS = ("alloc", "memory", "out of memory")


class LimitExceededError(ModelError):
    """A model call breached its sandbox's wall-clock or memory limit; its worker was killed."""

    def __init__(self, message: str, *, kind: str) -> None:
        self.kind = kind
        """"time" or "memory"."""
        super().__init__(message)


class CancelledError(ModelError):
    """The node is stopping: the call was abandoned and its worker killed."""


@dataclass(frozen=True)
class SandboxLimits:
    """The limits of one model's calls: seconds of wall clock per batch, bytes of address space beyond the loaded
    worker's."""

    timeout_s: float
    memory_bytes: int

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ModelError(f"a sandbox timeout must be positive seconds, got {self.timeout_s!r}")
        if isinstance(self.memory_bytes, bool) or not isinstance(self.memory_bytes, int) or self.memory_bytes < 1:
            raise ModelError(f"a sandbox memory limit must be a positive number of bytes, got {self.memory_bytes!r}")


class Loader(Protocol):
    """What a worker runs: picklable (it crosses to the worker process), `load()` there gives the function that
    answers each call's payload. `OnnxLoad` for a tensor model; `verinfer.text.serve.TextLoad` for a text model."""

    @property
    def what(self) -> str:
        """The model, as messages name it."""
        ...

    def load(self) -> Callable[[Any], Any]: ...


@dataclass(frozen=True)
class OnnxLoad:
    """A tensor model file, run by `OnnxRunner` with the node's settings; its hash is checked as it loads."""

    path: str
    threads: int = 1
    level: str = "basic"
    expected_id: bytes | None = None

    @property
    def what(self) -> str:
        return self.path

    def load(self) -> Callable[[Any], Any]:
        from verinfer.inference.runner import OnnxRunner

        runner = OnnxRunner(self.path, self.threads, self.level, expected_id=self.expected_id)
        return runner.run_batch


class Sandbox:
    """One model in one worker process, started on first use and again after a breach. Thread-safe: calls are
    serialised (one batch at a time per worker). The worker runs `loader` (default: the ONNX file at
    `model_path`); `model_path` names the model in messages."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        limits: SandboxLimits,
        intra_op_threads: int = 1,
        graph_optimization_level: str = "basic",
        expected_id: bytes | None = None,
        cancel: threading.Event | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.limits = limits
        self._loader = loader or OnnxLoad(str(model_path), intra_op_threads, graph_optimization_level, expected_id)
        self._cancel = cancel if cancel is not None else threading.Event()
        self._lock = threading.Lock()
        self._process: Any = None  # multiprocessing's ForkServerProcess (untyped in typeshed's context API)
        self._conn: Connection | None = None
        self._lifeline: Connection | None = None  # the write end of the worker's lifeline; never written
        self.starts = 0
        """How many workers this sandbox started (the first, and one after every breach or crash)."""
        self.breaches = 0

    # ----------------------------------------------------------------------------------------------- the face

    def start(self) -> None:
        """Starts the worker and loads the model now (`run_batch` does it on demand); `ModelError` if it cannot."""
        with self._lock:
            self._ensure_started()

    def run_batch(self, rows: npt.ArrayLike | Mapping[str, npt.ArrayLike]) -> Any:
        """The model's outputs for `rows` (what `OnnxRunner.run_batch` returns: one array for one array, the
        committed outputs in graph order for named inputs), computed in the worker."""
        payload: npt.NDArray[Any] | dict[str, npt.NDArray[Any]]
        if isinstance(rows, Mapping):
            payload = {name: np.asarray(value) for name, value in rows.items()}
            first = next(iter(payload.values()), np.zeros(0))
        else:
            payload = first = np.asarray(rows)
        answer = self.call(payload, f"a batch of {first.shape[0] if first.ndim else 0} rows")
        return [np.asarray(out) for out in answer] if isinstance(rows, Mapping) else np.asarray(answer)

    def call(self, payload: Any, doing: str) -> Any:
        """What the worker's loaded function answers for `payload` (`LimitExceededError` on a breach, `ModelError`
        if it raised). `doing` names the call in messages ("a batch of 4 rows")."""
        with self._lock:
            conn = self._ensure_started()
            try:
                conn.send(("run", payload))
            except (OSError, ValueError) as exc:
                self._kill()
                raise ModelError(f"the worker for {self.model_path.name} cannot take {doing}: {exc}") from exc
            answer = self._wait(conn, self.limits.timeout_s, doing)
        kind = answer[0]
        if kind == "ok":
            return answer[1]
        if kind == "memory":
            self.breaches += 1
            with self._lock:
                self._kill()  # onnxruntime keeps what the call allocated: a fresh worker starts clean
            raise LimitExceededError(
                f"model {self.model_path.name} exceeded its memory limit of {self.limits.memory_bytes} bytes "
                f"(sandbox.memory_mb): {answer[1]}",
                kind="memory",
            )
        raise ModelError(str(answer[1]))

    def close(self) -> None:
        """Stops the worker (killed if it is busy)."""
        with self._lock:
            conn = self._conn
            if conn is not None and self._process is not None and self._process.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    conn.send(("stop", None))
                self._process.join(timeout=0.5)
            self._kill()

    def kill(self) -> None:
        """Kills the worker now, even mid-call (the call then fails with `CancelledError` if `cancel` is set)."""
        process = self._process
        if process is not None and process.is_alive():
            process.kill()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    # ------------------------------------------------------------------------------------------------ internals

    def _ensure_started(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._kill()
        context = _worker_context()
        parent, child = context.Pipe(duplex=True)
        lifeline_read, lifeline = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_main,
            args=(child, lifeline_read, self._loader, self.limits.memory_bytes),
            name=f"verinfer-model-{self.model_path.stem[:12]}",
            daemon=True,
        )
        process.start()
        child.close()
        lifeline_read.close()
        self._process, self._conn, self._lifeline = process, parent, lifeline
        self.starts += 1
        answer = self._wait(parent, START_TIMEOUT_S, "loading the model")
        if answer[0] != "ready":
            self._kill()
            raise ModelError(str(answer[1]))
        return parent

    def _wait(self, conn: Connection, timeout_s: float, doing: str) -> tuple[str, Any]:
        """The worker's answer, or the breach/cancel/crash that ended the wait (the worker is then killed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._cancel.is_set():
                self._kill()
                raise CancelledError(f"the node is stopping: {doing} for {self.model_path.name} was abandoned")
            left = deadline - time.monotonic()
            if left <= 0:
                self.breaches += 1
                self._kill()
                raise LimitExceededError(
                    f"model {self.model_path.name} did not finish {doing} within its {timeout_s:g}s limit "
                    "(sandbox.timeout_s): its worker was killed",
                    kind="time",
                )
            try:
                ready = conn.poll(min(POLL_S, left))
                if ready:
                    answer = conn.recv()
                    return (str(answer[0]), answer[1])
            except (EOFError, OSError):
                break  # the worker died
        code = self._process.exitcode if self._process is not None else None
        if code is None and self._process is not None:
            self._process.join(timeout=1.0)
            code = self._process.exitcode
        self._kill()
        if self._cancel.is_set():
            raise CancelledError(f"the node is stopping: {doing} for {self.model_path.name} was abandoned")
        self.breaches += 1
        # A worker that dies mid-call was killed by the kernel or aborted on an allocation past its limit.
        raise LimitExceededError(
            f"the worker for model {self.model_path.name} died during {doing} (exit code {code}): most likely an "
            f"allocation past its memory limit of {self.limits.memory_bytes} bytes (sandbox.memory_mb)",
            kind="memory",
        )

    def _kill(self) -> None:
        process, conn, lifeline = self._process, self._conn, self._lifeline
        self._process = self._conn = self._lifeline = None
        for end in (conn, lifeline):
            if end is not None:
                end.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=2.0)
            if hasattr(process, "close") and process.exitcode is not None:
                process.close()


_FORKSERVER_PRELOAD = ["verinfer.inference.runner"]  # numpy and onnxruntime: what every worker imports


def _worker_context() -> ForkServerContext:
    """The context workers start from: the fork server, which imports `_FORKSERVER_PRELOAD` once when the first
    worker starts (preloading is a no-op once the server runs)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_FORKSERVER_PRELOAD)
    return context


# ---------------------------------------------------------------------------------------------- in the worker


def _address_space() -> int:
    """This process's mapped virtual memory (VmSize), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _exit_with_node(lifeline: Connection) -> None:
    """A watchdog thread: the worker exits as soon as the node is gone (even a SIGKILLed node), busy or not
    (onnxruntime releases the GIL while it runs). The node holds the only write end of `lifeline` and never writes:
    the read ends at EOF when the node closes it or dies. (Not the parent's pid: a worker's parent is the fork
    server, which outlives the node while its children live.)"""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv_bytes()
        os._exit(3)

    threading.Thread(target=watch, name="verinfer-orphan-watch", daemon=True).start()


def _limit_memory(extra_bytes: int) -> None:
    import resource

    base = _address_space()
    if base:
        limit = base + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_main(
    conn: Connection, lifeline: Connection, loader: Loader, memory_bytes: int
) -> None:  # pragma: no cover - runs in the worker process (the sandbox tests drive it)
    """The worker: load the model, cap the address space, answer calls until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole group: the node decides
    _exit_with_node(lifeline)
    try:
        serve = loader.load()  # loaded; the first call's own allocations count against the limit
        _limit_memory(memory_bytes)
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    except Exception as exc:
        conn.send(("error", f"cannot load {loader.what}: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            command, payload = conn.recv()
        except (EOFError, OSError):
            return
        if command != "run":
            return
        try:
            conn.send(("ok", serve(payload)))
        except MemoryError as exc:
            conn.send(("memory", f"MemoryError: {exc}"))
        except ModelError as exc:
            text = str(exc)
            kind = "memory" if any(word in text.lower() for word in _ALLOCATION_WORDS) else "error"
            conn.send((kind, text))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
