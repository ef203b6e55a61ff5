"""Dispute duty (config `watch.committee`, and every dispute this node opened as a watchtower): each `DisputeOpened`
for a model this node serves is followed until the dispute contract settles it.

    DisputeOpened ──> re-execute ──(seats' windows open)──> commit ──(every seat taken, or commits closed)──> reveal
                  ──(every vote revealed, or reveals closed)──> resolve (anyone; the first one mined settles it)

Without a majority, that resolve escalates the dispute instead: a fresh draw, a committee of ESCALATION_SEATS seats
on which no member of the first sits, the same steps again; its resolve settles the dispute (VOID if it has no
majority either). A member of the first committee follows the dispute to the end (its vote is judged by the
escalation's outcome), but takes no seat in it.

The committee's seats go by the stake-weighted lottery of the dispute's own draw (`DisputeOpened.lottery`), among
the model's nodes that held a ticket when it opened, never the challenged node or the challenger: the same tickets
and rules as a consensus round's (`HubView.dispute_seats`). A member's salt is derived from its key and the request
(keccak of a key-derived secret, the dispute contract and the request id), so a node restarted after its commit can
still reveal: nothing secret is journalled, and every step is decided by reading the chain again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eth_utils.crypto import keccak

from verinfer.chain import commitments, lottery
from verinfer.chain.txmanager import Signed
from verinfer.errors import ContractRevert, ModelError
from verinfer.node.dispute_view import OPEN, Dispute, DisputeReader
from verinfer.node.journal import Checks, Cursor, DisputeRecord, DisputeRecords, Job, ScanCursors
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Clock, TxStore
from verinfer.node.reexec import Reexecution
from verinfer.node.request import params_of
from verinfer.node.submit import broadcast
from verinfer.node.watch import HubStatus, PayingSender, scan_range

POLL_S = 1.0
SCAN = "disputes"
ZERO = bytes(32)


class CommitteeJournal(Protocol):
    @property
    def txs(self) -> TxStore: ...

    @property
    def checks(self) -> Checks: ...

    @property
    def disputes(self) -> DisputeRecords: ...

    @property
    def scans(self) -> ScanCursors: ...

    def transaction(self) -> AbstractContextManager[None]: ...
    def job(self, request_id: int) -> Job | None: ...
    def cursor(self) -> Cursor | None: ...


class SeatReader(HubStatus, Protocol):
    def dispute_seats(
        self,
        request_id: int,
        model_id: bytes,
        draw: lottery.Lottery,
        conflicted: Iterable[str],
        taken: int,
        now: int,
        *,
        seats: int = ...,
        opened_at: int | None = ...,
    ) -> int | str: ...


def dispute_salt(secret: bytes, disputes: str, request_id: int) -> bytes:
    """A member's salt for a dispute: keccak(secret, dispute contract, request id), reproducible after a restart."""
    return bytes(keccak(secret + bytes.fromhex(disputes[2:]) + request_id.to_bytes(32, "big")))


class Committee:
    """See the module docstring."""

    def __init__(
        self,
        store: CommitteeJournal,
        sender: PayingSender,
        hub: SeatReader,
        reader: DisputeReader,
        reexec: Reexecution,
        clock: Clock,
        metrics: NodeMetrics,
        log: Any,
        *,
        models: Collection[bytes],
        secret: bytes,
        serve: bool = True,
        lookback: int = 256,
        poll_s: float = POLL_S,
        retry_after_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(secret) != 32:
            raise ValueError(f"the dispute secret must be 32 bytes, got {len(secret)}")
        self.store = store
        self.sender = sender
        self.hub = hub
        self.reader = reader
        self.reexec = reexec
        self.clock = clock
        self.metrics = metrics
        self.log = log
        self.models = {bytes(m) for m in models}
        self.serve = serve
        self.lookback = lookback
        self.poll_s = poll_s
        self.retry_after_s = retry_after_s
        self._secret = secret
        self._monotonic = monotonic
        self._polled = float("-inf")
        self._sent: dict[tuple[int, int, str], float] = {}
        """(request id, committee round, action) => when (monotonic) it was last sent or refused: not again before
        retry_after_s."""

    def step(self) -> int:
        """Follows every open dispute one step; returns how many transactions went out."""
        if self._monotonic() - self._polled < self.poll_s:
            return 0
        self._polled = self._monotonic()
        self._scan()
        signed: list[Signed] = []
        at_stake = 0
        for record in self.store.disputes.open():
            dispute = self.reader.dispute_of(record.request_id)
            if dispute.state != OPEN:
                self._closed(record, dispute)
                continue
            if record.role == "challenger":
                at_stake += dispute.bond
            job = self.store.job(record.request_id)
            if job is None:
                self.store.disputes.close(record.request_id, "left the journal")
                continue
            now = self.clock.chain_time()
            if record.role == "member":
                signed.extend(self._vote(record, dispute, job, now))
            signed.extend(self._resolve(record, dispute, job, now))
        self.metrics.bonds_at_stake.set(at_stake)
        broadcast(self.sender, signed, self.metrics, self.log)
        return len(signed)

    # ---------------------------------------------------------------------------------------------------- scan

    def _scan(self) -> None:
        blocks = scan_range(self.store, self.hub, SCAN, self.lookback)
        if not blocks:
            return
        me = self.sender.address.lower()
        found: list[tuple[int, str, int, int]] = []
        for opened in self.reader.opened_between(blocks.start, blocks.stop - 1):
            rid = opened.request_id
            if opened.challenger.lower() == me:
                found.append((rid, "challenger", opened.lottery, opened.block_number))
                continue
            if not self.serve or opened.node.lower() == me:
                continue
            job = self.store.job(rid)
            if job is not None and params_of(job).model_id in self.models:
                found.append((rid, "member", opened.lottery, opened.block_number))
        with self.store.transaction():
            for rid, role, word, block in found:
                self.store.disputes.add(rid, role, word, block)
            self.store.scans.set(SCAN, blocks.stop - 1)
        for rid, role, _, _ in found:
            if role == "challenger":
                self.metrics.challenges_opened.inc()
            self.log.info("dispute opened", request_id=rid, role=role)

    def _closed(self, record: DisputeRecord, dispute: Dispute) -> None:
        self.store.disputes.close(record.request_id, dispute.state_name)
        if record.role == "challenger":
            won = dispute.state_name == "OVERTURNED"
            (self.metrics.challenges_won if won else self.metrics.challenges_lost).inc()
        self.log.info("dispute settled", request_id=record.request_id, role=record.role, outcome=dispute.state_name)

    # ---------------------------------------------------------------------------------------------------- vote

    def _output(self, record: DisputeRecord, job: Job) -> bytes | None:
        """This node's output for the disputed request: journalled, or taken from its own check, or computed."""
        if record.output is not None:
            return record.output
        check = self.store.checks.get(record.request_id)
        output: bytes | ModelError | None = check.expected if check is not None else None
        if output is None:
            output = self.reexec.outputs([job]).get(record.request_id)
        if isinstance(output, ModelError):
            self.store.disputes.close(record.request_id, f"not re-executed: {output}")
            self.log.warning("cannot vote on a dispute", request_id=record.request_id, error=str(output))
            return None
        if output is not None:
            self.store.disputes.set_output(record.request_id, output)
        return output

    def _vote(self, record: DisputeRecord, dispute: Dispute, job: Job, now: int) -> list[Signed]:
        rid = record.request_id
        output = self._output(record, job)
        if output is None:
            return []
        me = self.sender.address
        salt = dispute_salt(self._secret, self.reader.address, rid)
        mine = self.reader.vote_of(rid, me)
        if mine.commit_hash != ZERO and mine.round != dispute.round:
            return []  # this node sat on the first committee: never on its escalation
        if dispute.reveal_ends_at == 0:
            if now > dispute.commit_ends_at or dispute.commits >= dispute.seat_count:
                return []
            taken = 0
            for member in dispute.members:
                theirs = mine if member == me else self.reader.vote_of(rid, member)
                if theirs.round == dispute.round:
                    taken |= theirs.seats
            draw = lottery.Lottery.unpack(dispute.lottery)
            seats = self.hub.dispute_seats(
                rid,
                dispute.model_id,
                draw,
                (dispute.node, dispute.challenger),
                taken,
                now,
                seats=dispute.seat_count,
                opened_at=dispute.opened_at,
            )
            if isinstance(seats, str) or seats == 0:
                return []
            vote = commitments.vote(bytes(keccak(output)), salt, me)
            return self._send(rid, dispute.round, "commit", self.reader.commit_data(rid, vote, seats))
        if mine.commit_hash != ZERO and not mine.revealed and now <= dispute.reveal_ends_at:
            return self._send(rid, dispute.round, "reveal", self.reader.reveal_data(rid, output, salt))
        return []

    # ------------------------------------------------------------------------------------------------- resolve

    def _resolve(self, record: DisputeRecord, dispute: Dispute, job: Job, now: int) -> list[Signed]:
        ends = dispute.reveal_ends_at
        all_in = ends != 0 and dispute.commits != 0 and dispute.reveals == dispute.commits
        at = ends if ends else dispute.commit_ends_at + lottery.Lottery.unpack(dispute.lottery).reveal_window
        if not all_in and now <= at:
            return []
        rid = record.request_id
        winner = self.reader.majority_of(rid)
        if winner == ZERO:
            # No majority: the first committee's resolve escalates (the output is not used), the escalation's
            # leaves the result standing.
            output = self.reader.submitted_output(rid, job.block_number)
        elif record.output is not None and bytes(keccak(record.output)) == winner:
            output = record.output
        else:
            output = self.reader.revealed_outputs(rid, record.block_number).get(winner)
        if output is None:
            return []
        return self._send(rid, dispute.round, "resolve", self.reader.resolve_data(rid, params_of(job), output))

    # ---------------------------------------------------------------------------------------------------- send

    def _send(self, request_id: int, round_: int, action: str, data: bytes) -> list[Signed]:
        key = (request_id, round_, action)
        if self._monotonic() - self._sent.get(key, float("-inf")) < self.retry_after_s:
            return []
        self._sent[key] = self._monotonic()
        try:
            gas = self.sender.estimate_gas(self.reader.address, data)
        except ContractRevert as exc:
            self.log.info("dispute step not sent", request_id=request_id, action=action, reason=str(exc))
            return []
        tx = self.sender.sign(self.reader.address, data, gas, "dispute")
        self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
        self.metrics.dispute_votes.labels(action).inc()
        self.log.info("dispute step sent", request_id=request_id, action=action, tx=tx.hash.hex())
        return [tx]
