"""The node's pipeline, one bounded step at a time: event → journal → inference → commitment → transaction →
receipt → journal.

    scheduler = Scheduler(ctx, watcher)
    scheduler.recover()        # once at start: broadcast again what the journal says was signed, resync nonces
    while running:
        scheduler.tick()       # watch, compute, submit, consensus, track; each stage journals before it sends

Each stage is its own module (`compute`, `submit`, `consensus`, `inflight`); this one orders them and handles reorgs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_utils.crypto import keccak

from verinfer.chain.events import InferenceRequested
from verinfer.chain.tx import rpc
from verinfer.chain.watcher import LogWatcher
from verinfer.errors import ModelError
from verinfer.node import consensus, inflight, submit
from verinfer.node.context import NodeContext, request_of
from verinfer.node.journal import Job, JobState
from verinfer.types import Mode

MAX_SEEN_PER_TICK = 4_096
MAX_WATCH_POLLS = 8


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


class Scheduler:
    def __init__(self, ctx: NodeContext, watcher: LogWatcher) -> None:
        self.ctx = ctx
        self.watcher = watcher
        self._head = 0

    def recover(self) -> None:
        """At start-up, before anything new is signed: every transaction the journal holds but the chain has not
        mined goes out again (same bytes), then the nonce manager reads the chain."""
        head = int(rpc(lambda: self.ctx.system.sender.w3.eth.block_number, "eth_blockNumber"))
        inflight.track(self.ctx, head)
        self.ctx.txm.nonces.resync()

    def tick(self) -> TickReport:
        report = TickReport()
        before = self._head
        self._stage(report, "watch", lambda: self._watch(report))
        if self._head != before:  # a new block: fees may have moved, and a reorg may have taken something out
            self.ctx.txm.refresh_fees()
            self.ctx.metrics.balance.set(self.ctx.txm.balance())
            self._stage(report, "audit", lambda: inflight.audit_recent(self.ctx, self._head))
        # One count per state decides which stages have anything to do: an idle tick costs a few cheap reads.
        waiting = self.ctx.journal.backlog()
        proving = self.ctx.prover is not None and self.ctx.prover.busy > 0
        if waiting[JobState.SEEN] or proving:
            self._stage(report, "compute", lambda: self._compute(report))
            waiting = self.ctx.journal.backlog()
        if waiting[JobState.COMPUTED]:
            ready = self._computed_by_mode()
            self._stage(
                report,
                "submit",
                lambda: setattr(
                    report,
                    "sent",
                    report.sent
                    + submit.submit_single(self.ctx, ready[Mode.SINGLE])
                    + submit.submit_zk(self.ctx, ready[Mode.ZK]),
                ),
            )
            if ready[Mode.CONSENSUS] or waiting[JobState.COMMITTED] or waiting[JobState.REVEALED]:
                self._stage(
                    report,
                    "consensus",
                    lambda: setattr(report, "sent", report.sent + consensus.step(self.ctx, ready[Mode.CONSENSUS])),
                )
        elif waiting[JobState.COMMITTED] or waiting[JobState.REVEALED]:
            self._stage(
                report, "consensus", lambda: setattr(report, "sent", report.sent + consensus.step(self.ctx, []))
            )
        self._stage(report, "track", lambda: setattr(report, "confirmed", inflight.track(self.ctx, self._head)))
        for state, count in self.ctx.journal.backlog().items():
            self.ctx.metrics.backlog.labels(state.value).set(count)
        return report

    def _computed_by_mode(self) -> dict[Mode, list[tuple[Job, InferenceRequested]]]:
        """The computed jobs, read once per tick and split by mode for the stages that send them."""
        ready: dict[Mode, list[tuple[Job, InferenceRequested]]] = {mode: [] for mode in Mode}
        with self.ctx.stopwatch("journal"):
            jobs = self.ctx.journal.jobs(JobState.COMPUTED, limit=MAX_SEEN_PER_TICK)
        with self.ctx.stopwatch("decode"):
            for job in jobs:
                request = request_of(job)
                ready[request.mode].append((job, request))
        return ready

    def _stage(self, report: TickReport, name: str, action: Callable[[], object]) -> None:
        """Runs one stage; its thread CPU time goes to the report and the metrics (the stopwatch splits it by
        kind of work: decode, inference, encode, signing, journal, and the rest: RPC client and bookkeeping)."""
        start = time.thread_time()
        with self.ctx.stopwatch("rpc+other"):
            action()
        spent = time.thread_time() - start
        report.cpu[name] = report.cpu.get(name, 0.0) + spent
        self.ctx.metrics.cpu_seconds.labels(name).inc(spent)

    # ---------------------------------------------------------------------------------------------------- watch

    def _watch(self, report: TickReport) -> None:
        for _ in range(MAX_WATCH_POLLS):
            result = self.watcher.poll()
            self.ctx.metrics.head.set(result.head)
            self._head = result.head
            if result.reorged_from is not None:
                self._reorged(result.reorged_from)
                report.reorged_from = result.reorged_from
            report.seen += len(result.requests)
            self.ctx.metrics.seen.inc(len(result.requests))
            if not result.scanned or result.scanned.stop - 1 >= result.head - self.watcher.confirmations:
                return

    def _reorged(self, fork: int) -> None:
        """The chain replaced blocks from `fork` on: the watcher reset the jobs whose events were there; results
        and votes mined there are gone too, so their jobs start again (salts kept)."""
        journal = self.ctx.journal
        with journal.transaction():
            ids = journal.request_ids_with_tx_mined_from(fork)
            journal.reset_to_seen(ids)
            journal.txs.unmine_from(fork)
        self.ctx.txm.nonces.forget()
        self.ctx.log.warning("reorg", first_replaced_block=fork, jobs_restarted=len(ids))

    # -------------------------------------------------------------------------------------------------- compute

    def _proven(self, report: TickReport) -> None:
        """Journals the proofs the ZK workers finished since the last tick."""
        ctx = self.ctx
        if ctx.prover is None:
            return
        for request_id, outcome in ctx.prover.finished():
            job = ctx.journal.job(request_id)
            if job is None or job.state is not JobState.SEEN:
                continue  # a reorg or a restart moved it meanwhile; it is proven again if still wanted
            if isinstance(outcome, ModelError):
                ctx.journal.mark_failed(request_id, f"prover: {outcome}")
                ctx.metrics.failed.labels("prover").inc()
                ctx.log.warning("proof failed", request_id=request_id, detail=str(outcome))
                report.failed += 1
            else:
                ctx.journal.mark_proven(request_id, outcome.output, keccak_of(outcome.output), outcome.proof)
                ctx.log.info("proof ready", request_id=request_id, seconds=round(outcome.seconds, 2))
                report.computed += 1

    def _compute(self, report: TickReport) -> None:
        ctx = self.ctx
        self._proven(report)
        jobs = ctx.journal.jobs(JobState.SEEN, limit=MAX_SEEN_PER_TICK)
        if not jobs:
            return
        now = ctx.chain_time()
        base_fee = ctx.txm.base_fee
        by_model: dict[bytes, list[tuple[Job, InferenceRequested]]] = defaultdict(list)
        skipped: list[tuple[Job, str, str]] = []
        sw = ctx.stopwatch
        for job in jobs:
            if ctx.prover is not None and ctx.prover.has(job.request_id):
                continue  # being proven
            with sw("decode"):
                request = request_of(job)
            reason = self._skip_reason(request, now, base_fee)
            if reason is not None:
                skipped.append((job, reason[0], reason[1]))
            elif request.mode == Mode.ZK and ctx.prover is not None:
                ctx.prover.submit(job.request_id, request.model_id, job.input)
            else:
                by_model[request.model_id].append((job, request))
        outcomes: list[tuple[Job, bytes | ModelError]] = []
        for model_id, group in by_model.items():
            try:
                model = ctx.catalog.get(model_id)
            except ModelError as exc:
                outcomes.extend((job, exc) for job, _ in group)
                continue
            with sw("inference"):  # tensor decode, the onnxruntime batch, canonical encode
                outputs = model.compute([job.input for job, _ in group])
            outcomes.extend((job, out) for (job, _), out in zip(group, outputs, strict=True))
        with sw("journal"), ctx.journal.transaction():
            for job, label, why in skipped:
                ctx.journal.mark_failed(job.request_id, f"skipped: {why}")
                ctx.metrics.failed.labels(label).inc()
            computed = []
            for job, out in outcomes:
                if isinstance(out, ModelError):
                    ctx.journal.mark_failed(job.request_id, f"model: {out}")
                    ctx.metrics.failed.labels("model").inc()
                else:
                    computed.append((job.request_id, out, keccak_of(out)))
            ctx.journal.mark_computed_many(computed)
            report.computed += len(computed)
        for job, label, why in skipped:  # another mode's request is routine; the rest is worth an operator's look
            (ctx.log.debug if label == "mode" else ctx.log.info)(
                "request skipped", request_id=job.request_id, reason=label, detail=why
            )
        for job, out in outcomes:
            if isinstance(out, ModelError):
                ctx.log.warning("request failed", request_id=job.request_id, reason="model", detail=str(out))
        report.failed += len(skipped) + sum(isinstance(out, ModelError) for _, out in outcomes)

    def _skip_reason(self, request: InferenceRequested, now: int, base_fee: int) -> tuple[str, str] | None:
        ctx = self.ctx
        if request.mode not in ctx.modes:
            return "mode", f"mode {request.mode.name} is not served by this node (config `modes`)"
        if request.deadline <= now:
            return "expired", f"deadline {request.deadline} passed (chain time {now})"
        not_eligible = ctx.eligible(request.model_id)
        if not_eligible is not None:
            return "not_eligible", f"cannot serve model 0x{request.model_id.hex()}: {not_eligible}"
        share = request.fee // max(request.redundancy, 1)
        transactions = 1 if request.mode == Mode.SINGLE else 3  # submit; or commit, reveal and maybe finalize
        required = ctx.min_fee_wei + base_fee * (transactions * ctx.policy_gas_per_result)
        if share < required:
            return "fee", (
                f"fee share {share} wei < {required} wei (policy.min_fee_wei {ctx.min_fee_wei} + base fee "
                f"{base_fee} x {transactions * ctx.policy_gas_per_result} gas)"
            )
        return None


def keccak_of(data: bytes) -> bytes:
    return bytes(keccak(data))
