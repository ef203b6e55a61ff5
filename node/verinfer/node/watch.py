"""The watchtower (config `watch.watchtower`): other nodes' SINGLE results for the models this node serves are
re-executed, and a wrong one is challenged while its window is open, when that pays.

    ResultSubmitted (another node, SINGLE) ──> checks: pending ──(re-executed)──> agreed
                                                               └──> mismatch ──(worth it)──> challenge signed
                                                                            └──(not)──> declined, named

The canonical output bytes are compared: the protocol's outputs are deterministic encodings, so any difference is a
wrong result. A challenge is sent only when the expected reward (half of the liar's slashed stake, `slashBps` of it
at the request, after the requester's fee comes out of it) exceeds what the challenge and its resolution cost in
gas, and the bond (`bondFor(fee)`) is at most `watch.max_bond_wei`: the bond comes back when the committee
overturns the result. The scan only reads results of requests the ingest stage has journalled (the input is
there), and its position is journalled with what it found, so a restart neither skips nor repeats a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eth_typing import ChecksumAddress

from verinfer.chain import lottery
from verinfer.chain.jsonrpc import RpcError
from verinfer.chain.txmanager import Signed
from verinfer.errors import ContractRevert, ModelError
from verinfer.node.dispute_view import DisputeReader
from verinfer.node.journal import Checks, Cursor, Job, ScanCursors
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import TxStore
from verinfer.node.reexec import Reexecution
from verinfer.node.request import params_of
from verinfer.node.submit import broadcast
from verinfer.types import Mode, Status

POLL_S = 1.0
SCAN = "results"
RESOLVE_GAS_FACTOR = 2
"""The challenger may settle the dispute too: a challenge is priced at twice its own gas."""
MAX_PER_STEP = 1_000


class PayingSender(Protocol):
    """A sender whose calls may carry value (a challenge's bond)."""

    @property
    def address(self) -> ChecksumAddress: ...

    @property
    def gas_price(self) -> int: ...

    def estimate_gas(self, to: str, data: bytes, *, value: int = ...) -> int: ...
    def sign(self, to: str, data: bytes, gas: int, kind: str, *, value: int = ...) -> Signed: ...
    def broadcast(self, signed: Any) -> list[RpcError | None]: ...


class WatchJournal(Protocol):
    @property
    def txs(self) -> TxStore: ...

    @property
    def checks(self) -> Checks: ...

    @property
    def scans(self) -> ScanCursors: ...

    def transaction(self) -> AbstractContextManager[None]: ...
    def job(self, request_id: int) -> Job | None: ...
    def cursor(self) -> Cursor | None: ...


class HubStatus(Protocol):
    def statuses_of(self, request_ids: Any) -> dict[int, Status]: ...
    def block_number(self) -> int: ...


def scan_range(store: WatchJournal, hub: HubStatus, name: str, lookback: int) -> range:
    """The blocks a named log scan reads next: after its journalled position (at the first start, `lookback` blocks
    back), up to the block the ingest stage has journalled (so every request it meets is in the journal)."""
    cursor = store.cursor()
    if cursor is None:
        return range(0)
    end = cursor.block_number
    last = store.scans.get(name)
    start = last + 1 if last is not None else max(end - lookback, 0)
    return range(start, end + 1)


class Watchtower:
    """See the module docstring."""

    def __init__(
        self,
        store: WatchJournal,
        sender: PayingSender,
        hub: HubStatus,
        reader: DisputeReader,
        reexec: Reexecution,
        metrics: NodeMetrics,
        log: Any,
        *,
        models: Collection[bytes],
        max_bond_wei: int,
        lookback: int = 256,
        poll_s: float = POLL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.sender = sender
        self.hub = hub
        self.reader = reader
        self.reexec = reexec
        self.metrics = metrics
        self.log = log
        self.models = {bytes(m) for m in models}
        self.max_bond_wei = max_bond_wei
        self.lookback = lookback
        self.poll_s = poll_s
        self._monotonic = monotonic
        self._polled = float("-inf")

    def step(self) -> int:
        """Scans, re-executes and challenges what is due; returns how many transactions went out."""
        if self._monotonic() - self._polled < self.poll_s:
            return 0
        self._polled = self._monotonic()
        self._scan()
        self._compare()
        signed = self._challenges()
        broadcast(self.sender, signed, self.metrics, self.log)
        return len(signed)

    def _scan(self) -> None:
        blocks = scan_range(self.store, self.hub, SCAN, self.lookback)
        if not blocks:
            return
        me = self.sender.address.lower()
        found = []
        for event in self.reader.results_between(blocks.start, blocks.stop - 1):
            if event.node.lower() == me:
                continue
            job = self.store.job(event.request_id)
            if job is None:
                continue  # not journalled (pruned, or from before this node watched): its input is not at hand
            params = params_of(job)
            if params.mode != Mode.SINGLE or params.model_id not in self.models:
                continue
            found.append((event.request_id, event.node, event.env_hash, event.output, event.block_number))
        with self.store.transaction():
            self.store.checks.add_many(found)
            self.store.scans.set(SCAN, blocks.stop - 1)

    def _compare(self) -> None:
        pending = self.store.checks.in_state("pending", limit=MAX_PER_STEP)
        jobs = {c.request_id: job for c in pending if (job := self.store.job(c.request_id)) is not None}
        for check in pending:
            if check.request_id not in jobs:
                self.store.checks.settle(check.request_id, "declined", note="the request left the journal")
        outputs = self.reexec.outputs(list(jobs.values()))
        checks = {c.request_id: c for c in pending}
        with self.store.transaction():
            for rid, out in outputs.items():
                if isinstance(out, ModelError):
                    self.store.checks.settle(rid, "declined", note=f"not re-executed: {out}")
                    continue
                verdict = "agreed" if out == checks[rid].output else "mismatch"
                self.store.checks.settle(rid, verdict, expected=out)
                self.metrics.results_checked.labels(verdict).inc()
        for rid, out in outputs.items():
            if not isinstance(out, ModelError) and out != checks[rid].output:
                self.log.warning("wrong result found", request_id=rid, node=checks[rid].node)

    def _challenges(self) -> list[Signed]:
        out: list[Signed] = []
        mismatches = self.store.checks.in_state("mismatch", limit=MAX_PER_STEP)
        if not mismatches:
            return out
        statuses = self.hub.statuses_of([c.request_id for c in mismatches])
        for check in mismatches:
            job = self.store.job(check.request_id)
            status = statuses[check.request_id]
            if job is None or status != Status.FULFILLED:
                why = "the request left the journal" if job is None else f"the request is {status.name} on chain"
                self._decline(check.request_id, why)
                continue
            params = params_of(job)
            draw = lottery.Lottery.unpack(params.lottery)
            slashed = self.reader.stake_of(check.node, params.model_id) * draw.slash_bps // 10_000
            reward = (slashed - min(params.fee, slashed)) // 2
            bond = self.reader.bond_for(params.fee)
            if bond > self.max_bond_wei:
                self._decline(check.request_id, f"bond {bond} wei is above watch.max_bond_wei {self.max_bond_wei}")
                continue
            data = self.reader.challenge_data(check.request_id, params, check.output, check.env_hash, check.node)
            try:
                gas = self.sender.estimate_gas(self.reader.address, data, value=bond)
            except ContractRevert as exc:
                self._decline(check.request_id, f"the challenge would revert: {exc}")
                continue
            cost = RESOLVE_GAS_FACTOR * gas * self.sender.gas_price
            if reward <= cost:
                self._decline(check.request_id, f"reward {reward} wei does not cover {cost} wei of gas")
                continue
            tx = self.sender.sign(self.reader.address, data, gas, "challenge", value=bond)
            with self.store.transaction():
                self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
                self.store.checks.settle(check.request_id, "challenged", tx_hash=tx.hash)
            self.log.warning(
                "challenging a wrong result", request_id=check.request_id, node=check.node, bond=bond, reward=reward
            )
            out.append(tx)
        return out

    def _decline(self, request_id: int, why: str) -> None:
        self.store.checks.settle(request_id, "declined", note=why)
        self.log.info("wrong result not challenged", request_id=request_id, reason=why)
