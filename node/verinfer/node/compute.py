"""The compute stage: each served model loaded once (hash-checked fetch, deterministic runner), and the pending
requests of one model run as one onnxruntime batch (`Compute.step`; ZK requests go to the provers instead).

A request that cannot be served gets a `ModelError` naming why (wrong input length, unreadable model, runtime
failure); the others in its batch still get their outputs. Nothing false is ever produced: a failed row has no
output at all.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from eth_utils.crypto import keccak

from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec
from verinfer.inference.model_store import ModelStore
from verinfer.inference.runner import OnnxRunner
from verinfer.node.journal import Job, JobState
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Catalog, Clock, HubReader, Timer
from verinfer.node.prove import Prove
from verinfer.node.request import params_of
from verinfer.types import Mode, ModelSpec, RequestParams

MODEL_RETRY_S = 30.0  # a model that failed to load is tried again after this long (its URI may come back)
MAX_JOBS_PER_STEP = 4_096


@dataclass(frozen=True)
class LoadedModel:
    model_id: bytes
    spec: ModelSpec
    runner: OnnxRunner

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        """The canonical output of each input, or the error that stops it; batched where the inputs allow."""
        results: list[bytes | ModelError] = [ModelError("not computed")] * len(inputs)
        rows: list[np.ndarray] = []
        where: list[int] = []
        for i, data in enumerate(inputs):
            try:
                rows.append(codec.decode(data, self.spec.input_shape, self.spec.scale).astype(np.float32))
                where.append(i)
            except CodecError as exc:
                results[i] = ModelError(f"malformed input: {exc}")
        if not rows:
            return results
        try:
            outputs = self._run(rows)
        except ModelError:
            outputs = None
        if outputs is None:  # find the row that breaks the batch; the others still get served
            for i, row in zip(where, rows, strict=True):
                try:
                    results[i] = self._encode(self._run([row])[0])
                except ModelError as exc:
                    results[i] = exc
            return results
        for i, output in zip(where, outputs, strict=True):
            try:
                results[i] = self._encode(output)
            except ModelError as exc:
                results[i] = exc
        return results

    def _run(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        per_row = rows[0].shape[0] if rows[0].ndim else 1
        stacked = np.concatenate(rows) if len(rows) > 1 else rows[0]
        out = self.runner.run_batch(stacked)
        return [out[i * per_row : (i + 1) * per_row] for i in range(len(rows))]

    def _encode(self, output: np.ndarray) -> bytes:
        expected = int(np.prod(self.spec.output_shape))
        if output.size != expected:
            raise ModelError(
                f"the model produced {output.size} output values; the registry says {list(self.spec.output_shape)}"
            )
        try:
            return codec.encode(output, self.spec.scale)
        except CodecError as exc:
            raise ModelError(f"output cannot be encoded canonically: {exc}") from exc


class ModelCatalog:
    """The models this node has loaded, by id. A load failure is remembered for MODEL_RETRY_S, then retried."""

    def __init__(
        self,
        store: ModelStore,
        spec_of: Callable[[bytes], ModelSpec],
        *,
        intra_op_threads: int = 1,
        graph_optimization_level: str = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._spec_of = spec_of
        self._threads = intra_op_threads
        self._level = graph_optimization_level
        self._clock = clock
        self._loaded: dict[bytes, LoadedModel] = {}
        self._failed: dict[bytes, tuple[float, ModelError]] = {}

    def get(self, model_id: bytes) -> LoadedModel:
        """The loaded model, or the `ModelError` that stops it loading (unknown, unreachable, hash mismatch, …)."""
        model_id = bytes(model_id)
        loaded = self._loaded.get(model_id)
        if loaded is not None:
            return loaded
        failed = self._failed.get(model_id)
        if failed is not None and self._clock() - failed[0] < MODEL_RETRY_S:
            raise failed[1]
        try:
            spec = self._spec_of(model_id)
            path = self.store.fetch(model_id, spec.uri)
            runner = OnnxRunner(path, self._threads, self._level, expected_id=model_id)
        except ModelError as exc:
            self._failed[model_id] = (self._clock(), exc)
            raise
        self._failed.pop(model_id, None)
        loaded = LoadedModel(model_id, spec, runner)
        self._loaded[model_id] = loaded
        return loaded


# ------------------------------------------------------------------------------------------------------ the stage


@dataclass(frozen=True)
class Policy:
    """Which requests this node takes (config `modes` and `policy`)."""

    modes: tuple[Mode, ...]
    min_fee_wei: int = 0
    gas_per_result: int = 0


class Fees(Protocol):
    @property
    def base_fee(self) -> int: ...


class ComputeStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]: ...
    def jobs(self, state: JobState, *, limit: int = ..., after: int = ...) -> list[Job]: ...
    def mark_computed_many(self, results: Sequence[tuple[int, bytes, bytes]]) -> None: ...
    def mark_failed(self, request_id: int, reason: str) -> Job: ...


@dataclass
class Computed:
    """What one compute step did."""

    computed: int = 0
    failed: int = 0


class Compute:
    """The `seen` jobs: skipped with a reason (mode, deadline, eligibility, fee), handed to the provers (ZK), or run
    as one batch per model and journalled `computed` (or failed, naming the model's error)."""

    def __init__(
        self,
        store: ComputeStore,
        catalog: Catalog,
        hub: HubReader,
        clock: Clock,
        fees: Fees,
        policy: Policy,
        metrics: NodeMetrics,
        log: Any,
        *,
        prover: Prove | None = None,
        timer: Timer | None = None,
        max_jobs: int = MAX_JOBS_PER_STEP,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.hub = hub
        self.clock = clock
        self.fees = fees
        self.policy = policy
        self.metrics = metrics
        self.log = log
        self.prover = prover
        self._timer: Timer = timer if timer is not None else (lambda _section: nullcontext())
        self.max_jobs = max_jobs

    def step(self) -> Computed:
        done = Computed()
        if self.prover is not None:
            proven, failed = self.prover.collect()
            done.computed += proven
            done.failed += failed
        jobs = self.store.jobs(JobState.SEEN, limit=self.max_jobs)
        if not jobs:
            return done
        now = self.clock.chain_time()
        base_fee = self.fees.base_fee
        by_model: dict[bytes, list[Job]] = defaultdict(list)
        skipped: list[tuple[Job, str, str]] = []
        sw = self._timer
        for job in jobs:
            if self.prover is not None and self.prover.has(job.request_id):
                continue  # being proven
            with sw("decode"):
                request = params_of(job)
            reason = self.skip_reason(request, now, base_fee)
            seats = 0 if reason is not None else self.hub.seats_open(job.request_id, request, now)
            if isinstance(seats, str):
                reason = ("not_assigned", seats)
            if reason is not None:
                skipped.append((job, reason[0], reason[1]))
            elif seats == 0:
                # The lottery gives better tickets the first turn: work only once this node's window opens, when
                # the request may still be open because the nodes ahead did not answer (a dead primary).
                continue
            elif request.mode == Mode.ZK and self.prover is not None:
                self.prover.start(job.request_id, request.model_id, job.input)
            else:
                by_model[request.model_id].append(job)
        outcomes: list[tuple[Job, bytes | ModelError]] = []
        for model_id, group in by_model.items():
            try:
                model = self.catalog.get(model_id)
            except ModelError as exc:
                outcomes.extend((job, exc) for job in group)
                continue
            with sw("inference"):  # tensor decode, the onnxruntime batch, canonical encode
                outputs = model.compute([job.input for job in group])
            outcomes.extend(zip(group, outputs, strict=True))
        with sw("journal"), self.store.transaction():
            for job, label, why in skipped:
                self.store.mark_failed(job.request_id, f"skipped: {why}")
                self.metrics.failed.labels(label).inc()
            computed = []
            for job, out in outcomes:
                if isinstance(out, ModelError):
                    self.store.mark_failed(job.request_id, f"model: {out}")
                    self.metrics.failed.labels("model").inc()
                else:
                    computed.append((job.request_id, out, bytes(keccak(out))))
            self.store.mark_computed_many(computed)
        done.computed += len(computed)
        for job, label, why in skipped:  # another mode's request is routine; the rest is worth an operator's look
            (self.log.debug if label == "mode" else self.log.info)(
                "request skipped", request_id=job.request_id, reason=label, detail=why
            )
        for job, out in outcomes:
            if isinstance(out, ModelError):
                self.log.warning("request failed", request_id=job.request_id, reason="model", detail=str(out))
        done.failed += len(skipped) + sum(isinstance(out, ModelError) for _, out in outcomes)
        return done

    def skip_reason(self, request: RequestParams, now: int, base_fee: int) -> tuple[str, str] | None:
        """(metric label, why) if this node does not serve the request, else None."""
        policy = self.policy
        if request.mode not in policy.modes:
            return "mode", f"mode {request.mode.name} is not served by this node (config `modes`)"
        if request.deadline <= now:
            return "expired", f"deadline {request.deadline} passed (chain time {now})"
        not_eligible = self.hub.eligible(request.model_id)
        if not_eligible is not None:
            return "not_eligible", f"cannot serve model 0x{request.model_id.hex()}: {not_eligible}"
        share = request.fee // max(request.redundancy, 1)
        transactions = 1 if request.mode == Mode.SINGLE else 3  # submit; or commit, reveal and maybe finalize
        # The deliverer (a SINGLE or ZK node; in CONSENSUS whoever finalizes, priced on every seat) also burns the
        # requester's callback gas: the hub escrows none of it yet, so the fee must cover it.
        gas = transactions * policy.gas_per_result + request.callback_gas_limit
        required = policy.min_fee_wei + base_fee * gas
        if share < required:
            return "fee", (
                f"fee share {share} wei < {required} wei (policy.min_fee_wei {policy.min_fee_wei} + base fee "
                f"{base_fee} x {gas} gas, the callback's {request.callback_gas_limit} included)"
            )
        return None
