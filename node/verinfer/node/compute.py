"""The compute stage: each served model loaded once (hash-checked fetch, deterministic runner in a sandboxed worker
process), and the pending requests of one model run as one onnxruntime batch (`Compute.step`; ZK requests go to the
provers instead).

Each model has a lane of its own (`ModelLanes`): its fetch, load and batches run on the lane's thread, so a model
that downloads slowly, loops or allocates without end holds up its own requests only. A step hands every idle
model its batch, waits briefly for them, and journals whatever lanes have finished (in the scheduler's thread: the
journal has one writer); a lane still busy is collected by a later step.

A request that cannot be served gets a `ModelError` naming why (wrong input length, unreadable model, runtime
failure); one that breaches its model's sandbox limits fails with the reason `limit`, once, and is not run again.
The others in its batch still get their outputs. Nothing false is ever produced: a failed row has no output at all.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from eth_utils.crypto import keccak

from verinfer.chain import lottery
from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec, signature
from verinfer.inference.card import ModelCard
from verinfer.inference.model_store import ModelInfo, ModelStore, inspect_model
from verinfer.inference.runner import OnnxRunner
from verinfer.inference.sandbox import CancelledError, LimitExceededError, Sandbox, SandboxLimits
from verinfer.node.final import delivery_gas
from verinfer.node.journal import Job, JobState
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Catalog, Clock, HubReader, Timer
from verinfer.node.prove import Prove
from verinfer.node.request import params_of
from verinfer.text.bundle import fetch_bundle
from verinfer.text.serve import SandboxedText, TextGenerator, TextLoad, TextModel, load_text_model
from verinfer.types import CALLBACK_ON_FINAL, Mode, ModelSpec, RequestParams, callback_gas

MODEL_RETRY_S = 30.0  # a model that failed to load is tried again after this long (its URI may come back)
MAX_JOBS_PER_STEP = 4_096
MAX_PAGES = 8  # pages of `seen` jobs a step reads past the ones already in a lane
LANE_WAIT_S = 1.0  # how long a step waits for the batches it just handed out (a fast model answers in this tick)
QUARANTINE_AFTER = 3  # single-request breaches in a row after which a model's other requests fail unrun
QUARANTINE_S = 600.0  # ... for this long; then the model is given its chance again


class Runner(Protocol):
    def run_batch(self, inputs: Any) -> Any: ...


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc}") from exc


class _TextRunner:
    """The runner slot of a text model, which computes through `LoadedModel.text` instead."""

    def run_batch(self, inputs: Any) -> Any:
        raise ModelError("a text model runs through verinfer.text.serve, not as a tensor batch")


_TEXT_RUNNER = _TextRunner()


@dataclass
class LoadedModel:
    """A model ready to run: in a sandboxed worker (`Sandbox`) on a node, in process (`OnnxRunner`) in tools."""

    model_id: bytes
    spec: ModelSpec
    runner: Runner
    info: ModelInfo | None = None
    """The model's signature; None takes the runner's (an `OnnxRunner` has one, a `Sandbox` is given one)."""
    breaches_in_a_row: int = 0
    quarantined_until: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    text: TextModel | SandboxedText | None = None
    """A text model (verinfer.text.serve): it computes instead of the runner (in its sandbox worker on a node)."""
    _layout: signature.Layout | None = field(default=None, repr=False)

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        """The canonical output of each input, or the error that stops it; batched where the inputs allow.

        A batch that breaches the sandbox's limits is run again one request at a time, so the request that breaks
        them is found and the others are served; after QUARANTINE_AFTER single-request breaches in a row the model's
        remaining requests fail with `LimitExceededError` unrun, for QUARANTINE_S (a hostile model cannot hold its
        lane for requests x timeout). `CancelledError` (the node is stopping) propagates: nothing is recorded."""
        if self.text is not None:
            if self._quarantined():
                return [self._quarantine_error() for _ in inputs]
            answers = self.text.compute(inputs)
            for answer in answers:
                if isinstance(answer, LimitExceededError):
                    self._breached()
                else:
                    self.breaches_in_a_row = 0
            return answers
        results: list[bytes | ModelError] = [ModelError("not computed")] * len(inputs)
        rows: list[dict[str, np.ndarray]] = []
        where: list[int] = []
        for i, data in enumerate(inputs):
            try:
                rows.append(signature.feeds(data, self.layout))
                where.append(i)
            except CodecError as exc:
                results[i] = ModelError(f"malformed input: {exc}")
        if not rows:
            return results
        outputs: list[list[np.ndarray]] | None = None
        if not self._quarantined():
            try:
                outputs = self._run(rows)
            except CancelledError:
                raise
            except LimitExceededError as exc:
                if len(rows) == 1:
                    self._breached()
                    results[where[0]] = exc
                    return results
            except ModelError:
                pass
        if outputs is None:  # find the row that breaks the batch; the others still get served
            for i, row in zip(where, rows, strict=True):
                if self._quarantined():
                    results[i] = self._quarantine_error()
                    continue
                try:
                    results[i] = self._encode(self._run([row])[0])
                    self.breaches_in_a_row = 0
                except CancelledError:
                    raise
                except LimitExceededError as exc:
                    self._breached()
                    results[i] = exc
                except ModelError as exc:
                    results[i] = exc
            return results
        self.breaches_in_a_row = 0
        for i, output in zip(where, outputs, strict=True):
            try:
                results[i] = self._encode(output)
            except ModelError as exc:
                results[i] = exc
        return results

    @property
    def _info(self) -> ModelInfo:
        if self.info is None:
            info = getattr(self.runner, "info", None)
            if not isinstance(info, ModelInfo):
                raise ModelError(f"model 0x{self.model_id.hex()} was loaded without its signature")
            self.info = info
        return self.info

    @property
    def layout(self) -> signature.Layout:
        """How the entry lays the model's ports on the canonical tensors (its card's scales and committed outputs);
        `ModelCardError` if the card does not describe the file."""
        if self._layout is None:
            self._layout = signature.Layout.of(self._info, self.spec)
        return self._layout

    @property
    def _rows(self) -> int:
        return self.layout.rows

    def _quarantine_error(self) -> LimitExceededError:
        return LimitExceededError(
            f"model 0x{self.model_id.hex()} breached its sandbox limits on {QUARANTINE_AFTER} requests in a row: not "
            f"run for {QUARANTINE_S:g}s",
            kind="quarantine",
        )

    def _quarantined(self) -> bool:
        return self.clock() < self.quarantined_until

    def _breached(self) -> None:
        self.breaches_in_a_row += 1
        if self.breaches_in_a_row >= QUARANTINE_AFTER:
            self.quarantined_until = self.clock() + QUARANTINE_S
            self.breaches_in_a_row = 0

    def _run(self, rows: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        """Each request's committed outputs; several requests run as one batch, stacked along the rows."""
        if len(rows) == 1:
            return [list(self.runner.run_batch(rows[0]))]
        stacked = {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}
        outputs = [np.asarray(out) for out in self.runner.run_batch(stacked)]
        per_row = self._rows
        if any(out.shape[:1] != (per_row * len(rows),) for out in outputs):
            raise ModelError(
                f"the model answered {len(rows)} requests with outputs shaped {[o.shape for o in outputs]}"
            )
        return [[out[i * per_row : (i + 1) * per_row] for out in outputs] for i in range(len(rows))]

    def _encode(self, outputs: list[np.ndarray]) -> bytes:
        try:
            data = signature.encode_outputs(outputs, self.layout)
        except CodecError as exc:
            raise ModelError(f"output cannot be encoded canonically: {exc}") from exc
        expected = math.prod(self.spec.output_shape)
        if len(data) != expected * codec.ELEMENT_BYTES:
            raise ModelError(
                f"the model produced {len(data) // codec.ELEMENT_BYTES} output values; the registry says "
                f"{list(self.spec.output_shape)}"
            )
        return data


def model_limits(model_id: bytes, spec: ModelSpec, bounds: SandboxLimits) -> SandboxLimits:
    """The sandbox limits of one model: its card's (`limits`), within the node's `bounds`; the node's where the card
    is silent. A card asking more than the node allows is a `ModelError` naming the setting that would allow it: the
    publisher declared what one request needs, so running it under less would fail honest requests."""
    asked = ModelCard.from_bytes(spec.card).limits
    timeout_s = bounds.timeout_s if asked.timeout_ms is None else asked.timeout_ms / 1000
    memory = bounds.memory_bytes if asked.memory_mb is None else asked.memory_mb << 20
    if timeout_s > bounds.timeout_s:
        raise ModelError(
            f"model 0x{model_id.hex()} asks for {timeout_s:g}s per request, this node allows {bounds.timeout_s:g}s: "
            "raise sandbox.timeout_s in the node's config to serve it"
        )
    if memory > bounds.memory_bytes:
        raise ModelError(
            f"model 0x{model_id.hex()} asks for {memory >> 20} MB per request, this node allows "
            f"{bounds.memory_bytes >> 20} MB: raise sandbox.memory_mb in the node's config to serve it"
        )
    return SandboxLimits(timeout_s=timeout_s, memory_bytes=memory)


class ModelCatalog:
    """The models this node has loaded, by id. A load failure is remembered for MODEL_RETRY_S, then retried.

    With `sandbox` limits each model runs in a worker process of its own (`Sandbox`); without, in this process (for
    tools and comparisons only: a node always sandboxes). `cancel` (set when the node stops) kills busy workers.
    Lanes call `get` for different models at once; one model is only ever loaded by its own lane.
    """

    def __init__(
        self,
        store: ModelStore,
        spec_of: Callable[[bytes], ModelSpec],
        *,
        intra_op_threads: int = 1,
        graph_optimization_level: str = "basic",
        sandbox: SandboxLimits | None = None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: Any = None,
        mirrors_of: Callable[[bytes], Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self._log = log
        self._spec_of = spec_of
        self._mirrors_of = mirrors_of
        self._threads = intra_op_threads
        self._level = graph_optimization_level
        self.sandbox = sandbox
        self.cancel = cancel if cancel is not None else threading.Event()
        self._clock = clock
        self._loaded: dict[bytes, LoadedModel] = {}
        self._failed: dict[bytes, tuple[float, ModelError]] = {}
        self._loading: dict[bytes, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, model_id: bytes) -> LoadedModel:
        """The loaded model, or the `ModelError` that stops it loading (unknown, unreachable, hash mismatch, …).
        Thread-safe: the watch stages' lanes and the compute lanes may ask for one model at once; it loads once."""
        model_id = bytes(model_id)
        with self._guard:
            lock = self._loading.setdefault(model_id, threading.Lock())
        with lock:
            return self._get(model_id)

    def _get(self, model_id: bytes) -> LoadedModel:
        loaded = self._loaded.get(model_id)
        if loaded is not None:
            return loaded
        failed = self._failed.get(model_id)
        if failed is not None and self._clock() - failed[0] < MODEL_RETRY_S:
            raise failed[1]
        try:
            spec = self._spec_of(model_id)
            if spec.is_text:
                return self._load_text(model_id, spec)
            path = self.store.fetch_first(model_id, self._uris(model_id, spec))
            runner: Runner
            if self.sandbox is None:
                runner = OnnxRunner(path, self._threads, self._level, expected_id=model_id)
                loaded = LoadedModel(model_id, spec, runner, runner.info)
                loaded.layout  # a card that does not describe the file fails the load, named  # noqa: B018
            else:
                # The signature only: the worker loads and runs the graph.
                info = inspect_model(_read(path), allow_dynamic_batch=True).signature_only()
                layout = signature.Layout.of(info, spec)  # checked before a worker is spent on it
                sandbox = Sandbox(
                    path,
                    limits=model_limits(model_id, spec, self.sandbox),
                    intra_op_threads=self._threads,
                    graph_optimization_level=self._level,
                    expected_id=model_id,
                    cancel=self.cancel,
                )
                sandbox.start()  # the worker checks the hash and loads the model: a bad file fails here, named
                loaded = LoadedModel(model_id, spec, sandbox, info, _layout=layout)
        except CancelledError:
            raise
        except ModelError as exc:
            self._failed[model_id] = (self._clock(), exc)
            raise
        self._failed.pop(model_id, None)
        self._loaded[model_id] = loaded
        return loaded

    def _uris(self, model_id: bytes, spec: ModelSpec) -> Iterator[str]:
        """The entry's URI, then (only if it fails) the mirrors its publisher or the registry's owner added."""
        yield spec.uri
        if self._mirrors_of is not None:
            yield from self._mirrors_of(model_id)

    def _load_text(self, model_id: bytes, spec: ModelSpec) -> LoadedModel:
        """A text model (verinfer.text.serve): its bundle or file is hash-checked like any model. With sandbox limits
        it computes in a worker of its own, loaded from the cache this process just filled; without, in process."""
        text: TextModel | SandboxedText
        if self.sandbox is not None:
            if spec.is_bundle:
                fetch_bundle(self.store, model_id, spec.uri)  # into the cache, checked; the worker reads it there
                where = self.store.bundle_dir(model_id)
            else:
                where = self.store.fetch_first(model_id, self._uris(model_id, spec))
            loader = TextLoad(
                str(self.store.cache_dir), self.store.max_bytes, model_id, spec, self._threads, self._level
            )
            sandbox = Sandbox(
                where, limits=model_limits(model_id, spec, self.sandbox), cancel=self.cancel, loader=loader
            )
            sandbox.start()  # the worker loads and checks the model: a bad bundle fails here, named
            text = SandboxedText(sandbox, on_generation=self._log_generation(model_id))
            runner: Runner = sandbox
        else:
            model = load_text_model(
                self.store,
                lambda mid, uri: _read(self.store.fetch_first(mid, self._uris(mid, spec))),
                model_id,
                spec,
                intra_op_threads=self._threads,
                graph_optimization_level=self._level,
            )
            log_generation = self._log_generation(model_id)
            if isinstance(model, TextGenerator) and log_generation is not None:
                model.on_generation = lambda g: log_generation(len(g.token_ids), g.min_margin, g.near_tie)
            text, runner = model, _TEXT_RUNNER
        self._failed.pop(model_id, None)
        loaded = LoadedModel(model_id, spec, runner, text=text)
        self._loaded[model_id] = loaded
        return loaded

    def _log_generation(self, model_id: bytes) -> Callable[[int, float, bool], None] | None:
        log = self._log
        if log is None:
            return None
        return lambda tokens, margin, near_tie: log.info(
            "answer generated",
            model="0x" + model_id.hex(),
            tokens=tokens,
            min_margin=round(margin, 6),
            near_tie=near_tie,
        )

    def close(self) -> None:
        """Stops every model's worker."""
        self.cancel.set()
        for loaded in list(self._loaded.values()):
            if isinstance(loaded.runner, Sandbox):
                loaded.runner.close()
        self._loaded.clear()


class ModelLanes:
    """One lane per model: a daemon thread at a time runs that model's fetch, load and batch, so no model waits for
    another. `start` refuses a busy lane; `finished` hands back what is done. Every thread is tracked and joined
    (briefly) by `close`, after the catalog's cancel event has killed the workers they wait on."""

    def __init__(self) -> None:
        self._busy: dict[bytes, tuple[Future[list[bytes | ModelError]], list[Job]]] = {}
        self._threads: list[threading.Thread] = []

    def busy(self, model_id: bytes) -> bool:
        return bytes(model_id) in self._busy

    @property
    def request_ids(self) -> set[int]:
        return {job.request_id for _, jobs in self._busy.values() for job in jobs}

    def start(
        self, model_id: bytes, jobs: list[Job], work: Callable[[], list[bytes | ModelError]]
    ) -> Future[list[bytes | ModelError]]:
        future: Future[list[bytes | ModelError]] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

        thread = threading.Thread(target=run, name=f"verinfer-lane-{bytes(model_id).hex()[:8]}", daemon=True)
        self._busy[bytes(model_id)] = (future, jobs)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return future

    def finished(self) -> list[tuple[bytes, list[Job], Future[list[bytes | ModelError]]]]:
        done = [(m, jobs, f) for m, (f, jobs) in self._busy.items() if f.done()]
        for model_id, _, _ in done:
            del self._busy[model_id]
        return done

    def close(self, timeout_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        self._threads.clear()
        self._busy.clear()


# ------------------------------------------------------------------------------------------------------ the stage


@dataclass(frozen=True)
class Policy:
    """Which requests this node takes (config `modes` and `policy`)."""

    modes: tuple[Mode, ...]
    min_fee_wei: int = 0
    gas_per_result: int = 0
    final_delivery_gas: int = field(default_factory=delivery_gas)
    """Gas of a deferred final delivery beyond its callback (its `deliverFinal` item and batch share)."""


class Fees(Protocol):
    @property
    def gas_price(self) -> int:
        """What the node pays per gas: the base fee plus its priority fee."""
        ...


class ComputeStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]: ...
    def job(self, request_id: int) -> Job | None: ...
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
        lane_wait_s: float = LANE_WAIT_S,
        waiting_for: Callable[[bytes], bool] | None = None,
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
        self.lane_wait_s = lane_wait_s
        self.waiting_for = waiting_for
        """model id => whether its requests wait (the node is declaring the model served right now)."""
        self.lanes = ModelLanes()

    def step(self) -> Computed:
        done = Computed()
        if self.prover is not None:
            proven, failed = self.prover.collect()
            done.computed += proven
            done.failed += failed
        jobs = self._waiting()
        if not jobs and not self.lanes.request_ids:
            return done
        by_model: dict[bytes, list[Job]] = defaultdict(list)
        skipped: list[tuple[Job, str, str]] = []
        sw = self._timer
        if jobs:
            now = self.clock.chain_time()
            gas_price = self.fees.gas_price
            for job in jobs:
                with sw("decode"):
                    request = params_of(job)
                if self.waiting_for is not None and self.waiting_for(request.model_id):
                    continue  # stays `seen` until the registry says this node serves the model
                reason = self.skip_reason(request, now, gas_price)
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
                elif not self.lanes.busy(request.model_id):
                    by_model[request.model_id].append(job)
        started = [
            self.lanes.start(model_id, group, self._work(model_id, [job.input for job in group]))
            for model_id, group in by_model.items()
        ]
        if started:
            with sw("inference"):  # the lanes' threads decode, run the sandboxed batch and encode meanwhile
                wait(started, timeout=self.lane_wait_s)
        outcomes: list[tuple[Job, bytes | ModelError]] = []
        for model_id, group, future in self.lanes.finished():
            error = future.exception()
            if isinstance(error, CancelledError):
                continue  # the node is stopping: these jobs stay `seen` for the next start
            if isinstance(error, ModelError):
                outcomes.extend((job, error) for job in group)
            elif error is not None:  # the RPC failed reading the model's spec, say: the jobs stay `seen`, retried
                self.log.warning(
                    "model lane failed; retrying", model="0x" + model_id.hex(), jobs=len(group), error=repr(error)
                )
            else:
                outcomes.extend(zip(group, future.result(), strict=True))
        # A job whose request changed while its lane ran (a reorg gave the id to another request) keeps its new
        # content and stays `seen`: the output computed for the old input must not be recorded for it.
        outcomes = [(job, out) for job, out in outcomes if self._unchanged(job)]
        with sw("journal"), self.store.transaction():
            for job, label, why in skipped:
                self.store.mark_failed(job.request_id, f"skipped: {why}")
                self.metrics.failed.labels(label).inc()
            computed = []
            for job, out in outcomes:
                if isinstance(out, LimitExceededError):
                    self.store.mark_failed(job.request_id, f"limit: {out}")
                    self.metrics.failed.labels("limit").inc()
                elif isinstance(out, ModelError):
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
                label = "limit" if isinstance(out, LimitExceededError) else "model"
                self.log.warning("request failed", request_id=job.request_id, reason=label, detail=str(out))
        done.failed += len(skipped) + sum(isinstance(out, ModelError) for _, out in outcomes)
        return done

    def _unchanged(self, job: Job) -> bool:
        now = self.store.job(job.request_id)
        return now is not None and now.state is JobState.SEEN and (now.params, now.input) == (job.params, job.input)

    def _waiting(self) -> list[Job]:
        """Up to `max_jobs` `seen` jobs that no lane or prover holds, lowest id first (paging past held ones)."""
        held = self.lanes.request_ids
        found: list[Job] = []
        after = 0
        for _ in range(MAX_PAGES):
            page = self.store.jobs(JobState.SEEN, limit=self.max_jobs, after=after)
            found.extend(
                job
                for job in page
                if job.request_id not in held and not (self.prover is not None and self.prover.has(job.request_id))
            )
            if len(page) < self.max_jobs or len(found) >= self.max_jobs:
                break
            after = page[-1].request_id
        return found[: self.max_jobs]

    def _work(self, model_id: bytes, inputs: list[bytes]) -> Callable[[], list[bytes | ModelError]]:
        catalog = self.catalog
        return lambda: catalog.get(model_id).compute(inputs)

    def warm(self, model_ids: Sequence[bytes]) -> None:
        """Fetches and loads these models in their lanes now (a sandboxed worker takes seconds to start), so the
        first request for each does not wait for it. A model that fails to load fails its requests later, named."""
        catalog = self.catalog

        def load(model_id: bytes) -> Callable[[], list[bytes | ModelError]]:
            def work() -> list[bytes | ModelError]:
                catalog.get(model_id)
                return []

            return work

        for model_id in model_ids:
            if not self.lanes.busy(model_id):
                self.lanes.start(model_id, [], load(model_id))

    def close(self) -> None:
        """Waits (briefly) for the lanes; call after the catalog's cancel event is set."""
        self.lanes.close()

    def skip_reason(self, request: RequestParams, now: int, gas_price: int) -> tuple[str, str] | None:
        """(metric label, why) if this node does not serve the request, else None."""
        policy = self.policy
        if request.mode not in policy.modes:
            return "mode", f"mode {request.mode.name} is not served by this node (config `modes`)"
        if request.deadline <= now:
            return "expired", f"deadline {request.deadline} passed (chain time {now})"
        not_eligible = self.hub.eligible(request.model_id)
        if not_eligible is not None:
            return "not_eligible", f"cannot serve model 0x{request.model_id.hex()}: {not_eligible}"
        terms = lottery.Lottery.unpack(request.lottery)
        callback = callback_gas(request.callback_gas_limit)
        escrow = terms.escrow(callback)
        share = (request.fee - escrow) // max(request.redundancy, 1)
        transactions = 1 if request.mode == Mode.SINGLE else 3  # submit; or commit, reveal and maybe finalize
        # The deliverer (a SINGLE or ZK node; in CONSENSUS whoever finalizes, priced on every seat) burns the
        # requester's callback gas. The escrow reimburses it at up to its cap per gas; above the cap the fee pays, tip
        # included: a cap at the base fee alone would leave the node paying its priority fee on every unit.
        above_cap = max(gas_price - terms.callback_gas_price, 0)
        gas = transactions * policy.gas_per_result
        # A callback that waits for finality goes out later in a batched `deliverFinal` this node sends: its item and
        # its share of the batch are the node's, beyond the callback gas the escrow reimburses.
        deferred = policy.final_delivery_gas if _waits_for_final(request) else 0
        required = policy.min_fee_wei + gas_price * (gas + deferred) + above_cap * callback
        if share < required:
            described = (
                f"; its {callback}-gas callback escrowed at {terms.callback_gas_price} wei/gas, "
                f"{above_cap} below the gas price"
                if callback
                else ""
            )
            final = f" + {deferred} gas of its deferred final delivery" if deferred else ""
            return "fee", (
                f"fee share {share} wei < {required} wei (policy.min_fee_wei {policy.min_fee_wei} + gas price "
                f"{gas_price} x {gas} gas{final}{described})"
            )
        return None


def _waits_for_final(request: RequestParams) -> bool:
    """Whether a request's callback waits for its SINGLE result to be final (delivered by `deliverFinal`)."""
    return request.mode == Mode.SINGLE and bool(request.callback_gas_limit & CALLBACK_ON_FINAL)
