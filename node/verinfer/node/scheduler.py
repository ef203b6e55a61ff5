"""The node's pipeline, one bounded step at a time: event → journal → inference → commitment → transaction →
receipt → journal.

    scheduler = Scheduler(stages, journal, chain, metrics, timer)
    scheduler.recover()        # once at start: broadcast again what the journal says was signed, resync nonces
    while running:
        scheduler.tick()       # ingest, compute (and prove), submit, consensus, track, final; each journals first

Each stage is its own module and unit (`ingest`, `compute`, `prove`, `submit`, `consensus`, `track`); this one only
orders them, skipping the ones with nothing to do, and accounts their CPU time.

A stage that fails on the RPC (a `ChainError` or `OSError`, after the client's own capped retries) does not stop the
others: its error is counted and reported in `TickReport.errors`, and the next stage runs on what the journal holds
(a watcher that cannot read new blocks does not keep computed results from being sent or tracked).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from verinfer.errors import ChainError
from verinfer.node.committee import Committee
from verinfer.node.compute import Compute
from verinfer.node.consensus import Consensus
from verinfer.node.final import FinalDeliveries
from verinfer.node.ingest import Ingest
from verinfer.node.journal import Job, JobState
from verinfer.node.lock import KeyInUseError
from verinfer.node.metrics import NodeMetrics
from verinfer.node.models import ModelFollower
from verinfer.node.ports import Clock, Timer
from verinfer.node.prune import Pruner
from verinfer.node.request import params_of
from verinfer.node.submit import Submit
from verinfer.node.track import Track
from verinfer.node.wallet import Wallet
from verinfer.node.watch import Watchtower
from verinfer.types import Mode

MAX_COMPUTED_PER_TICK = 4_096
MAX_WATCH_POLLS = 8
MAX_QUIET_S = 1.0
"""A compute step found nothing to do (every waiting request's lottery window still closed): while nothing it reads
changes, the next ones are skipped, for at most this long (registry caches expire meanwhile)."""


@dataclass
class TickReport:
    """What one tick did (counts), for logs, tests and the benchmark."""

    seen: int = 0
    computed: int = 0
    failed: int = 0
    sent: int = 0
    confirmed: int = 0
    reorged_from: int | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """stage => the RPC error that stopped it this tick (the other stages still ran)."""


@dataclass(frozen=True)
class Stages:
    ingest: Ingest
    compute: Compute
    submit: Submit
    consensus: Consensus
    track: Track
    final: FinalDeliveries | None = None
    """Callbacks owed once results are final (None: a node without the final stage, as in some unit tests)."""
    watch: Watchtower | None = None
    """Re-executes other nodes' results and challenges wrong ones (config `watch.watchtower`)."""
    committee: Committee | None = None
    """Votes on and settles disputes (config `watch.committee`, and this node's own challenges)."""


class SeatWindows(Protocol):
    """The hub reader's account of one compute step's `seats_open` answers (`HubView.begin_seats`)."""

    def begin_seats(self) -> None: ...
    def seats_quiet(self, requests: int, now: int) -> bool: ...


@dataclass(frozen=True)
class _Quiet:
    """A compute step that changed nothing: what it saw (seen jobs, head) and until when its verdict may stand."""

    seen: int
    head: int
    until: float


class Sending(Protocol):
    """A stage that sends transactions of its own when due (rate-limited inside)."""

    def step(self) -> int: ...


class Backlog(Protocol):
    def backlog(self) -> dict[JobState, int]: ...
    def jobs(self, state: JobState, *, limit: int = ..., after: int = ...) -> list[Job]: ...


class Chain(Protocol):
    """What the scheduler itself reads once per new block: the head, fees, balance; and the nonces to resync."""

    def block_number(self) -> int: ...
    def refresh_fees(self) -> int: ...
    def balance(self) -> int: ...
    def resync_nonces(self) -> object: ...
    def foreign_nonce(self) -> int | None: ...


class Scheduler:
    def __init__(
        self,
        stages: Stages,
        store: Backlog,
        chain: Chain,
        metrics: NodeMetrics,
        timer: Timer,
        confirmations: int,
        *,
        models: ModelFollower | None = None,
        pruner: Pruner | None = None,
        wallet: Wallet | None = None,
        windows: SeatWindows | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stages = stages
        self.wallet = wallet
        self.models = models
        self.pruner = pruner
        self.store = store
        self.chain = chain
        self.metrics = metrics
        self.timer = timer
        self.confirmations = confirmations
        self.windows = windows
        """With `clock`: lets the scheduler skip compute steps that would change nothing (`_compute_due`)."""
        self.clock = clock
        self._monotonic = monotonic
        self._quiet: _Quiet | None = None
        self._head = 0
        self.waiting: dict[JobState, int] = {}
        """The journal's backlog after the last tick (what /healthz weighs against progress)."""

    def recover(self) -> None:
        """At start-up, before anything new is signed: every transaction the journal holds but the chain has not
        mined goes out again (same bytes), then the nonce manager reads the chain."""
        self.stages.ingest.complete_legacy()
        self.stages.track.track(self.chain.block_number())
        self.chain.resync_nonces()

    def tick(self) -> TickReport:
        report = TickReport()
        stages = self.stages
        before = self._head
        self._stage(report, "watch", lambda: self._watch(report))
        if self._head != before:  # a new block: fees may have moved, and a reorg may have taken something out
            self._stage(report, "fees", self._new_block)
            self._stage(report, "audit", lambda: stages.track.audit(self._head))
        if self.pruner is not None:  # every tick, rate-limited by the pruner: a head that jumped while it was not
            pruner = self.pruner  # due (one block mined after a burst) is still pruned on an idle chain later
            self._stage(report, "prune", lambda: pruner.step(self._head))
        # Rate-limited by the stage: wakes the failed jobs of rounds that escalated, before compute looks at them.
        self._stage(report, "escalations", stages.consensus.join_escalations)
        if self.models is not None:
            models = self.models
            self._stage(report, "models", lambda: setattr(report, "sent", report.sent + models.step()))
        # One count per state decides which stages have anything to do: an idle tick costs a few cheap reads.
        waiting = self.store.backlog()
        proving = stages.compute.prover is not None and stages.compute.prover.busy > 0
        paused = self.wallet is not None and self.wallet.paused  # no new work; what is in flight still goes
        if (waiting[JobState.SEEN] or proving) and not paused and self._compute_due(report, waiting[JobState.SEEN]):
            self._stage(report, "compute", lambda: self._compute(report, waiting[JobState.SEEN]))
            waiting = self.store.backlog()
        ready: dict[Mode, list[Job]] = {mode: [] for mode in Mode}
        if waiting[JobState.COMPUTED] and not paused:
            ready = self._computed_by_mode()
            self._stage(report, "submit", lambda: self._submit(report, ready))
        if ready[Mode.CONSENSUS] or waiting[JobState.COMMITTED] or waiting[JobState.REVEALED]:
            self._stage(report, "consensus", lambda: self._consensus(report, ready[Mode.CONSENSUS]))
        self._stage(report, "track", lambda: self._track(report))
        # Rate-limited by each stage.
        for name, stage in (("final", stages.final), ("watch", stages.watch), ("committee", stages.committee)):
            if stage is not None:
                self._stage(report, name, self._sending(report, stage))
        self.waiting = self.store.backlog()
        for state, count in self.waiting.items():
            self.metrics.backlog.labels(state.value).set(count)
        return report

    @staticmethod
    def _sending(report: TickReport, stage: Sending) -> Callable[[], None]:
        def step() -> None:
            report.sent += stage.step()

        return step

    def _new_block(self) -> None:
        base_fee = self.chain.refresh_fees()
        balance = self.chain.balance()
        self.metrics.balance.set(balance)
        if self.wallet is not None:
            self.wallet.update(balance, base_fee)
        foreign = self.chain.foreign_nonce()
        if foreign is not None:
            raise KeyInUseError(
                f"another process is sending from this node's key: the chain's pending nonce is {foreign}, ahead of "
                "every nonce this node handed out. Two nodes on one key deliver results twice: stop the other "
                "process, or give each node its own key (keys.*) and journal_path"
            )

    def _watch(self, report: TickReport) -> None:
        for _ in range(MAX_WATCH_POLLS):
            batch = self.stages.ingest.poll()
            self.metrics.head.set(batch.head)
            self._head = batch.head
            if batch.reorged_from is not None:
                report.reorged_from = batch.reorged_from
            report.seen += len(batch.requests)
            self.metrics.seen.inc(len(batch.requests))
            if not batch.scanned or batch.scanned.stop - 1 >= batch.head - self.confirmations:
                return

    def _compute(self, report: TickReport, seen: int) -> None:
        if self.windows is not None:
            self.windows.begin_seats()
        done = self.stages.compute.step()
        report.computed += done.computed
        report.failed += done.failed
        compute = self.stages.compute
        idle = not compute.lanes.request_ids and compute.prover is None  # a prover's results come in unannounced
        if done.computed == 0 and done.failed == 0 and idle:
            self._quiet = _Quiet(seen, self._head, self._monotonic() + MAX_QUIET_S)

    def _compute_due(self, report: TickReport, seen: int) -> bool:
        """False when the last compute step changed nothing and nothing it depends on changed since: the same `seen`
        jobs (none recorded or restarted since), the same head (fees), no lane busy, no prover, no model being
        declared, under MAX_QUIET_S, and the hub says none of the windows it answered "not yet" for has opened (nor
        deadline passed). Each skipped step re-read every waiting job and its lottery, thousands a second."""
        quiet, self._quiet = self._quiet, None
        if quiet is None or self.windows is None or self.clock is None:
            return True
        compute = self.stages.compute
        if (
            report.seen
            or report.reorged_from is not None
            or (seen, self._head) != (quiet.seen, quiet.head)
            or self._monotonic() >= quiet.until
            or compute.lanes.request_ids
            or compute.prover is not None
            or (self.models is not None and self.models.pending)
        ):
            return True
        try:
            if not self.windows.seats_quiet(seen, self.clock.chain_time()):
                return True
        except ChainError:
            return True  # the compute stage meets it, and reports it
        self._quiet = quiet
        return False

    def _submit(self, report: TickReport, ready: dict[Mode, list[Job]]) -> None:
        report.sent += self.stages.submit.single(ready[Mode.SINGLE]) + self.stages.submit.zk(ready[Mode.ZK])

    def _consensus(self, report: TickReport, ready: list[Job]) -> None:
        report.sent += self.stages.consensus.step(ready)

    def _track(self, report: TickReport) -> None:
        report.confirmed += self.stages.track.track(self._head)

    def _computed_by_mode(self) -> dict[Mode, list[Job]]:
        """The computed jobs, read once per tick and split by mode for the stages that send them."""
        ready: dict[Mode, list[Job]] = {mode: [] for mode in Mode}
        with self.timer("journal"):
            jobs = self.store.jobs(JobState.COMPUTED, limit=MAX_COMPUTED_PER_TICK)
        with self.timer("decode"):
            for job in jobs:
                ready[params_of(job).mode].append(job)
        return ready

    def _stage(self, report: TickReport, name: str, action: Callable[[], object]) -> None:
        """Runs one stage; its thread CPU time goes to the report and the metrics (the stopwatch splits it by
        kind of work: decode, inference, encode, signing, journal, and the rest: RPC client and bookkeeping)."""
        start = time.thread_time()
        try:
            with self.timer("rpc+other"):
                action()
        except (ChainError, OSError) as exc:
            report.errors[name] = str(exc)
            self.metrics.rpc_errors.inc()
        spent = time.thread_time() - start
        report.cpu[name] = report.cpu.get(name, 0.0) + spent
        self.metrics.cpu_seconds.labels(name).inc(spent)
