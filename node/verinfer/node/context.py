"""What every stage of the node shares: the chain bindings, the journal, the transaction manager, the models, the
metrics and the logger, plus the decoding of a journalled job back into the request the hub hashed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress

from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.system import System
from verinfer.chain.tx import rpc
from verinfer.errors import ChainError, ContractRevert, ModelError
from verinfer.node.calldata import HubCalldata
from verinfer.node.compute import ModelCatalog
from verinfer.node.journal import Job, Journal, JournalError
from verinfer.node.metrics import NodeMetrics
from verinfer.node.profile import Stopwatch
from verinfer.node.prover import ProvingPool
from verinfer.node.txmanager import TxManager
from verinfer.sdk.client import read_model
from verinfer.types import Eligibility, Mode, ModelId, ModelSpec, ModelTerms, RequestId, RequestParams, checksum

ELIGIBILITY_TTL_S = 10.0


def request_of(job: Job) -> InferenceRequested:
    """A job's request, from the eight static ABI words `watcher.event_params` journalled (sliced directly: this
    runs per job) and the job's input and block."""
    p = job.params
    if len(p) != 8 * 32:
        raise JournalError(f"job {job.request_id}: params are {len(p)} bytes, expected 256")
    word = [int.from_bytes(p[i : i + 32], "big") for i in range(0, 256, 32)]
    return InferenceRequested(
        RequestId(word[0]),
        ModelId(p[32:64]),
        checksum(p[76:96]),
        word[3],
        word[4],
        word[5],
        Mode(word[6]),
        word[7],
        job.input,
        job.block_number,
    )


@dataclass
class NodeContext:
    """The node's shared state. One scheduler thread uses it (the journal is single-threaded)."""

    system: System
    journal: Journal
    txm: TxManager
    catalog: ModelCatalog
    metrics: NodeMetrics
    log: Any  # a structlog BoundLogger
    env_hash: bytes
    confirmations: int
    max_batch_items: int
    max_batch_gas: int
    min_fee_wei: int
    policy_gas_per_result: int
    modes: tuple[Mode, ...]
    stuck_after_s: float = 30.0
    max_attempts: int = 3
    calldata: HubCalldata = field(default_factory=HubCalldata)
    prover: ProvingPool | None = None
    """ZK proving workers (None unless the node serves ZK)."""
    stopwatch: Stopwatch = field(default_factory=Stopwatch)
    finalize_sent: dict[int, float] = field(default_factory=dict)
    """request id => when (monotonic) this node last sent or declined its finalizeConsensus"""
    _terms: dict[bytes, ModelTerms] = field(default_factory=dict)
    _codecs: dict[str, EventCodec] = field(default_factory=dict)
    _eligibility: dict[bytes, tuple[float, str | None]] = field(default_factory=dict)

    @property
    def address(self) -> ChecksumAddress:
        return self.txm.address

    @property
    def hub(self) -> ChecksumAddress:
        return self.system.hub.address

    def terms(self, model_id: bytes) -> ModelTerms:
        """The hub's copy of the model's terms (output size and env restriction never change; cached)."""
        terms = self._terms.get(model_id)
        if terms is None:
            terms = self.system.terms_of(model_id)
            if terms.exists:
                self._terms[model_id] = terms
        return terms

    def params(self, job: Job) -> RequestParams:
        request = request_of(job)
        return request.params(self.terms(request.model_id))

    def spec(self, model_id: bytes) -> ModelSpec:
        """The model's registered spec; an unknown model is a `ModelError` (the job fails, the node goes on)."""
        try:
            return read_model(self.system, model_id)
        except ContractRevert as exc:
            raise ModelError(f"model 0x{model_id.hex()} cannot be read from the registry: {exc}") from exc

    def codec(self, event: str) -> EventCodec:
        codec = self._codecs.get(event)
        if codec is None:
            codec = self._codecs[event] = EventCodec.from_abi(self.system.hub.abi, event)
        return codec

    def own_event_tx(self, event: str, job: Job) -> bytes | None:
        """The transaction of this node's latest `event` (indexed by request id, then node) for the job's request,
        from the request's block on; None if there is none. For the rare paths that must learn what the chain
        already holds from this node (after a reorg re-mined an earlier transaction)."""
        query: Any = {
            "address": self.hub,
            "fromBlock": job.block_number,
            "toBlock": "latest",
            "topics": [
                "0x" + self.codec(event).topic.hex(),
                "0x" + job.request_id.to_bytes(32, "big").hex(),
                "0x" + bytes(12).hex() + self.address[2:].lower(),
            ],
        }
        logs = rpc(lambda: self.system.sender.w3.eth.get_logs(query), f"eth_getLogs {event}")
        return bytes(logs[-1]["transactionHash"]) if logs else None

    def chain_time(self) -> int:
        """The latest block's timestamp (read with the fees, once per new block): deadlines and reveal windows are
        judged by it, not by the wall clock."""
        if self.txm.latest_timestamp is None:
            self.txm.refresh_fees()
        if self.txm.latest_timestamp is None:
            raise ChainError("the latest block has no timestamp")
        return self.txm.latest_timestamp

    def eligible(self, model_id: bytes) -> str | None:
        """None if this node may serve `model_id` now, else why not (cached for ELIGIBILITY_TTL_S)."""
        cached = self._eligibility.get(model_id)
        if cached is not None and time.monotonic() - cached[0] < ELIGIBILITY_TTL_S:
            return cached[1]
        status, _env = self.system.sender.call(self.system.nodes.functions.eligibility(self.address, model_id))
        eligibility = Eligibility(status)
        reason = None if eligibility == Eligibility.ELIGIBLE else f"node registry says {eligibility.name}"
        self._eligibility[model_id] = (time.monotonic(), reason)
        return reason
