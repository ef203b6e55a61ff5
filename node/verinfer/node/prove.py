"""The prove stage: ZK requests run on the proving workers (`prover.ProvingPool`) while the node serves the rest;
`collect()` journals the proofs that finished since the last step (`computed`, with the proof), or fails their jobs
naming the prover's error."""

from __future__ import annotations

from typing import Any, Protocol

from eth_utils.crypto import keccak

from verinfer.errors import ModelError
from verinfer.node.journal import Job, JobState
from verinfer.node.metrics import NodeMetrics
from verinfer.node.prover import Proven


class Pool(Protocol):
    """The proving workers' face (`ProvingPool`)."""

    @property
    def busy(self) -> int: ...

    def has(self, request_id: int) -> bool: ...
    def submit(self, request_id: int, model_id: bytes, input_data: bytes) -> None: ...
    def finished(self) -> list[tuple[int, Proven | ModelError]]: ...
    def close(self) -> None: ...


class ProveStore(Protocol):
    def job(self, request_id: int) -> Job | None: ...
    def mark_proven(self, request_id: int, output: bytes, output_hash: bytes, proof: bytes) -> Job: ...
    def mark_failed(self, request_id: int, reason: str) -> Job: ...


class Prove:
    def __init__(self, pool: Pool, store: ProveStore, metrics: NodeMetrics, log: Any) -> None:
        self.pool = pool
        self.store = store
        self.metrics = metrics
        self.log = log

    @property
    def busy(self) -> int:
        return self.pool.busy

    def has(self, request_id: int) -> bool:
        return self.pool.has(request_id)

    def start(self, request_id: int, model_id: bytes, input_data: bytes) -> None:
        self.pool.submit(request_id, model_id, input_data)

    def collect(self) -> tuple[int, int]:
        """Journals the finished proofs; returns (proven, failed)."""
        proven = failed = 0
        for request_id, outcome in self.pool.finished():
            job = self.store.job(request_id)
            if job is None or job.state is not JobState.SEEN:
                continue  # a reorg or a restart moved it meanwhile; it is proven again if still wanted
            if isinstance(outcome, ModelError):
                self.store.mark_failed(request_id, f"prover: {outcome}")
                self.metrics.failed.labels("prover").inc()
                self.log.warning("proof failed", request_id=request_id, detail=str(outcome))
                failed += 1
            else:
                self.store.mark_proven(request_id, outcome.output, bytes(keccak(outcome.output)), outcome.proof)
                self.log.info("proof ready", request_id=request_id, seconds=round(outcome.seconds, 2))
                proven += 1
        return proven, failed

    def close(self) -> None:
        self.pool.close()
