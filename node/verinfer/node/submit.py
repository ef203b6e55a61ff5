"""SINGLE delivery: computed results go out in `submitResults` batches sized by item count and gas, each signed,
journalled (`txs.record` + `mark_submitted`) and then broadcast together in one JSON-RPC POST."""

from __future__ import annotations

import math
from collections.abc import Sequence

from verinfer.chain.events import InferenceRequested
from verinfer.chain.rawbatch import RpcError
from verinfer.errors import ContractRevert
from verinfer.node.context import NodeContext
from verinfer.node.journal import Job
from verinfer.node.txmanager import Signed

BATCH_OVERHEAD_GAS = 60_000  # a transaction's own cost (21k + calldata head + hub entry), on top of the items
BROADCAST_CHUNK = 100  # transactions per JSON-RPC batch POST (providers cap batches; anvil takes more)


def submit_single(ctx: NodeContext, ready: Sequence[tuple[Job, InferenceRequested]]) -> int:
    """Signs, journals and broadcasts every computed SINGLE result; returns how many transactions went out.

    Batches hold results with the same callback gas limit and the same history: the first batch of each kind is
    estimated (eth_estimateGas runs the whole batch a dozen times, ~70 ms for 256 items on anvil), the rest of the
    kind are priced from its gas per item. A batch priced that way that reverts anyway comes back through
    `Journal.requeue` with its attempts counted, and retried jobs are always estimated, which singles out a bad item.
    """
    groups: dict[tuple[int, bool], list[Job]] = {}
    for job, request in ready:  # computed SINGLE jobs
        groups.setdefault((request.callback_gas_limit, job.attempts > 0), []).append(job)
    signed: list[Signed] = []
    for (_callback_gas, retried), jobs in groups.items():
        per_item: list[float] = []  # learnt from this group's first estimate
        for start in range(0, len(jobs), ctx.max_batch_items):
            signed.extend(_batch(ctx, jobs[start : start + ctx.max_batch_items], per_item, estimate=retried))
    broadcast(ctx, signed)
    return len(signed)


def submit_zk(ctx: NodeContext, ready: Sequence[tuple[Job, InferenceRequested]]) -> int:
    """Sends each proven ZK result in its own `submitZkResult` (input, output, proof); the hub checks the proof
    with the model's verifier before it records anything. A result the hub would refuse is failed, named."""
    signed: list[Signed] = []
    for job, _request in ready:  # computed ZK jobs
        if job.proof is None:
            continue
        data = ctx.system.hub.encode_abi(
            "submitZkResult", [job.request_id, ctx.params(job).as_abi(), job.input, job.output, job.proof]
        )
        try:
            gas = ctx.txm.estimate_gas(ctx.hub, bytes.fromhex(data[2:]))
        except ContractRevert as exc:
            ctx.journal.mark_failed(job.request_id, f"ZK delivery reverts: {exc}")
            ctx.metrics.failed.labels("revert").inc()
            ctx.log.warning("request failed", request_id=job.request_id, reason="revert", detail=str(exc))
            continue
        tx = ctx.txm.sign(ctx.hub, bytes.fromhex(data[2:]), gas, "submit")
        with ctx.journal.transaction():
            ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            ctx.journal.mark_submitted(job.request_id, tx.hash, tx.nonce)
        signed.append(tx)
    broadcast(ctx, signed)
    return len(signed)


def _batch(ctx: NodeContext, jobs: Sequence[Job], per_item: list[float], *, estimate: bool) -> list[Signed]:
    """One transaction for `jobs` (several if the gas cap splits them); reverting items are failed and left out."""
    sw = ctx.stopwatch
    with sw("decode"):
        items = [(job.request_id, ctx.params(job), job.output or b"") for job in jobs]
    with sw("encode"):
        data = ctx.calldata.submit_results(items)
    if per_item and not estimate:
        gas = math.ceil(per_item[0] * len(jobs)) + BATCH_OVERHEAD_GAS
    else:
        try:
            gas = ctx.txm.estimate_gas(ctx.hub, data)
        except ContractRevert as exc:
            if len(jobs) == 1:
                ctx.journal.mark_failed(jobs[0].request_id, f"delivery reverts: {exc}")
                ctx.metrics.failed.labels("revert").inc()
                ctx.log.warning("request failed", request_id=jobs[0].request_id, reason="revert", detail=str(exc))
                return []
            middle = len(jobs) // 2  # find the reverting items by halving; the rest still go out
            return _batch(ctx, jobs[:middle], per_item, estimate=True) + _batch(
                ctx, jobs[middle:], per_item, estimate=True
            )
        if not per_item:
            per_item.append(gas / len(jobs))  # a batch's fixed cost spread over its items: an over-estimate
    if gas > ctx.max_batch_gas and len(jobs) > 1:
        middle = len(jobs) // 2
        return _batch(ctx, jobs[:middle], per_item, estimate=estimate) + _batch(
            ctx, jobs[middle:], per_item, estimate=estimate
        )
    with sw("signing"):
        tx = ctx.txm.sign(ctx.hub, data, gas, "submit")
    with sw("journal"), ctx.journal.transaction():
        ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
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
