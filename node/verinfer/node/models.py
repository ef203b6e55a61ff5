"""The live model set: the node follows the model registry while it runs. Every `refresh_s` it reads the models
registered since its last look and the terms of those it serves; a new model that matches the policy (`all`, or a
list of ids; the node's modes; a minimum price) is declared served with `setModels(ids, true)`, a deprecated one
withdrawn with `setModels(ids, false)`, without a restart. The registry transaction goes through the node's nonce
manager like every other (signed, journalled with kind "registry", broadcast; the tracker follows it until mined).

While the declaration is on its way, requests for the model wait (`waiting_for`) instead of being skipped as "not
eligible".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from verinfer.chain.txmanager import Signed
from verinfer.errors import ChainError, ContractRevert
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Sender, TxStore
from verinfer.node.submit import broadcast
from verinfer.types import Eligibility, Mode, ModelTerms

REFRESH_S = 30.0


class ServingRules(Protocol):
    """The entry's rules on who may declare a model (`ModelRegistry.riskOf`, `arithmeticClassesOf`)."""

    def stake_at_risk_of(self, model_id: bytes) -> int: ...
    def arithmetic_classes_of(self, model_id: bytes) -> int: ...


def unservable(
    rules: ServingRules, model_id: bytes, stake: int, arithmetic_class: int
) -> tuple[str, dict[str, Any]] | None:
    """Why the node registry would refuse this node (with `stake`, stating `arithmetic_class`) declaring
    `model_id`, as a log message and its fields; None if it would not. One such model makes the registry refuse a
    whole `setModels`, so a publisher could otherwise keep a node from declaring the models registered beside its
    own: callers leave these out."""
    classes = rules.arithmetic_classes_of(model_id)
    if classes and not classes >> arithmetic_class & 1:
        fields: dict[str, Any] = {"arithmetic_class": arithmetic_class, "accepted": classes}
        return "not serving a model that does not accept this node's arithmetic class", fields
    at_risk = rules.stake_at_risk_of(model_id)
    if at_risk > stake:
        fields = {"stake_at_risk": at_risk, "stake": stake}
        return "not serving a model whose stake at risk exceeds this node's stake: add stake to serve it", fields
    return None


class RegistryReader(ServingRules, Protocol):
    """What the follower reads (HubView)."""

    def model_count(self) -> int: ...
    def model_id_at(self, index: int) -> bytes: ...
    def terms_of(self, model_id: bytes) -> ModelTerms: ...
    def eligibility(self, model_id: bytes) -> Eligibility: ...
    def own_stake(self) -> int: ...
    def set_models_calldata(self, model_ids: Sequence[bytes], serving: bool) -> tuple[str, bytes]: ...
    def forget_eligibility(self, model_ids: Sequence[bytes]) -> None: ...


class FollowerStore(Protocol):
    @property
    def txs(self) -> TxStore: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class ModelFollower:
    def __init__(
        self,
        reader: RegistryReader,
        store: FollowerStore,
        sender: Sender,
        metrics: NodeMetrics,
        log: Any,
        *,
        chosen: tuple[str, ...],
        modes: tuple[Mode, ...],
        min_price_wei: int = 0,
        served: Sequence[bytes] = (),
        refresh_s: float = REFRESH_S,
        arithmetic_class: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.store = store
        self.sender = sender
        self.metrics = metrics
        self.log = log
        self.chosen = chosen
        self.modes = modes
        self.min_price_wei = min_price_wei
        self.served: set[bytes] = {bytes(m) for m in served}
        self.refresh_s = refresh_s
        self.arithmetic_class = arithmetic_class
        self._monotonic = monotonic
        self._seen = 0  # registry entries looked at so far
        self._next = 0.0
        self.rejected: set[bytes] = set()
        """Models looked at and not wanted (policy, deprecated)."""
        self.pending: dict[bytes, bytes] = {}
        """model id => hash of the setModels transaction declaring it (until the registry says ELIGIBLE)."""

    def waiting_for(self, model_id: bytes) -> bool:
        """Whether requests for `model_id` should wait: this node is declaring it served right now, or has not
        judged it yet (registered since the last look: the next tick looks again at once)."""
        model_id = bytes(model_id)
        if model_id in self.pending:
            return True
        if model_id in self.served or model_id in self.rejected:
            return False
        self._next = 0.0
        return True

    def wanted(self, model_id: bytes, terms: ModelTerms) -> bool:
        if not terms.exists or terms.deprecated or terms.price < self.min_price_wei:
            return False
        if not any(terms.allows(mode) for mode in self.modes):
            return False
        return self.chosen == ("all",) or "0x" + bytes(model_id).hex() in self.chosen

    def step(self, *, force: bool = False) -> int:
        """One look at the registry if `refresh_s` passed (or `force`); returns how many transactions went out."""
        now = self._monotonic()
        if not force and now < self._next:
            return 0
        self._next = now + self.refresh_s
        for model_id in list(self.pending):
            if self.reader.eligibility(model_id) == Eligibility.ELIGIBLE:
                del self.pending[model_id]
                self.served.add(model_id)
                self.log.info("now serving a model registered after start", model="0x" + model_id.hex())
        count = self.reader.model_count()
        new: list[bytes] = []
        for index in range(self._seen, count):
            model_id = bytes(self.reader.model_id_at(index))
            if model_id in self.served or model_id in self.pending:
                continue
            if self.wanted(model_id, self.reader.terms_of(model_id)):
                new.append(model_id)
            else:
                self.rejected.add(model_id)
        self._seen = count
        gone = [m for m in sorted(self.served) if self.reader.terms_of(m).deprecated]
        self.rejected.update(gone)
        out: list[Signed] = []
        adding = [m for m in new if self.reader.eligibility(m) == Eligibility.MODEL_NOT_SERVED]
        self.served.update(m for m in new if m not in adding)
        adding = self._affordable(adding)
        for ids, serving in ((adding, True), (gone, False)):
            if not ids:
                continue
            tx = self._declare(ids, serving)
            if tx is None:
                continue
            out.append(tx)
            if serving:
                self.pending.update((m, tx.hash) for m in ids)
            else:
                self.served.difference_update(ids)
            self.reader.forget_eligibility(ids)
            self.log.info(
                "declaring models served" if serving else "withdrawing deprecated models",
                models=["0x" + m.hex() for m in ids],
                tx=tx.hash.hex(),
            )
        broadcast(self.sender, out, self.metrics, self.log)
        return len(out)

    def _affordable(self, ids: list[bytes]) -> list[bytes]:
        """Of `ids`, those the registry lets this node declare (`unservable`); the others are rejected with a
        warning."""
        if not ids:
            return ids
        stake = self.reader.own_stake()
        kept: list[bytes] = []
        for model_id in ids:
            refused = unservable(self.reader, model_id, stake, self.arithmetic_class)
            if refused is None:
                kept.append(model_id)
                continue
            self.rejected.add(model_id)
            message, fields = refused
            self.log.warning(message, model="0x" + model_id.hex(), **fields)
        return kept

    def _declare(self, ids: list[bytes], serving: bool) -> Signed | None:
        to, data = self.reader.set_models_calldata(ids, serving)
        try:
            gas = self.sender.estimate_gas(to, data)
        except ContractRevert as exc:
            self.log.warning("the node registry refuses setModels", serving=serving, error=str(exc))
            return None
        except ChainError:
            self._next = 0.0  # try again next tick
            raise
        tx = self.sender.sign(to, data, gas, "registry")
        with self.store.transaction():
            self.store.txs.record(tx.hash, tx.nonce, tx.kind, tx.raw)
        return tx
