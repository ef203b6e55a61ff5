"""The final stage: the callbacks of SINGLE results this node delivered for requesters that asked for them at
finality (`CALLBACK_ON_FINAL`), sent in batched `deliverFinal` transactions once each result's challenge window has
passed.

    confirmed (Track writes a `finals` row) ──(final_at passed)──> deliverFinal signed, journalled, broadcast
        ──(mined: the hub says CONFIRMED)──> row removed

Everything is read back from the journal and the hub, so the stage resumes anywhere after a crash: a row whose
transaction was lost, reverted or replaced by another caller's delivery is decided by the request's status on chain.
Requests the hub already closed (delivered by someone else, disputed and settled) are dropped without a transaction;
a disputed one waits: `closeDispute` delivers its callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from verinfer.chain.txmanager import Signed
from verinfer.errors import ContractRevert
from verinfer.node.calldata import HubCalldata
from verinfer.node.journal import Final
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Clock, FinalStore, Sender, TxStore
from verinfer.node.request import decode_params
from verinfer.node.submit import broadcast
from verinfer.types import RequestParams, Status

MAX_ITEMS = 64
"""Callbacks per `deliverFinal`: the node prices each final delivery at a 1/MAX_ITEMS share of a batch's own cost."""
ITEM_GAS = 40_000
"""A final delivery's gas beyond its callback (calldata, the commitment check, the status write, the call itself):
what the fee policy prices, since the escrow reimburses only the callback's own gas."""
BATCH_GAS = 60_000
"""A `deliverFinal` transaction's own cost, shared by its items."""
POLL_S = 1.0
"""How often the stage looks at its rows."""
DISPUTED_RECHECK_S = 30
"""Chain seconds before a disputed request's row is looked at again (its dispute delivers the callback)."""
MAX_ATTEMPTS = 5


def delivery_gas() -> int:
    """The gas a final delivery costs its node beyond the callback: its item and its share of a batch."""
    return ITEM_GAS + BATCH_GAS // MAX_ITEMS


class FinalJournal(Protocol):
    @property
    def txs(self) -> TxStore: ...

    @property
    def finals(self) -> FinalStore: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class FinalityReader(Protocol):
    def statuses_of(self, request_ids: Sequence[int]) -> dict[int, Status]: ...
    def finality_of(self, request_id: int, params: RequestParams) -> tuple[bool, int]: ...


class FinalDeliveries:
    """Sends the callbacks this node owes once its results are final; see the module docstring."""

    def __init__(
        self,
        store: FinalJournal,
        sender: Sender,
        hub: FinalityReader,
        clock: Clock,
        calldata: HubCalldata,
        hub_address: str,
        metrics: NodeMetrics,
        log: Any,
        *,
        max_items: int = MAX_ITEMS,
        poll_s: float = POLL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= max_items <= 256:
            raise ValueError(f"max_items must be 1..256 (the hub's MAX_BATCH), got {max_items}")
        self.store = store
        self.sender = sender
        self.hub = hub
        self.clock = clock
        self.calldata = calldata
        self.hub_address = hub_address
        self.metrics = metrics
        self.log = log
        self.max_items = max_items
        self.poll_s = poll_s
        self._monotonic = monotonic
        self._polled = float("-inf")

    def step(self) -> int:
        """Settles the rows whose transactions were mined or lost, sends what is due; returns how many transactions
        went out."""
        if self._monotonic() - self._polled < self.poll_s:
            return 0
        self._polled = self._monotonic()
        self._settle_in_flight()
        now = self.clock.chain_time()
        ready = self._ready(self.store.finals.due(now), now)
        signed: list[Signed] = []
        for start in range(0, len(ready), self.max_items):
            signed.extend(self._batch(ready[start : start + self.max_items]))
        broadcast(self.sender, signed, self.metrics, self.log)
        self.metrics.finals_waiting.set(self.store.finals.count())
        return len(signed)

    def _settle_in_flight(self) -> None:
        finals = self.store.finals
        rows = finals.in_flight()
        mined = []
        for row in rows:
            record = self.store.txs.get(row.tx_hash) if row.tx_hash is not None else None
            if record is None:
                finals.retry([row.request_id])  # the transaction was forgotten (refused for good): send again
            elif record.mined_block is not None:
                mined.append(row)
        if not mined:
            return
        status = self.hub.statuses_of([row.request_id for row in mined])
        done = [row.request_id for row in mined if status[row.request_id] != Status.FULFILLED]
        again = [row for row in mined if status[row.request_id] == Status.FULFILLED]
        with self.store.transaction():
            finals.remove(done)
            finals.retry([row.request_id for row in again])
        self.metrics.finals_delivered.inc(len(done))
        for row in again:
            self.log.warning(
                "final callback not delivered by its transaction; sending again", request_id=row.request_id
            )

    def _ready(self, due: list[Final], now: int) -> list[Final]:
        """The due rows the hub still holds as FULFILLED and final; the others are dropped (closed) or put off."""
        if not due:
            return []
        finals = self.store.finals
        status = self.hub.statuses_of([row.request_id for row in due])
        ready, closed = [], []
        for row in due:
            current = status[row.request_id]
            if current == Status.DISPUTED:
                finals.set_final_at(row.request_id, now + DISPUTED_RECHECK_S)
            elif current != Status.FULFILLED or row.attempts >= MAX_ATTEMPTS:
                closed.append(row)
            elif row.final_at is None:
                _, final_at = self.hub.finality_of(row.request_id, decode_params(row.params))
                finals.set_final_at(row.request_id, final_at)
                if final_at <= now:
                    ready.append(row)
            else:
                ready.append(row)
        if closed:
            finals.remove([row.request_id for row in closed])
            for row in closed:
                self.log.info(
                    "final callback not owed any more",
                    request_id=row.request_id,
                    status=status[row.request_id].name,
                    attempts=row.attempts,
                )
        return ready

    def _batch(self, rows: list[Final]) -> list[Signed]:
        items = [
            (row.request_id, decode_params(row.params), row.output, row.env_hash, self.sender.address) for row in rows
        ]
        data = self.calldata.deliver_final(items)
        try:
            gas = self.sender.estimate_gas(self.hub_address, data)
        except ContractRevert as exc:
            if exc.name == "NotFinal":  # the chain's clock is behind ours: try again once it says final
                final_at = exc.arguments.get("finalAt")
                rid = exc.arguments.get("requestId")
                if isinstance(final_at, int) and isinstance(rid, int):
                    self.store.finals.set_final_at(rid, final_at)
                if len(rows) == 1:
                    return []
            if len(rows) == 1:
                self.store.finals.retry([rows[0].request_id])
                self.log.warning("final callback refused", request_id=rows[0].request_id, error=str(exc))
                return []
            middle = len(rows) // 2  # find the refused items by halving; the rest still go out
            return self._batch(rows[:middle]) + self._batch(rows[middle:])
        tx = self.sender.sign(self.hub_address, data, gas, "deliver")
        with self.store.transaction():
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
            self.store.finals.mark_sent([row.request_id for row in rows], tx.hash)
        return [tx]
