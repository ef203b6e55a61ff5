"""The submit stage (SINGLE and ZK delivery): computed results go out in `submitResults` batches sized by item count
and gas, each signed, journalled (`txs.record` + `mark_submitted`) and then broadcast together in one JSON-RPC POST;
each proven ZK result goes out alone in `submitZkResult`.

Before anything is signed, two checks keep the node from paying for a delivery that cannot earn: a result whose
deadline is closer than `deadline_margin_s` of chain time is not sent (it would be mined late: nothing is sent
after its deadline), and the hub's status of every candidate is read in one batch, so a request already final on
chain (served by another node, or by this node before its journal was lost) is not delivered again."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, Protocol

from verinfer.chain.jsonrpc import RpcError
from verinfer.chain.txmanager import Signed, classify_send_error
from verinfer.errors import ContractRevert
from verinfer.node.calldata import HubCalldata
from verinfer.node.journal import Job
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Clock, JobStore, Sender, Timer
from verinfer.node.request import params_of
from verinfer.types import Status

BATCH_OVERHEAD_GAS = 60_000  # a transaction's own cost (21k + calldata head + hub entry), on top of the items
BROADCAST_CHUNK = 100  # transactions per JSON-RPC batch POST (providers cap batches; anvil takes more)
DEADLINE_MARGIN_S = 2  # chain seconds a delivery needs, at least, to be mined before its deadline


class StatusReader(Protocol):
    def statuses_of(self, request_ids: Sequence[int]) -> dict[int, Status]: ...


def broadcast(sender: Sender, signed: Sequence[Signed], metrics: NodeMetrics, log: Any) -> list[RpcError | None]:
    """Broadcasts journalled transactions in batch POSTs; a refused one is logged and left to the tracker, which
    sends it again or replaces it.

    An RPC that runs a batch's calls concurrently, or refuses nonce gaps (Hardhat's automine, load-balanced
    providers, some sequencers), answers `nonce too high` for transactions whose lower nonces it had not taken yet:
    those are sent again at once, one per POST in nonce order, so every transaction gets in without waiting for
    the tracker."""
    errors: list[RpcError | None] = []
    for start in range(0, len(signed), BROADCAST_CHUNK):
        chunk = signed[start : start + BROADCAST_CHUNK]
        answers = sender.broadcast(chunk)
        out_of_order = sorted(
            (i for i, error in enumerate(answers) if error is not None and classify_send_error(error) == "nonce_high"),
            key=lambda i: chunk[i].nonce,
        )
        for i in out_of_order:
            (answers[i],) = sender.broadcast([chunk[i]])
        for tx, error in zip(chunk, answers, strict=True):
            metrics.txs_sent.labels(tx.kind).inc()
            if error is not None:
                log.warning("broadcast refused", tx=tx.hash.hex(), nonce=tx.nonce, kind=tx.kind, error=str(error))
        errors.extend(answers)
    return errors


class Submit:
    def __init__(
        self,
        store: JobStore,
        sender: Sender,
        calldata: HubCalldata,
        hub: str,
        metrics: NodeMetrics,
        log: Any,
        *,
        max_batch_items: int,
        max_batch_gas: int,
        timer: Timer | None = None,
        clock: Clock | None = None,
        statuses: StatusReader | None = None,
        deadline_margin_s: int = DEADLINE_MARGIN_S,
    ) -> None:
        self.store = store
        self.sender = sender
        self.calldata = calldata
        self.hub = hub
        self.metrics = metrics
        self.log = log
        self.max_batch_items = max_batch_items
        self.max_batch_gas = max_batch_gas
        self._timer: Timer = timer if timer is not None else (lambda _section: nullcontext())
        self.clock = clock
        self.statuses = statuses
        self.deadline_margin_s = deadline_margin_s

    def deliverable(self, ready: Sequence[Job]) -> list[Job]:
        """The jobs worth delivering now: the others are failed with why (deadline too close, or already final on
        chain), in one journal transaction."""
        if not ready:
            return []
        late: list[tuple[Job, str]] = []
        keep = list(ready)
        if self.clock is not None:
            now = self.clock.chain_time()
            late = [
                (
                    job,
                    f"deadline {d} is under tx.deadline_margin_s ({self.deadline_margin_s}s) after chain time {now}",
                )
                for job in keep
                if (d := params_of(job).deadline) < now + self.deadline_margin_s
            ]
            keep = [job for job in keep if params_of(job).deadline >= now + self.deadline_margin_s]
        final: list[tuple[Job, Status]] = []
        if self.statuses is not None and keep:
            status = self.statuses.statuses_of([job.request_id for job in keep])
            final = [(job, status[job.request_id]) for job in keep if status[job.request_id] != Status.PENDING]
            keep = [job for job in keep if status[job.request_id] == Status.PENDING]
        if late or final:
            with self.store.transaction():
                for job, why in late:
                    self.store.mark_failed(job.request_id, f"skipped: {why}")
                    self.metrics.failed.labels("expired").inc()
                for job, status_now in final:
                    why = (
                        "the hub does not know the request (a reorg took it out; served again if it reappears)"
                        if status_now == Status.NONE
                        else f"already {status_now.name} on chain"
                    )
                    self.store.mark_failed(job.request_id, f"skipped: {why}")
                    self.metrics.failed.labels("unknown" if status_now == Status.NONE else "final").inc()
            for job, why in late:
                self.log.info("result not sent", request_id=job.request_id, reason="expired", detail=why)
            if final:
                self.log.info("results not sent: already final on chain", requests=len(final))
        return keep

    def single(self, ready: Sequence[Job]) -> int:
        """Signs, journals and broadcasts every computed SINGLE result; returns how many transactions went out.

        Batches hold results with the same callback gas limit and the same history: the first batch of each kind is
        estimated (eth_estimateGas runs the whole batch a dozen times, ~70 ms for 256 items on anvil), the rest of
        the kind are priced from its gas per item. A batch priced that way that reverts anyway comes back through
        `requeue` with its attempts counted, and retried jobs are always estimated, which singles out a bad item.
        """
        groups: dict[tuple[int, bool], list[Job]] = {}
        jobs = self.deliverable(ready)
        with self._timer("decode"):
            for job in jobs:
                groups.setdefault((params_of(job).callback_gas_limit, job.attempts > 0), []).append(job)
        signed: list[Signed] = []
        for (_callback_gas, retried), jobs in groups.items():
            per_item: list[float] = []  # learnt from this group's first estimate
            for start in range(0, len(jobs), self.max_batch_items):
                signed.extend(self._batch(jobs[start : start + self.max_batch_items], per_item, estimate=retried))
        broadcast(self.sender, signed, self.metrics, self.log)
        return len(signed)

    def zk(self, ready: Sequence[Job]) -> int:
        """Sends each proven ZK result in its own `submitZkResult` (input, output, proof); the hub checks the proof
        with the model's verifier before it records anything. A result the hub would refuse is failed, named."""
        signed: list[Signed] = []
        for job in self.deliverable(ready):
            if job.proof is None or job.output is None:
                continue
            data = self.calldata.submit_zk_result(job.request_id, params_of(job), job.input, job.output, job.proof)
            try:
                gas = self.sender.estimate_gas(self.hub, data)
            except ContractRevert as exc:
                self._fail(job, "revert", f"ZK delivery reverts: {exc}", exc)
                continue
            tx = self.sender.sign(self.hub, data, gas, "submit")
            with self.store.transaction():
                self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
                self.store.mark_submitted(job.request_id, tx.hash, tx.nonce)
            signed.append(tx)
        broadcast(self.sender, signed, self.metrics, self.log)
        return len(signed)

    def _fail(self, job: Job, label: str, reason: str, exc: Exception) -> None:
        self.store.mark_failed(job.request_id, reason)
        self.metrics.failed.labels(label).inc()
        self.log.warning("request failed", request_id=job.request_id, reason=label, detail=str(exc))

    def _batch(self, jobs: Sequence[Job], per_item: list[float], *, estimate: bool) -> list[Signed]:
        """One transaction for `jobs` (several if the gas cap splits them); reverting items are failed, left out."""
        sw = self._timer
        with sw("encode"):
            data = self.calldata.submit_results([(job.request_id, job.params, job.output or b"") for job in jobs])
        if per_item and not estimate:
            gas = math.ceil(per_item[0] * len(jobs)) + BATCH_OVERHEAD_GAS
        else:
            try:
                gas = self.sender.estimate_gas(self.hub, data)
            except ContractRevert as exc:
                if len(jobs) == 1 and exc.name == "WindowNotOpen":
                    # Not this node's turn yet (a request re-mined by a reorg has a new lottery): the job stays
                    # computed and goes out once its window opens.
                    self.log.debug("window not open yet", request_id=jobs[0].request_id, detail=str(exc))
                    return []
                if len(jobs) == 1:
                    self._fail(jobs[0], "revert", f"delivery reverts: {exc}", exc)
                    return []
                middle = len(jobs) // 2  # find the reverting items by halving; the rest still go out
                return self._batch(jobs[:middle], per_item, estimate=True) + self._batch(
                    jobs[middle:], per_item, estimate=True
                )
            if not per_item:
                per_item.append(gas / len(jobs))  # a batch's fixed cost spread over its items: an over-estimate
        if gas > self.max_batch_gas and len(jobs) > 1:
            middle = len(jobs) // 2
            return self._batch(jobs[:middle], per_item, estimate=estimate) + self._batch(
                jobs[middle:], per_item, estimate=estimate
            )
        with sw("signing"):
            tx = self.sender.sign(self.hub, data, gas, "submit")
        with sw("journal"), self.store.transaction():
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            self.store.mark_submitted_many([job.request_id for job in jobs], tx.hash, tx.nonce)
        self.metrics.batch_size.observe(len(jobs))
        return [tx]
