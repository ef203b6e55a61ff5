"""CONSENSUS rounds, one step per tick and safe to resume at any point:

    computed ──commit──> committed ──(k commits in: reveal phase)──reveal──> revealed ──(settled)──> finalized

The salt is journalled before the commit is signed (and kept through reorgs), so a restarted node can always reveal
what it committed. Finalizing is open to anyone: a node sends it once every vote is revealed or the window is over,
with its own output; if a majority outvoted it the hub refuses (`WinningOutputMismatch`) and another node settles.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from verinfer.chain import commitments
from verinfer.chain.events import InferenceRequested
from verinfer.errors import ContractRevert
from verinfer.node.context import NodeContext, request_of
from verinfer.node.journal import Job, JobState
from verinfer.node.submit import broadcast
from verinfer.node.txmanager import Signed
from verinfer.types import Mode, Status

MAX_PER_TICK = 1_024


def step(ctx: NodeContext, ready: Sequence[tuple[Job, InferenceRequested]]) -> int:
    """Commits (the computed CONSENSUS jobs in `ready`), reveals and finalizes what is due; returns how many
    transactions went out."""
    out: list[Signed] = []
    out.extend(_commit(ctx, [job for job, _ in ready]))
    now: int | None = None
    committed = ctx.journal.jobs(JobState.COMMITTED, limit=MAX_PER_TICK)
    revealed = ctx.journal.jobs(JobState.REVEALED, limit=MAX_PER_TICK)
    if committed or revealed:
        now = ctx.chain_time()
        out.extend(_reveal(ctx, committed, now))
        out.extend(_finalize(ctx, revealed, now))
    broadcast(ctx, out)
    return len(out)


def _round(ctx: NodeContext, request_id: int) -> tuple[int, int, int]:
    """(commits, reveals, revealEndsAt) of a round."""
    view: Any = ctx.system.sender.call(ctx.system.hub.functions.roundOf(request_id))
    return int(view[0]), int(view[1]), int(view[2])


def _mined(ctx: NodeContext, tx_hash: bytes | None) -> bool:
    record = ctx.journal.txs.get(tx_hash) if tx_hash is not None else None
    return record is not None and record.mined_block is not None


# ------------------------------------------------------------------------------------------------------- commit


def _commit(ctx: NodeContext, jobs: Sequence[Job]) -> list[Signed]:
    out: list[Signed] = []
    for job in jobs:
        if job.output_hash is None:
            continue
        salt = job.salt if job.salt is not None else os.urandom(32)
        vote = commitments.vote(job.output_hash, salt, ctx.address)
        data = ctx.calldata.commit_result(job.request_id, ctx.params(job), vote)
        try:
            gas = ctx.txm.estimate_gas(ctx.hub, data)
        except ContractRevert as exc:
            _commit_refused(ctx, job, exc, salt)
            continue
        tx = ctx.txm.sign(ctx.hub, data, gas, "commit")
        with ctx.journal.transaction():  # the salt is durable before the commit can reach the chain
            ctx.journal.store_salt(job.request_id, salt)
            ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            ctx.journal.mark_committed(job.request_id, tx.hash, tx.nonce)
        out.append(tx)
    return out


def _commit_refused(ctx: NodeContext, job: Job, exc: ContractRevert, salt: bytes) -> None:
    if exc.name == "AlreadyCommitted":
        # Our commit is on chain already (a reorg re-mined it after the journal restarted the job): adopt it.
        found = ctx.own_event_tx("ResultCommitted", job)
        if found is not None:
            record = ctx.journal.txs.get(found)
            with ctx.journal.transaction():
                ctx.journal.store_salt(job.request_id, salt)
                ctx.journal.mark_committed(job.request_id, found, record.nonce if record else 0)
                if record is None:
                    ctx.journal.txs.record(found, 0, "commit", b"")
            return
    ctx.journal.mark_failed(job.request_id, f"commit refused: {exc}")
    ctx.metrics.failed.labels("commit").inc()
    ctx.log.info("consensus commit refused", request_id=job.request_id, error=str(exc))


# ------------------------------------------------------------------------------------------------------- reveal


def _reveal(ctx: NodeContext, jobs: list[Job], now: int) -> list[Signed]:
    out: list[Signed] = []
    for job in jobs:
        if not _mined(ctx, job.commit_tx_hash):
            continue
        request = request_of(job)
        commits, _reveals, reveal_ends = _round(ctx, job.request_id)
        if reveal_ends == 0:
            if now > request.deadline:
                ctx.journal.mark_failed(
                    job.request_id,
                    f"round did not fill ({commits}/{request.redundancy} "
                    "commits) before the deadline; the requester can reclaim the fee",
                )
                ctx.metrics.failed.labels("round").inc()
            continue
        if now > reveal_ends:
            ctx.journal.mark_failed(job.request_id, f"reveal window ended at {reveal_ends} before the reveal")
            ctx.metrics.failed.labels("reveal").inc()
            ctx.log.error("missed a reveal window: this vote will be slashed", request_id=job.request_id)
            continue
        if job.salt is None or job.output is None:
            continue  # impossible by the journal's schema
        data = ctx.calldata.reveal_result(job.request_id, ctx.params(job), job.output, job.salt)
        try:
            gas = ctx.txm.estimate_gas(ctx.hub, data)
        except ContractRevert as exc:
            if exc.name == "AlreadyRevealed":
                found = ctx.own_event_tx("ResultRevealed", job)
                if found is not None:
                    ctx.journal.mark_revealed(job.request_id, found, 0)
                    continue
            ctx.journal.mark_failed(job.request_id, f"reveal refused: {exc}")
            ctx.metrics.failed.labels("reveal").inc()
            continue
        tx = ctx.txm.sign(ctx.hub, data, gas, "reveal")
        with ctx.journal.transaction():
            ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            ctx.journal.mark_revealed(job.request_id, tx.hash, tx.nonce)
        out.append(tx)
    return out


# ----------------------------------------------------------------------------------------------------- finalize


def _finalize(ctx: NodeContext, jobs: list[Job], now: int) -> list[Signed]:
    out: list[Signed] = []
    for job in jobs:
        if not _mined(ctx, job.reveal_tx_hash):
            continue
        status = ctx.system.status_of(job.request_id)
        if status != Status.PENDING:
            ctx.journal.mark_finalized(job.request_id)
            ctx.finalize_sent.pop(job.request_id, None)
            if status == Status.FULFILLED and _agreed(ctx, job):
                ctx.metrics.fulfilled.labels(Mode.CONSENSUS.name).inc()
                ctx.metrics.latency_seconds.observe(max(time.time() - job.seen_at, 0.0))
            continue
        commits, reveals, reveal_ends = _round(ctx, job.request_id)
        if reveals < commits and now <= reveal_ends:
            continue
        key = job.request_id
        if time.monotonic() - ctx.finalize_sent.get(key, float("-inf")) < ctx.stuck_after_s:
            continue
        data = ctx.calldata.finalize_consensus(job.request_id, ctx.params(job), job.output or b"")
        try:
            gas = ctx.txm.estimate_gas(ctx.hub, data)
        except ContractRevert as exc:
            # Outvoted (WinningOutputMismatch), or another node settled it in the meantime: not ours to send.
            ctx.log.info("not finalizing", request_id=job.request_id, reason=str(exc))
            ctx.finalize_sent[key] = time.monotonic()
            continue
        tx = ctx.txm.sign(ctx.hub, data, gas, "finalize")
        ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
        ctx.finalize_sent[key] = time.monotonic()
        out.append(tx)
    return out


def _agreed(ctx: NodeContext, job: Job) -> bool:
    """Whether this node's vote matches the round's winning output."""
    view: Any = ctx.system.sender.call(ctx.system.hub.functions.roundOf(job.request_id))
    return bytes(view[3]) == job.output_hash
