"""CONSENSUS rounds, one step per tick and safe to resume at any point:

    computed ──commit──> committed ──(k commits in: reveal phase)──reveal──> revealed ──(settled)──> finalized

A round without a majority escalates once, to a fresh committee: a node whose job failed because better tickets took
the round's seats is woken by the `ConsensusEscalated` event (polled every ESCALATION_POLL_S) and serves again from
`seen`, on the escalation's seats; a voter of the round waits for the escalation's outcome to finalize.

The salt is journalled before the commit is signed (and kept through reorgs), so a restarted node can always reveal
what it committed. Finalizing is open to anyone: a node sends it once every vote is revealed or the window is over,
with its own output; if a majority outvoted it the hub refuses (`WinningOutputMismatch`) and another node settles.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from verinfer.chain import commitments, lottery
from verinfer.chain.txmanager import Signed
from verinfer.errors import ContractRevert
from verinfer.node.calldata import HubCalldata
from verinfer.node.hub import FALLBACK_GRACE_S, open_phase, seat_mask
from verinfer.node.journal import Job, JobState, SentTx
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Clock, HubReader, Round, Sender, TxStore
from verinfer.node.request import params_of
from verinfer.node.submit import broadcast
from verinfer.types import Mode, Status

MAX_PER_TICK = 1_024
FREE_SEATS_RETRY_S = 10.0
ESCALATION_POLL_S = 2.0
ESCALATION_LOOKBACK_BLOCKS = 256
"""At start, how far back the escalation poll looks: escalations older than that were served by other nodes."""


class ConsensusStore(Protocol):
    @property
    def txs(self) -> TxStore: ...

    def transaction(self) -> AbstractContextManager[None]: ...
    def jobs(self, state: JobState, *, limit: int = ..., after: int = ...) -> list[Job]: ...
    def job(self, request_id: int) -> Job | None: ...
    def reset_to_seen(self, request_ids: Iterable[int]) -> int: ...
    def store_salt(self, request_id: int, salt: bytes) -> Job: ...
    def mark_committed(self, request_id: int, tx_hash: bytes, nonce: int) -> Job: ...
    def mark_revealed(self, request_id: int, tx_hash: bytes, nonce: int) -> Job: ...
    def mark_finalized(self, request_id: int) -> Job: ...
    def mark_failed(self, request_id: int, reason: str) -> Job: ...


class Consensus:
    """The CONSENSUS stage. Its own state: when it last sent (or declined) each round's finalization, so a round
    is not finalized again before `retry_after_s` (forgotten once the round is settled)."""

    def __init__(
        self,
        store: ConsensusStore,
        sender: Sender,
        hub: HubReader,
        clock: Clock,
        calldata: HubCalldata,
        hub_address: str,
        metrics: NodeMetrics,
        log: Any,
        *,
        retry_after_s: float = 30.0,
        salts: Callable[[], bytes] = lambda: os.urandom(32),
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sender = sender
        self.hub = hub
        self.clock = clock
        self.calldata = calldata
        self.hub_address = hub_address
        self.metrics = metrics
        self.log = log
        self.retry_after_s = retry_after_s
        self._salts = salts
        self._monotonic = monotonic
        self._wall = wall
        self._seats_claimed: dict[int, float] = {}
        self.finalize_sent: dict[int, float] = {}
        """request id => when (monotonic) this node last sent or declined its finalizeConsensus"""
        self.reveals_due: dict[int, tuple[int, int]] = {}
        """request id => (reveal_ends_at, seconds of the window left when this node first saw it open), for each vote
        whose reveal is not yet mined"""
        self.reveals_at_risk: set[int] = set()
        self._escalations_from: int | None = None
        self._escalations_polled = float("-inf")
        self.escalations_joined = 0
        """Failed jobs started again because their round escalated (since start)."""

    def step(self, ready: Sequence[Job]) -> int:
        """Commits (the computed CONSENSUS jobs in `ready`), reveals and finalizes what is due; returns how many
        transactions went out."""
        out: list[Signed] = []
        out.extend(self._commit(ready))
        committed = self.store.jobs(JobState.COMMITTED, limit=MAX_PER_TICK)
        revealed = self.store.jobs(JobState.REVEALED, limit=MAX_PER_TICK)
        if committed or revealed:
            now = self.clock.chain_time()
            out.extend(self._reveal(committed, now))
            out.extend(self._finalize(revealed, now))
            self._watch_reveals(now)
        broadcast(self.sender, out, self.metrics, self.log)
        return len(out)

    def join_escalations(self) -> None:
        """Every ESCALATION_POLL_S: the rounds that escalated since the last poll; a job of this node that failed for
        want of a seat in one of them starts again from `seen`, to serve on the escalation's fresh committee (the
        lottery then decides whether it holds a seat; `seats_open` says why not if it does not)."""
        if self._monotonic() - self._escalations_polled < ESCALATION_POLL_S:
            return
        self._escalations_polled = self._monotonic()
        head = self.hub.block_number()
        start = self._escalations_from
        if start is None:
            start = max(head - ESCALATION_LOOKBACK_BLOCKS, 0)
        if start > head:
            return
        woken = []
        for request_id in self.hub.escalated_between(start, head):
            job = self.store.job(request_id)
            if job is not None and job.state is JobState.FAILED and params_of(job).mode == Mode.CONSENSUS:
                woken.append(request_id)
        self._escalations_from = head + 1
        if woken:
            self.escalations_joined += self.store.reset_to_seen(woken)
            for request_id in woken:
                self.log.info("round escalated: serving on its fresh committee if drawn", request_id=request_id)

    def _watch_reveals(self, now: int) -> None:
        """A vote whose reveal is not mined once half of its reveal window is gone is at risk (a dry wallet, an RPC
        that drops it, a fee too low): an error log when it becomes so, and the `verinfer_reveals_at_risk` gauge, well
        before the window ends and the vote is slashed."""
        self.reveals_due = {rid: due for rid, due in self.reveals_due.items() if due[0] >= now}  # over: failed
        at_risk = {rid for rid, (ends_at, window) in self.reveals_due.items() if 0 <= ends_at - now <= window / 2}
        for rid in sorted(at_risk - self.reveals_at_risk):
            ends_at, _ = self.reveals_due[rid]
            self.log.error(
                "reveal at risk: not mined with half of its window gone; the vote is slashed if the window ends first",
                request_id=rid,
                seconds_left=ends_at - now,
                check="the wallet's balance and the RPC endpoint (verinfer node status)",
            )
        self.reveals_at_risk = at_risk
        self.metrics.reveals_at_risk.set(len(at_risk))

    def _mined(self, tx_hash: bytes | None) -> bool:
        record = self.store.txs.get(tx_hash) if tx_hash is not None else None
        return record is not None and record.mined_block is not None

    def _send(self, data: bytes, kind: str) -> Signed | ContractRevert:
        try:
            gas = self.sender.estimate_gas(self.hub_address, data)
        except ContractRevert as exc:
            return exc
        return self.sender.sign(self.hub_address, data, gas, kind)

    def _fail(self, job: Job, label: str, reason: str) -> None:
        self.store.mark_failed(job.request_id, reason)
        self.metrics.failed.labels(label).inc()

    # --------------------------------------------------------------------------------------------------- commit

    def _commit(self, jobs: Sequence[Job]) -> list[Signed]:
        out: list[Signed] = []
        for job in jobs:
            if job.output_hash is None:
                continue
            salt = job.salt if job.salt is not None else self._salts()
            vote = commitments.vote(job.output_hash, salt, self.sender.address)
            params = params_of(job)
            open_seats = self.hub.seats_open(job.request_id, params, self.clock.chain_time())
            seats = open_seats if isinstance(open_seats, int) else 0
            tx = self._send(self.calldata.commit_result(job.request_id, params, vote, seats), "commit")
            if isinstance(tx, ContractRevert) and tx.name == "SeatTaken":
                # Another node took some of the open seats first: commit for the rest, if any.
                taken = tx.arguments.get("taken")
                if isinstance(taken, int) and seats & ~taken:
                    tx = self._send(self.calldata.commit_result(job.request_id, params, vote, seats & ~taken), "commit")
            if isinstance(tx, ContractRevert):
                self._commit_refused(job, tx, salt)
                continue
            with self.store.transaction():  # the salt is durable before the commit can reach the chain
                self.store.store_salt(job.request_id, salt)
                self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
                self.store.mark_committed(job.request_id, tx.hash, tx.nonce)
            out.append(tx)
        return out

    def _commit_refused(self, job: Job, exc: ContractRevert, salt: bytes) -> None:
        if exc.name == "AlreadyCommitted":
            # Our commit is on chain already (a reorg re-mined it after the journal restarted the job): adopt it.
            found = self.hub.own_event_tx("ResultCommitted", job.request_id, job.block_number)
            if found is not None:
                record: SentTx | None = self.store.txs.get(found)
                with self.store.transaction():
                    self.store.store_salt(job.request_id, salt)
                    self.store.mark_committed(job.request_id, found, record.nonce if record else 0)
                    if record is None:
                        self.store.txs.record(found, 0, "commit", b"")
                return
        self._fail(job, "commit", f"commit refused: {exc}")
        self.log.info("consensus commit refused", request_id=job.request_id, error=str(exc))

    def _claim_free_seats(self, job: Job, round_: Round, now: int) -> list[Signed]:
        """A round (or its escalation) still short of seats once every window is open (and the grace after it) lost a
        holder of the best tickets (down, or slashed below the minimum stake): this committed node takes the free
        seats with its same vote, at most once per FREE_SEATS_RETRY_S."""
        request = params_of(job)
        draw, seats = open_phase(lottery.Lottery.unpack(request.lottery), request.redundancy, round_)
        every = seat_mask(seats)
        if now < draw.opens_to_all_at + FALLBACK_GRACE_S:
            return []
        last = self._seats_claimed.get(job.request_id)
        if last is not None and self._monotonic() - last < FREE_SEATS_RETRY_S:
            return []
        self._seats_claimed[job.request_id] = self._monotonic()
        if job.output_hash is None or job.salt is None:
            return []
        vote = commitments.vote(job.output_hash, job.salt, self.sender.address)
        tx = self._send(self.calldata.commit_result(job.request_id, request, vote, every), "seats")
        if isinstance(tx, ContractRevert) and tx.name == "SeatTaken":
            taken = tx.arguments.get("taken")
            if isinstance(taken, int) and every & ~taken:
                tx = self._send(self.calldata.commit_result(job.request_id, request, vote, every & ~taken), "seats")
        if isinstance(tx, ContractRevert):
            self.log.info("free seats not taken", request_id=job.request_id, error=str(tx))
            return []
        with self.store.transaction():
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
        return [tx]

    # --------------------------------------------------------------------------------------------------- reveal

    def _reveal(self, jobs: list[Job], now: int) -> list[Signed]:
        out: list[Signed] = []
        for job in jobs:
            if not self._mined(job.commit_tx_hash):
                continue
            request = params_of(job)
            round_ = self.hub.round_of(job.request_id)
            if round_.escalation_seats and self.hub.vote_seats(job.request_id) >> request.redundancy == 0:
                # A vote of the round, not of its escalation: its reveal window closed when the round escalated.
                self.reveals_due.pop(job.request_id, None)
                self._fail(job, "reveal", "the round escalated before this vote was revealed")
                self.log.error("missed a reveal window: this vote will be slashed", request_id=job.request_id)
                continue
            if round_.reveal_ends_at == 0:
                if now > max(request.deadline, round_.escalation_ends_at):
                    self._fail(
                        job,
                        "round",
                        f"round did not fill ({round_.commits}/{request.redundancy} "
                        "commits) before the deadline; the requester can reclaim the fee",
                    )
                else:
                    out.extend(self._claim_free_seats(job, round_, now))
                continue
            self._due(job.request_id, round_.reveal_ends_at, now)
            if now > round_.reveal_ends_at:
                self.reveals_due.pop(job.request_id, None)
                self._fail(job, "reveal", f"reveal window ended at {round_.reveal_ends_at} before the reveal")
                self.log.error("missed a reveal window: this vote will be slashed", request_id=job.request_id)
                continue
            if job.salt is None or job.output is None:
                continue  # impossible by the journal's schema
            tx = self._send(self.calldata.reveal_result(job.request_id, request, job.output, job.salt), "reveal")
            if isinstance(tx, ContractRevert):
                if tx.name == "AlreadyRevealed":
                    found = self.hub.own_event_tx("ResultRevealed", job.request_id, job.block_number)
                    if found is not None:
                        self.store.mark_revealed(job.request_id, found, 0)
                        continue
                self._fail(job, "reveal", f"reveal refused: {tx}")
                continue
            with self.store.transaction():
                self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
                self.store.mark_revealed(job.request_id, tx.hash, tx.nonce)
            out.append(tx)
        return out

    def _due(self, request_id: int, reveal_ends_at: int, now: int) -> None:
        if request_id not in self.reveals_due:
            self.reveals_due[request_id] = (reveal_ends_at, max(reveal_ends_at - now, 0))

    # ------------------------------------------------------------------------------------------------- finalize

    def _finalize(self, jobs: list[Job], now: int) -> list[Signed]:
        out: list[Signed] = []
        for job in jobs:
            if not self._mined(job.reveal_tx_hash):
                if job.request_id not in self.reveals_due:  # sent before a restart: watch it from now on
                    self._due(job.request_id, self.hub.round_of(job.request_id).reveal_ends_at, now)
                continue
            self.reveals_due.pop(job.request_id, None)
            key = job.request_id
            status = self.hub.status_of(key)
            if status != Status.PENDING:
                self.store.mark_finalized(key)
                self.finalize_sent.pop(key, None)
                if status == Status.FULFILLED and self.hub.round_of(key).winning_output_hash == job.output_hash:
                    self.metrics.fulfilled.labels(Mode.CONSENSUS.name).inc()
                    self.metrics.latency_seconds.observe(max(self._wall() - job.seen_at, 0.0))
                continue
            round_ = self.hub.round_of(key)
            if round_.reveal_ends_at == 0:
                continue  # the round escalated: its fresh committee is still taking its seats
            if round_.reveals < round_.commits and now <= round_.reveal_ends_at:
                continue
            if self._monotonic() - self.finalize_sent.get(key, float("-inf")) < self.retry_after_s:
                continue
            data = self.calldata.finalize_consensus(key, params_of(job), job.output or b"")
            tx = self._send(data, "finalize")
            self.finalize_sent[key] = self._monotonic()
            if isinstance(tx, ContractRevert):
                # Outvoted (WinningOutputMismatch), or another node settled it in the meantime: not ours to send.
                self.log.info("not finalizing", request_id=key, reason=str(tx))
                continue
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            out.append(tx)
        return out
