"""The track stage: follows every transaction the journal says is in flight until its jobs are settled.

For each job's current transaction (grouped: one `submitResults` carries many jobs):
  * mined and successful → SINGLE jobs are confirmed once `confirmations` deep, from the receipt's own events
    (`ResultSubmitted` for this node; a `ResultSkipped` item was settled by someone else, or expired); commits and
    reveals are marked mined for the consensus stage;
  * mined and reverted → the revert is decoded; a delivery's jobs go back to `computed` to be re-batched and
    re-estimated (up to `max_attempts`, then failed with the revert as the reason); a refused vote fails;
  * unknown to the node (a crash between journal and broadcast, a dropped transaction, an RPC outage) → the very
    same bytes are broadcast again (lowest nonce first); what a refusal means decides what follows
    (`classify_send_error`): a taken nonce is a nonce event (an earlier copy with that nonce may be the one mined,
    else the call is re-signed under a fresh nonce), `nonce too high` an ordering event (sent again once the lower
    nonces are in), fees too low a fee bump, a transient refusal (funds, a full pool) a retry with backoff until the
    deadline, only a permanent one counts towards `max_attempts`;
  * a delivery whose requests' deadlines are all closer than the margin is never sent again: its nonce is filled
    with a 0-value transfer (`cancel`) and its jobs fail, named;
  * pooled but not mined for `stuck_after_s` → replaced with the same nonce and higher fees.

`audit` re-reads the receipts of recently mined transactions: one that is gone was taken out by a reorg, which goes
to the node's one `ReorgHandler`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import RpcError
from verinfer.chain.txmanager import Receipt, Signed, classify_send_error, decode_raw
from verinfer.node.journal import Job, JobState, SentTx
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Clock, HubReader, JobStore, Timer, Tracker
from verinfer.node.reorg import ReorgHandler
from verinfer.node.request import params_of
from verinfer.node.submit import DEADLINE_MARGIN_S, broadcast
from verinfer.types import CALLBACK_ON_FINAL, Mode, SkipReason

MAX_FEE_BUMPS = 5  # replacements per nonce: fees grow by FEE_BUMP each time, so this bounds them (~3x)
REORG_WINDOW = 64  # blocks: how far back mined transactions are re-checked for a reorg that took them out
RETRY_START_S = 0.25  # a transiently refused transaction is sent again after this, doubling ...
RETRY_CAP_S = 5.0  # ... up to this: a refund or a freed pool is noticed within seconds
JOBLESS_KINDS = ("finalize", "cancel", "registry", "deliver", "challenge", "dispute")
"""Kinds of transactions no job waits on (finalizations, nonce fillers, registry calls, final callbacks, challenges
and dispute votes): followed until mined all the same, so that their nonces never leave a hole; the stage that sent
one reads the chain to learn what it did."""


class _Groups(dict[bytes, list[Job]]):
    """tx hash => the jobs whose current transaction it is, loaded from the journal on first use."""

    def __init__(self, store: JobStore) -> None:
        super().__init__()
        self._store = store

    def __missing__(self, tx_hash: bytes) -> list[Job]:
        jobs = self._store.jobs_with_tx(tx_hash)
        self[tx_hash] = jobs
        return jobs


class Track:
    def __init__(
        self,
        store: JobStore,
        sender: Tracker,
        hub: HubReader,
        reorgs: ReorgHandler,
        hub_address: str,
        metrics: NodeMetrics,
        log: Any,
        *,
        confirmations: int = 0,
        stuck_after_s: float = 30.0,
        max_attempts: int = 3,
        wall: Callable[[], float] = time.time,
        timer: Timer | None = None,
        clock: Clock | None = None,
        deadline_margin_s: int = DEADLINE_MARGIN_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.sender = sender
        self.hub = hub
        self.reorgs = reorgs
        self.hub_address = hub_address
        self.metrics = metrics
        self.log = log
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.max_attempts = max_attempts
        self._wall = wall
        self._timer: Timer = timer if timer is not None else (lambda _section: nullcontext())
        self.clock = clock
        self.deadline_margin_s = deadline_margin_s
        self._monotonic = monotonic
        self._waiting_depth: set[bytes] = set()  # mined deliveries already logged as waiting for confirmations
        self._retry: dict[bytes, tuple[int, float]] = {}
        """tx hash => (transient refusals in a row, monotonic time before which it is not sent again)"""
        abi = load_artifact("InferenceHub").abi
        self._submitted = EventCodec.from_abi(abi, "ResultSubmitted").topic
        self._skipped = EventCodec.from_abi(abi, "ResultSkipped").topic

    def track(self, head: int) -> int:
        """One pass over the transactions in flight; returns how many jobs it confirmed. `head` is the latest
        block."""
        store = self.store
        records: dict[bytes, SentTx] = {}
        states: dict[bytes, JobState] = {}
        for tx_hash, state in store.inflight_txs():
            record = store.txs.get(tx_hash)
            if record is None:
                continue  # not recorded by this journal (cannot happen: every transaction is recorded before sending)
            if record.mined_block is not None and state is not JobState.SUBMITTED:
                continue  # a mined commit or reveal: the consensus stage takes it from here
            records[tx_hash], states[tx_hash] = record, state
        for kind in JOBLESS_KINDS:
            for record in store.txs.unmined(kind):
                records[record.hash] = record  # no job waits on it, but its nonce must not become a hole
        if not records:
            return 0
        receipts = self.sender.receipts(records)
        groups = _Groups(store)
        confirmed = 0
        missing: list[bytes] = []
        for tx_hash, receipt in receipts.items():
            record = records[tx_hash]
            if receipt is None:
                if record.mined_block is not None:
                    store.txs.set_mined(tx_hash, None)  # un-mined again: it is in flight, and sent again if lost
                missing.append(tx_hash)
                continue
            if record.mined_block != receipt.block_number:
                store.txs.set_mined(tx_hash, receipt.block_number)
                self.sender.nonces.confirm(record.nonce)
                self.metrics.gas_used.labels(record.kind).inc(receipt.gas_used)
                self.metrics.gas_spent.inc(receipt.gas_used * receipt.effective_gas_price)
            if tx_hash not in states:
                continue  # a finalization: nothing waits on it
            if receipt.status != 1:
                self._reverted(record, receipt, groups[tx_hash])
            elif states[tx_hash] is JobState.SUBMITTED and head - receipt.block_number >= self.confirmations:
                confirmed += self._settle_submission(receipt, groups[tx_hash])
                self._waiting_depth.discard(tx_hash)
            elif (
                states[tx_hash] is JobState.SUBMITTED
                and tx_hash not in self._waiting_depth
                and self._wall() - record.created_at > self.stuck_after_s
            ):
                self._waiting_depth.add(tx_hash)
                self.log.warning(
                    "delivery mined but not yet final: waiting for more blocks",
                    tx=tx_hash.hex(),
                    mined_in=receipt.block_number,
                    head=head,
                    confirmations=self.confirmations,
                    fix="on a chain that mines only on demand (automine), set confirmations = 0 in the config",
                )
        if missing:
            self._recover_missing([records[h] for h in missing], groups)
        return confirmed

    def audit(self, head: int) -> int:
        """Checks that each transaction mined in the last REORG_WINDOW blocks is still in its block. One that is not
        was moved or taken out by a reorg, possibly one the watcher cannot see (above its cursor): its receipt says
        which, and the reorg handler restarts the jobs of one that is gone. Returns how many jobs restarted.

        The blocks' transaction lists are read (one small answer per block), and receipts only for the transactions
        missing from them: re-reading every recent receipt, logs and outputs included, on each new block was the
        node's second-largest cost per result under load (bench/node.py --sustained)."""
        mined = self.store.txs.mined_since(max(head - REORG_WINDOW, 0))
        if not mined:
            return 0
        blocks = self.sender.block_transactions(r.mined_block for r in mined if r.mined_block is not None)
        recent = [r for r in mined if r.mined_block is None or r.hash not in blocks.get(r.mined_block, frozenset())]
        if not recent:
            return 0
        receipts = self.sender.receipts(r.hash for r in recent)
        for record in recent:
            moved = receipts[record.hash]
            if moved is not None and moved.block_number != record.mined_block:
                self.store.txs.set_mined(record.hash, moved.block_number)  # re-mined on the new branch: still done
        gone = [r.hash for r in recent if receipts[r.hash] is None]
        return len(self.reorgs.txs_gone(gone)) if gone else 0

    # ------------------------------------------------------------------------------------------------------ mined

    def _settle_submission(self, receipt: Receipt, jobs: list[Job]) -> int:
        """Confirms or fails each job of a mined `submitResults` from the events in its receipt."""
        served: dict[int, bytes] = {}
        skips: dict[int, SkipReason] = {}
        sw = self._timer
        with sw("decode"):
            self._read_logs(receipt, served, skips)
        confirmed: list[int] = []
        finals: list[tuple[int, bytes, bytes, bytes]] = []
        now = self._wall()
        with sw("journal"), self.store.transaction():
            for job in jobs:
                rid = job.request_id
                if rid in served:
                    confirmed.append(rid)
                    if params_of(job).callback_gas_limit & CALLBACK_ON_FINAL and job.output is not None:
                        finals.append((rid, job.params, job.output, served[rid]))
                    self.metrics.latency_blocks.observe(max(receipt.block_number - job.block_number, 0))
                    self.metrics.latency_seconds.observe(max(now - job.seen_at, 0.0))
                elif (
                    skips.get(rid) is SkipReason.NOT_PENDING
                    and self.hub.own_event_tx("ResultSubmitted", rid, job.block_number) is not None
                ):
                    confirmed.append(rid)  # an earlier transaction of ours (re-mined after a reorg) won
                else:
                    why = {
                        SkipReason.NOT_PENDING: "already final on chain (another node served it first)",
                        SkipReason.EXPIRED: "the deadline passed before the result was mined",
                    }.get(skips.get(rid, SkipReason.NOT_PENDING), "no result event")
                    self.store.mark_failed(rid, f"delivery: {why}")
                    self.metrics.failed.labels("skipped").inc()
            self.store.mark_confirmed_many(confirmed)
            # What the callbacks that wait for finality need, in the confirmation's own transaction: a crash never
            # loses one (the final stage delivers them once their window has passed).
            self.store.finals.add_many(finals)
        self.metrics.fulfilled.labels(Mode.SINGLE.name).inc(len(confirmed))
        return len(confirmed)

    def _read_logs(self, receipt: Receipt, served: dict[int, bytes], skips: dict[int, SkipReason]) -> None:
        """Which requests of a `submitResults` receipt this node served (with the env hash each was recorded under)
        and which the hub skipped (and why), read from the indexed topics (requestId, node) and the first data word:
        no generic ABI decoding per item."""
        hub = self.hub_address.lower()
        me = bytes(12) + bytes.fromhex(self.sender.address[2:])
        for log in receipt.logs:
            topics = [_bytes(t) for t in log.get("topics") or []]
            if str(log.get("address", "")).lower() != hub or len(topics) != 3 or topics[2] != me:
                continue
            request_id = int.from_bytes(topics[1], "big")
            if topics[0] == self._submitted:
                served[request_id] = _bytes(log.get("data", b""))[:32]
            elif topics[0] == self._skipped:
                skips[request_id] = SkipReason(int.from_bytes(_bytes(log.get("data", b""))[:32], "big"))

    def _reverted(self, record: SentTx, receipt: Receipt, jobs: list[Job]) -> None:
        """A mined transaction reverted: name the error. A delivery's jobs go back to `computed`, to be re-batched
        and estimated again (which singles out a bad item), until `max_attempts`; a refused vote is final."""
        reason = self.sender.revert_reason(record.raw, receipt.block_number) or (
            f"out of gas or state changed in block {receipt.block_number} (gas used {receipt.gas_used})"
        )
        retry: list[int] = []
        with self.store.transaction():
            for job in jobs:
                if job.state is not JobState.SUBMITTED or job.attempts + 1 >= self.max_attempts:
                    self.store.mark_failed(job.request_id, f"{record.kind} reverted: {reason}")
                    self.metrics.failed.labels("revert").inc()
                else:
                    retry.append(job.request_id)
            self.store.requeue(retry, reason)
        self.log.warning(
            "transaction reverted", tx=record.hash.hex(), kind=record.kind, reason=reason, requeued=len(retry)
        )

    # -------------------------------------------------------------------------------------------------- not mined

    def _recover_missing(self, records: list[SentTx], groups: _Groups) -> None:
        known = self.sender.known(r.hash for r in records)
        now = self._wall()
        clock = self._monotonic()
        missing = {r.hash for r in records}
        self._retry = {h: v for h, v in self._retry.items() if h in missing}  # mined or replaced: forget
        lost = sorted((r for r in records if not known[r.hash]), key=lambda r: r.nonce)  # lowest nonce first
        stuck = [r for r in records if known[r.hash] and now - r.created_at > self.stuck_after_s]
        lost = [r for r in lost if self._retry.get(r.hash, (0, 0.0))[1] <= clock]
        late = [r for r in lost if self._too_late(r, groups[r.hash])]
        if late:
            self._cancel(late, groups)
            lost = [r for r in lost if r not in late]
        if lost:
            answers = self.sender.broadcast_raw([r.raw for r in lost])
            for record, error in zip(lost, answers, strict=True):
                jobs = groups[record.hash]
                if error is None:
                    self._retry.pop(record.hash, None)
                    self.log.info("transaction sent again", tx=record.hash.hex(), nonce=record.nonce, kind=record.kind)
                    continue
                kind = classify_send_error(error)
                if kind == "nonce_high":  # lowest nonce first, one per POST: an RPC that refuses gaps takes them
                    (error,) = self.sender.broadcast_raw([record.raw])
                    if error is None:
                        self._retry.pop(record.hash, None)
                        continue
                    kind = classify_send_error(error)
                if not jobs and kind not in ("nonce_high", "transient"):
                    self.store.txs.forget(record.hash)  # a finalization that cannot go out any more: moot
                    self.sender.nonces.resync()
                elif kind in ("nonce_used", "nonce_occupied"):
                    self._nonce_taken(record, jobs)
                elif kind == "fee":
                    self._bump(record, jobs, why=str(error))
                elif kind in ("nonce_high", "transient"):
                    self._later(record, jobs, error, kind)
                else:
                    self._refused(record, jobs, error)
        for record in stuck:
            if not groups[record.hash]:
                continue
            if self._too_late(record, groups[record.hash]):  # a higher-fee copy would be a send after the deadline
                if len(self.store.txs.with_nonce(record.nonce)) <= MAX_FEE_BUMPS:
                    old = decode_raw(record.raw)
                    self._cancel([record], groups, floor=(int(old["maxFeePerGas"]), int(old["maxPriorityFeePerGas"])))
                continue
            self._bump(record, groups[record.hash], why=f"pooled unmined for over {self.stuck_after_s:g}s")

    def _bump(self, record: SentTx, jobs: list[Job], *, why: str) -> None:
        """Replaces a transaction with the same nonce and higher fees (at most MAX_FEE_BUMPS times per nonce)."""
        if len(self.store.txs.with_nonce(record.nonce)) > MAX_FEE_BUMPS:
            return  # its fees were raised enough times: wait (tx.max_fee_wei caps each)
        replacement = self.sender.replacement(record.raw, record.kind)
        self._point_jobs_at(jobs, replacement)
        self.metrics.txs_replaced.inc()
        self.log.info(
            "transaction replaced (fee bump)",
            old=record.hash.hex(),
            new=replacement.hash.hex(),
            nonce=record.nonce,
            max_fee=replacement.max_fee,
            why=why,
        )
        broadcast(self.sender, [replacement], self.metrics, self.log)

    def _too_late(self, record: SentTx, jobs: list[Job]) -> bool:
        """A delivery none of whose requests can still be served in time: it must not be sent (again)."""
        if self.clock is None or record.kind != "submit" or not jobs:
            return False
        now = self.clock.chain_time()
        return all(params_of(job).deadline < now + self.deadline_margin_s for job in jobs)

    def _cancel(self, records: list[SentTx], groups: _Groups, floor: tuple[int, int] | None = None) -> None:
        """Fills the nonces of deliveries too late to send with 0-value transfers (replacing a pooled one: `floor`,
        its fees); their jobs fail, named."""
        out: list[Signed] = []
        for record in records:
            cancel = self.sender.cancel(record.nonce, floor)
            with self.store.transaction():
                self.store.txs.record(cancel.hash, cancel.nonce, cancel.kind, cancel.raw)
                for job in groups[record.hash]:
                    self.store.mark_failed(
                        job.request_id,
                        f"delivery not sent: its deadline {params_of(job).deadline} came before it could be (re)sent",
                    )
                    self.metrics.failed.labels("expired").inc()
            self._retry.pop(record.hash, None)
            self.log.warning(
                "delivery too late to send; nonce filled with a 0-value transfer",
                tx=record.hash.hex(),
                nonce=record.nonce,
                jobs=len(groups[record.hash]),
            )
            out.append(cancel)
        broadcast(self.sender, out, self.metrics, self.log)

    def _later(self, record: SentTx, jobs: list[Job], error: RpcError, kind: str) -> None:
        """A refusal that passes (funds, a full pool, earlier nonces not in yet): sent again after a doubling pause,
        until its deadline; counted per job for the operator, never a reason to give up."""
        count = self._retry.get(record.hash, (0, 0.0))[0] + 1
        pause = min(RETRY_START_S * 2 ** (count - 1), RETRY_CAP_S)
        self._retry[record.hash] = (count, self._monotonic() + pause)
        if kind == "transient":
            with self.store.transaction():
                for job in jobs:
                    self.store.record_attempt(job.request_id, str(error))
        log = self.log.warning if kind == "transient" else self.log.info
        log(
            "transaction refused for now; sending it again",
            tx=record.hash.hex(),
            nonce=record.nonce,
            error=str(error),
            kind=kind,
            retry_in_s=pause,
        )

    def _nonce_taken(self, record: SentTx, jobs: list[Job]) -> None:
        """The transaction's nonce is used by another: if an earlier copy (same nonce) of ours was mined, the jobs
        follow it; otherwise the call is signed again under a fresh nonce."""
        siblings = [s for s in self.store.txs.with_nonce(record.nonce) if s.hash != record.hash]
        if siblings:
            for sibling_hash, receipt in self.sender.receipts(s.hash for s in siblings).items():
                if receipt is not None:
                    with self.store.transaction():
                        for job in jobs:
                            self.store.replace_tx(job.request_id, sibling_hash, record.nonce)
                    return
        if self.sender.known([record.hash])[record.hash]:
            return  # "already known": this very transaction is pooled after all
        fresh = self.sender.resign(record.raw, record.kind)
        self._point_jobs_at(jobs, fresh)
        self.metrics.txs_replaced.inc()
        self.log.info("transaction signed again", old=record.hash.hex(), new=fresh.hash.hex(), nonce=fresh.nonce)
        broadcast(self.sender, [fresh], self.metrics, self.log)

    def _refused(self, record: SentTx, jobs: list[Job], error: RpcError) -> None:
        """The node refuses the transaction (funds, fee cap, …): count a try; at the cap, fail its jobs and give
        the nonce back to the chain's sequence."""
        give_up = False
        with self.store.transaction():
            for job in jobs:
                if self.store.record_attempt(job.request_id, str(error)) >= self.max_attempts:
                    self.store.mark_failed(job.request_id, f"{record.kind} refused by the RPC node: {error}")
                    self.metrics.failed.labels("refused").inc()
                    give_up = True
        self.log.warning(
            "transaction refused", tx=record.hash.hex(), nonce=record.nonce, error=str(error), gave_up=give_up
        )
        if give_up:
            self.sender.nonces.resync()

    def _point_jobs_at(self, jobs: list[Job], tx: Signed) -> None:
        with self.store.transaction():
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            for job in jobs:
                self.store.replace_tx(job.request_id, tx.hash, tx.nonce)


def _bytes(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)
