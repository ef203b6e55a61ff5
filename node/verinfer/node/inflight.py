"""Follows every transaction the journal says is in flight until its jobs are settled.

For each job's current transaction (grouped: one `submitResults` carries many jobs):
  * mined and successful → SINGLE jobs are confirmed once `confirmations` deep, from the receipt's own events
    (`ResultSubmitted` for this node; a `ResultSkipped` item was settled by someone else, or expired); commits and
    reveals are marked mined for the consensus stage;
  * mined and reverted → the revert is decoded; a delivery's jobs go back to `computed` to be re-batched and
    re-estimated (up to `max_attempts`, then failed with the revert as the reason); a refused vote fails;
  * unknown to the node (a crash between journal and broadcast, a dropped transaction, an RPC outage) → the very
    same bytes are broadcast again; if its nonce was taken meanwhile, an earlier copy with that nonce may be the
    one mined, else the call is re-signed under a fresh nonce;
  * pooled but not mined for `stuck_after_s` → replaced with the same nonce and higher fees.
"""

from __future__ import annotations

import time
from typing import Any

from web3.exceptions import ContractLogicError

from verinfer.chain.rawbatch import RpcError
from verinfer.node.context import NodeContext
from verinfer.node.journal import Job, JobState, SentTx
from verinfer.node.submit import broadcast
from verinfer.node.txmanager import Receipt, Signed, decode_raw, is_nonce_used
from verinfer.types import Mode, SkipReason

MAX_FEE_BUMPS = 5  # replacements per nonce: fees grow by FEE_BUMP each time, so this bounds them (~3x)


class _Groups(dict[bytes, list[Job]]):
    """tx hash => the jobs whose current transaction it is, loaded from the journal on first use."""

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__()
        self._ctx = ctx

    def __missing__(self, tx_hash: bytes) -> list[Job]:
        jobs = self._ctx.journal.jobs_with_tx(tx_hash)
        self[tx_hash] = jobs
        return jobs


def track(ctx: NodeContext, head: int) -> int:
    """One pass over the transactions in flight; returns how many jobs it confirmed. `head` is the latest block."""
    records: dict[bytes, SentTx] = {}
    states: dict[bytes, JobState] = {}
    for tx_hash, state in ctx.journal.inflight_txs():
        record = ctx.journal.txs.get(tx_hash)
        if record is None:
            continue  # not recorded by this journal (cannot happen: every transaction is recorded before sending)
        if record.mined_block is not None and state is not JobState.SUBMITTED:
            continue  # a mined commit or reveal: the consensus stage takes it from here
        records[tx_hash], states[tx_hash] = record, state
    for record in ctx.journal.txs.unmined("finalize"):
        records[record.hash] = record  # no job waits on it, but its nonce must not become a hole
    if not records:
        return 0
    receipts = ctx.txm.receipts(records)
    groups = _Groups(ctx)
    confirmed = 0
    missing: list[bytes] = []
    for tx_hash, receipt in receipts.items():
        record = records[tx_hash]
        if receipt is None:
            if record.mined_block is not None:
                ctx.journal.txs.set_mined(tx_hash, None)  # a reorg took it out
            missing.append(tx_hash)
            continue
        if record.mined_block != receipt.block_number:
            ctx.journal.txs.set_mined(tx_hash, receipt.block_number)
            ctx.txm.nonces.confirm(record.nonce)
            ctx.metrics.gas_used.labels(record.kind).inc(receipt.gas_used)
            ctx.metrics.gas_spent.inc(receipt.gas_used * receipt.effective_gas_price)
        if tx_hash not in states:
            continue  # a finalization: nothing waits on it
        if receipt.status != 1:
            _reverted(ctx, record, receipt, groups[tx_hash])
        elif states[tx_hash] is JobState.SUBMITTED and head - receipt.block_number >= ctx.confirmations:
            confirmed += _settle_submission(ctx, receipt, groups[tx_hash])
    if missing:
        _recover_missing(ctx, [records[h] for h in missing], groups)
    return confirmed


# --------------------------------------------------------------------------------------------------------- mined


def _settle_submission(ctx: NodeContext, receipt: Receipt, jobs: list[Job]) -> int:
    """Confirms or fails each job of a mined `submitResults` from the events in its receipt."""
    served: set[int] = set()
    skips: dict[int, SkipReason] = {}
    sw = ctx.stopwatch
    with sw("decode"):
        _read_logs(ctx, receipt, served, skips)
    confirmed: list[int] = []
    now = time.time()
    with sw("journal"), ctx.journal.transaction():
        for job in jobs:
            rid = job.request_id
            if rid in served:
                confirmed.append(rid)
                ctx.metrics.latency_blocks.observe(max(receipt.block_number - job.block_number, 0))
                ctx.metrics.latency_seconds.observe(max(now - job.seen_at, 0.0))
            elif skips.get(rid) is SkipReason.NOT_PENDING and ctx.own_event_tx("ResultSubmitted", job) is not None:
                confirmed.append(rid)  # an earlier transaction of ours (re-mined after a reorg) won
            else:
                why = {
                    SkipReason.NOT_PENDING: "already final on chain (another node served it first)",
                    SkipReason.EXPIRED: "the deadline passed before the result was mined",
                }.get(skips.get(rid, SkipReason.NOT_PENDING), "no result event")
                ctx.journal.mark_failed(rid, f"delivery: {why}")
                ctx.metrics.failed.labels("skipped").inc()
        ctx.journal.mark_confirmed_many(confirmed)
    ctx.metrics.fulfilled.labels(Mode.SINGLE.name).inc(len(confirmed))
    return len(confirmed)


def _read_logs(ctx: NodeContext, receipt: Receipt, served: set[int], skips: dict[int, SkipReason]) -> None:
    """Which requests of a `submitResults` receipt this node served and which the hub skipped (and why), read from
    the indexed topics (requestId, node) and the skip reason's data word: no generic ABI decoding per item."""
    hub = ctx.hub.lower()
    submitted, skipped = ctx.codec("ResultSubmitted").topic, ctx.codec("ResultSkipped").topic
    me = bytes(12) + bytes.fromhex(ctx.address[2:])
    for log in receipt.logs:
        topics = [_bytes(t) for t in log.get("topics") or []]
        if str(log.get("address", "")).lower() != hub or len(topics) != 3 or topics[2] != me:
            continue
        request_id = int.from_bytes(topics[1], "big")
        if topics[0] == submitted:
            served.add(request_id)
        elif topics[0] == skipped:
            skips[request_id] = SkipReason(int.from_bytes(_bytes(log.get("data", b""))[:32], "big"))


def _bytes(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _reverted(ctx: NodeContext, record: SentTx, receipt: Receipt, jobs: list[Job]) -> None:
    """A mined transaction reverted: name the error. A delivery's jobs go back to `computed`, to be re-batched and
    estimated again (which singles out a bad item), until `max_attempts`; a refused vote is final."""
    reason = _revert_reason(ctx, record, receipt)
    retry: list[int] = []
    with ctx.journal.transaction():
        for job in jobs:
            if job.state is not JobState.SUBMITTED or job.attempts + 1 >= ctx.max_attempts:
                ctx.journal.mark_failed(job.request_id, f"{record.kind} reverted: {reason}")
                ctx.metrics.failed.labels("revert").inc()
            else:
                retry.append(job.request_id)
        ctx.journal.requeue(retry, reason)
    ctx.log.warning("transaction reverted", tx=record.hash.hex(), kind=record.kind, reason=reason, requeued=len(retry))


def _revert_reason(ctx: NodeContext, record: SentTx, receipt: Receipt) -> str:
    tx = decode_raw(record.raw)
    call: Any = {"from": ctx.address, "to": tx["to"], "data": tx["data"], "gas": tx["gas"]}
    try:
        ctx.system.sender.w3.eth.call(call, block_identifier=max(receipt.block_number - 1, 0))
    except ContractLogicError as exc:
        return str(ctx.txm.decoder.from_web3(exc))
    return f"out of gas or state changed in block {receipt.block_number} (gas used {receipt.gas_used})"


# ------------------------------------------------------------------------------------------------------ not mined


def _recover_missing(ctx: NodeContext, records: list[SentTx], groups: _Groups) -> None:
    known = ctx.txm.known(r.hash for r in records)
    lost = [r for r in records if not known[r.hash]]
    now = time.time()
    stuck = [r for r in records if known[r.hash] and now - r.created_at > ctx.stuck_after_s]
    if lost:
        answers = ctx.txm.broadcast_raw([r.raw for r in lost])
        for record, error in zip(lost, answers, strict=True):
            if error is None:
                ctx.log.info("transaction sent again", tx=record.hash.hex(), nonce=record.nonce, kind=record.kind)
            elif not groups[record.hash]:
                ctx.journal.txs.forget(record.hash)  # a finalization that cannot go out any more: moot
                ctx.txm.nonces.resync()
            elif is_nonce_used(error):
                _nonce_taken(ctx, record, groups[record.hash])
            else:
                _refused(ctx, record, groups[record.hash], error)
    for record in stuck:
        if not groups[record.hash] or len(ctx.journal.txs.with_nonce(record.nonce)) > MAX_FEE_BUMPS:
            continue  # nothing waits on it, or its fees were raised enough times: wait (tx.max_fee_wei caps each)
        replacement = ctx.txm.replacement(record.raw, record.kind)
        _point_jobs_at(ctx, groups[record.hash], replacement)
        ctx.metrics.txs_replaced.inc()
        ctx.log.info(
            "transaction replaced (fee bump)",
            old=record.hash.hex(),
            new=replacement.hash.hex(),
            nonce=record.nonce,
            max_fee=replacement.max_fee,
        )
        broadcast(ctx, [replacement])


def _nonce_taken(ctx: NodeContext, record: SentTx, jobs: list[Job]) -> None:
    """The transaction's nonce is used by another: if an earlier copy (same nonce) of ours was mined, the jobs follow
    it; otherwise the call is signed again under a fresh nonce."""
    siblings = [s for s in ctx.journal.txs.with_nonce(record.nonce) if s.hash != record.hash]
    if siblings:
        for sibling_hash, receipt in ctx.txm.receipts(s.hash for s in siblings).items():
            if receipt is not None:
                with ctx.journal.transaction():
                    for job in jobs:
                        ctx.journal.replace_tx(job.request_id, sibling_hash, record.nonce)
                return
    if ctx.txm.known([record.hash])[record.hash]:
        return  # "already known": this very transaction is pooled after all
    _resign(ctx, record, jobs)


def _refused(ctx: NodeContext, record: SentTx, jobs: list[Job], error: RpcError) -> None:
    """The node refuses the transaction (funds, fee cap, …): count a try; at the cap, fail its jobs and give the
    nonce back to the chain's sequence."""
    give_up = False
    with ctx.journal.transaction():
        for job in jobs:
            if ctx.journal.record_attempt(job.request_id, str(error)) >= ctx.max_attempts:
                ctx.journal.mark_failed(job.request_id, f"{record.kind} refused by the RPC node: {error}")
                ctx.metrics.failed.labels("refused").inc()
                give_up = True
    ctx.log.warning("transaction refused", tx=record.hash.hex(), nonce=record.nonce, error=str(error), gave_up=give_up)
    if give_up:
        ctx.txm.nonces.resync()


def _resign(ctx: NodeContext, record: SentTx, jobs: list[Job]) -> None:
    fresh = ctx.txm.resign(record.raw, record.kind)
    _point_jobs_at(ctx, jobs, fresh)
    ctx.metrics.txs_replaced.inc()
    ctx.log.info("transaction signed again", old=record.hash.hex(), new=fresh.hash.hex(), nonce=fresh.nonce)
    broadcast(ctx, [fresh])


def _point_jobs_at(ctx: NodeContext, jobs: list[Job], tx: Signed) -> None:
    with ctx.journal.transaction():
        ctx.journal.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
        for job in jobs:
            ctx.journal.replace_tx(job.request_id, tx.hash, tx.nonce)


# ----------------------------------------------------------------------------------------------------------- reorgs

REORG_WINDOW = 64  # blocks: how far back mined transactions are re-checked for a reorg that took them out


def audit_recent(ctx: NodeContext, head: int) -> int:
    """Re-reads the receipts of transactions mined in the last REORG_WINDOW blocks. One that is gone was
    taken out by a reorg, possibly one the watcher cannot see (above its cursor): its jobs start again (salts kept),
    whatever state they reached, and the nonce manager re-reads the chain. Returns how many jobs restarted."""
    recent = ctx.journal.txs.mined_since(max(head - REORG_WINDOW, 0))
    if not recent:
        return 0
    receipts = ctx.txm.receipts(r.hash for r in recent)
    for record in recent:
        moved = receipts[record.hash]
        if moved is not None and moved.block_number != record.mined_block:
            ctx.journal.txs.set_mined(record.hash, moved.block_number)  # re-mined on the new branch: still done
    gone = [r for r in recent if receipts[r.hash] is None]
    if not gone:
        return 0
    restarted: set[int] = set()
    with ctx.journal.transaction():
        for record in gone:
            ids = ctx.journal.request_ids_with_tx(record.hash)
            ctx.journal.reset_to_seen(ids)
            restarted.update(ids)
            ctx.journal.txs.set_mined(record.hash, None)
    ctx.txm.nonces.forget()
    ctx.log.warning("reorg took out mined transactions", txs=len(gone), jobs_restarted=len(restarted))
    return len(restarted)
