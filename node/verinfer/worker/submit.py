"""SINGLE delivery: computed results go out in `submitResults` batches sized by item count and gas, each signed,
journalled (`record_tx` + `mark_submitted`) and then broadcast together in one JSON-RPC POST."""

from __future__ import annotations

from collections.abc import Sequence

from verinfer.chain.rawbatch import RpcError
from verinfer.errors import ContractRevert
from verinfer.types import Mode
from verinfer.worker.context import NodeContext, Request
from verinfer.worker.journal import Job, JobState
from verinfer.worker.txmanager import Signed

MAX_COMPUTED_PER_TICK = 4_096
BROADCAST_CHUNK = 100  # transactions per JSON-RPC batch POST (providers cap batches; anvil takes more)


def submit_single(ctx: NodeContext) -> int:
    """Signs, journals and broadcasts every computed SINGLE result; returns how many transactions went out."""
    jobs = [job for job in ctx.journal.jobs(JobState.COMPUTED, limit=MAX_COMPUTED_PER_TICK)
            if Request.of(job).mode == Mode.SINGLE]
    signed: list[Signed] = []
    for start in range(0, len(jobs), ctx.max_batch_items):
        signed.extend(_batch(ctx, jobs[start : start + ctx.max_batch_items]))
    broadcast(ctx, signed)
    return len(signed)


def _batch(ctx: NodeContext, jobs: Sequence[Job]) -> list[Signed]:
    """One transaction for `jobs` (several if the gas cap splits them); reverting items are failed and left out."""
    sw = ctx.stopwatch
    with sw("decode"):
        items = [(job.request_id, ctx.params(job), job.output or b"") for job in jobs]
    with sw("encode"):
        data = ctx.calldata.submit_results(items)
    try:
        gas = ctx.txm.estimate_gas(ctx.hub, data)
    except ContractRevert as exc:
        if len(jobs) == 1:
            ctx.journal.mark_failed(jobs[0].request_id, f"delivery reverts: {exc}")
            ctx.metrics.failed.labels("revert").inc()
            ctx.log.warning("request failed", request_id=jobs[0].request_id, reason="revert", detail=str(exc))
            return []
        middle = len(jobs) // 2  # find the reverting items by halving; the rest still go out
        return _batch(ctx, jobs[:middle]) + _batch(ctx, jobs[middle:])
    if gas > ctx.max_batch_gas and len(jobs) > 1:
        middle = len(jobs) // 2
        return _batch(ctx, jobs[:middle]) + _batch(ctx, jobs[middle:])
    with sw("signing"):
        tx = ctx.txm.sign(ctx.hub, data, gas, "submit")
    with sw("journal"), ctx.journal.transaction():
        ctx.journal.record_tx(tx.hash, tx.nonce, tx.kind, tx.raw)
        ctx.journal.mark_submitted_many([job.request_id for job in jobs], tx.hash, tx.nonce)
    ctx.metrics.batch_size.observe(len(jobs))
    return [tx]


def broadcast(ctx: NodeContext, signed: Sequence[Signed]) -> list[RpcError | None]:
    """Broadcasts journalled transactions in batch POSTs; a refused one is logged and left to the tracker, which
    sends it again or replaces it."""
    errors: list[RpcError | None] = []
    for start in range(0, len(signed), BROADCAST_CHUNK):
        chunk = signed[start : start + BROADCAST_CHUNK]
        answers = ctx.txm.broadcast(chunk)
        for tx, error in zip(chunk, answers, strict=True):
            ctx.metrics.txs_sent.labels(tx.kind).inc()
            if error is not None:
                ctx.log.warning("broadcast refused", tx=tx.hash.hex(), nonce=tx.nonce, kind=tx.kind, error=str(error))
        errors.extend(answers)
    return errors
