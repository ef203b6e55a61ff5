"""ZK proving off the scheduler's thread: a pool of worker processes runs `verinfer.zk.prove` (seconds each) while
the scheduler keeps serving SINGLE and CONSENSUS work. A proof that is done is picked up on the next tick and
journalled (`mark_proven`); one that was running when the node died is simply started again (its job is still
`seen` in the journal), so proving jobs survive restarts like every other job.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from verinfer.errors import ModelError


@dataclass(frozen=True)
class Proven:
    """What a proving worker returns: the canonical output, its proof and how long proving took."""

    output: bytes
    proof: bytes
    seconds: float


def _prove(artifacts_dir: str, model_id: bytes, input_data: bytes) -> Proven:
    """Runs in a worker process: loads the model's artifacts and proves `input_data` (verified before returning)."""
    from verinfer.zk import load_artifacts, prove  # imported in the worker: ezkl is heavy

    artifacts = load_artifacts(Path(artifacts_dir), model_id)
    proof = prove(artifacts, input_data)
    return Proven(proof.output_bytes, proof.proof, proof.witness_seconds + proof.prove_seconds)


ProveFn = Callable[[str, bytes, bytes], Proven]
_DIED = (
    "proving failed: the proving worker died mid-proof (killed by the kernel, most likely out of memory: the "
    "circuit needs more than this machine has)"
)


class ProvingPool:
    """At most `workers` proofs at a time, one per request id; `finished()` hands back what is done.

    A proving worker can die mid-proof (a circuit whose proving takes more memory than the machine has gets it
    killed by the kernel): that breaks the whole process pool, and every later submission to it would raise. So the
    pool holds no more proofs than it has workers (the rest wait here, in order), a proof whose worker died fails
    with that reason, and a fresh pool serves the proofs after it. With one worker (the default) a proof that kills
    its worker costs no other request anything."""

    def __init__(self, artifacts_dir: Path, workers: int = 1, prove: ProveFn = _prove) -> None:
        self.artifacts_dir = artifacts_dir
        self.workers = workers
        self._prove = prove
        self._pool = self._new_pool()
        self._running: dict[int, Future[Proven]] = {}
        self._waiting: dict[int, tuple[bytes, bytes]] = {}  # request id => (model id, input), in arrival order
        self.restarts = 0
        """How many times a dead worker made the pool start afresh."""

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the node has threads (scheduler, metrics server), and a forked child would inherit locks.
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def has(self, request_id: int) -> bool:
        return request_id in self._running or request_id in self._waiting

    @property
    def busy(self) -> int:
        """Proofs running or waiting for a worker."""
        return len(self._running) + len(self._waiting)

    @property
    def proving(self) -> int:
        """Proofs inside the process pool (never more than `workers`)."""
        return len(self._running)

    def submit(self, request_id: int, model_id: bytes, input_data: bytes) -> None:
        if not self.has(request_id):
            self._waiting[request_id] = (bytes(model_id), bytes(input_data))
            self._fill()

    def finished(self) -> list[tuple[int, Proven | ModelError]]:
        """The proofs (or the `ModelError` that stopped each) that completed since the last call."""
        done: list[tuple[int, Proven | ModelError]] = []
        broken = False
        for request_id, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[request_id]
            error = future.exception()
            if error is None:
                done.append((request_id, future.result()))
            elif isinstance(error, ModelError):
                done.append((request_id, error))
            elif isinstance(error, BrokenProcessPool):
                broken = True
                done.append((request_id, ModelError(_DIED)))
            else:
                done.append((request_id, ModelError(f"proving failed: {type(error).__name__}: {error}")))
        if broken:
            # The other proofs in the broken pool fail with it (their futures may not say so yet).
            done.extend((request_id, ModelError(_DIED)) for request_id in self._running)
            self._running.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self.restarts += 1
        self._fill()
        return done

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self.workers:
            request_id = next(iter(self._waiting))
            model_id, input_data = self._waiting.pop(request_id)
            self._running[request_id] = self._pool.submit(self._prove, str(self.artifacts_dir), model_id, input_data)

    def close(self) -> None:
        self._waiting.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
