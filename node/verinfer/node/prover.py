"""ZK proving off the scheduler's thread: a pool of worker processes runs `verinfer.zk.prove` (seconds each) while
the scheduler keeps serving SINGLE and CONSENSUS work. A proof that is done is picked up on the next tick and
journalled (`mark_proven`); one that was running when the node died is simply started again (its job is still
`seen` in the journal), so proving jobs survive restarts like every other job.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
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


class ProvingPool:
    """At most `workers` proofs at a time, one per request id; `finished()` hands back what is done."""

    def __init__(self, artifacts_dir: Path, workers: int = 1) -> None:
        self.artifacts_dir = artifacts_dir
        # spawn, not fork: the node has threads (scheduler, metrics server), and a forked child would inherit locks.
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self._running: dict[int, Future[Proven]] = {}

    def has(self, request_id: int) -> bool:
        return request_id in self._running

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, request_id: int, model_id: bytes, input_data: bytes) -> None:
        if request_id not in self._running:
            self._running[request_id] = self._pool.submit(
                _prove, str(self.artifacts_dir), bytes(model_id), bytes(input_data)
            )

    def finished(self) -> list[tuple[int, Proven | ModelError]]:
        """The proofs (or the `ModelError` that stopped each) that completed since the last call."""
        done: list[tuple[int, Proven | ModelError]] = []
        for request_id, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[request_id]
            error = future.exception()
            if error is None:
                done.append((request_id, future.result()))
            elif isinstance(error, ModelError):
                done.append((request_id, error))
            else:
                done.append((request_id, ModelError(f"proving failed: {type(error).__name__}: {error}")))
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
