"""The chain reads the stages make, behind the `HubReader` and `Clock` ports: the hub's rounds and statuses, the node
registry's eligibility (cached briefly), this node's own events, and the chain's time.

Every read goes through the node's `JsonRpc` client (eth_call encoded and decoded here with the contracts' ABIs), so
it shares that client's timeouts, capped retries and error model: a hostile or flaky RPC answer is a `ChainError`,
never a crash."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak
from web3.contract.contract import ContractFunction

from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.system import System
from verinfer.chain.txmanager import TxManager
from verinfer.errors import ChainError
from verinfer.node.ports import Round
from verinfer.types import Eligibility, ModelTerms, Status

ELIGIBILITY_TTL_S = 10.0
STATUS_BATCH = 100  # eth_calls per batch POST (providers cap batch sizes)
_STATUS_OF = bytes(keccak(text="statusOf(uint256)"))[:4]


class HubView:
    """`HubReader` over the bound contracts (`System`) and the node's JSON-RPC client."""

    def __init__(
        self,
        system: System,
        client: JsonRpc,
        address: ChecksumAddress,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_log_range: int = 2_000,
    ) -> None:
        self.system = system
        self.client = client
        self.address = address
        self.max_log_range = max_log_range
        """Blocks per eth_getLogs (hosted providers cap ranges): config `max_log_range`."""
        self._clock = clock
        self._codecs: dict[str, EventCodec] = {}
        self._eligibility: dict[bytes, tuple[float, str | None]] = {}

    def call(self, fn: ContractFunction) -> Any:
        """eth_call of `fn` (a bound contract function) from this node's address, decoded: a single output as
        itself, several as a tuple. A revert raises its named `ContractRevert` (the client's decoder)."""
        data = fn._encode_transaction_data()
        raw = self.client.call("eth_call", {"from": self.address, "to": fn.address, "data": data}, "latest")
        if not isinstance(raw, str) or not raw.startswith("0x"):
            raise ChainError(f"eth_call of {fn.fn_name} answered {str(raw)[:80]!r}, not hex data")
        types = [collapse_if_tuple(dict(output)) for output in fn.abi.get("outputs", [])]
        try:
            values = abi_decode(types, bytes.fromhex(raw[2:]))
        except Exception as exc:
            raise ChainError(f"eth_call of {fn.fn_name} answered data that does not decode as {types}: {exc}") from exc
        return values[0] if len(values) == 1 else tuple(values)

    def terms_of(self, model_id: bytes) -> ModelTerms:
        return ModelTerms.from_abi(self.call(self.system.hub.functions.modelTermsOf(model_id)))

    def status_of(self, request_id: int) -> Status:
        return Status(self.call(self.system.hub.functions.statusOf(request_id)))

    def statuses_of(self, request_ids: Sequence[int]) -> dict[int, Status]:
        """`status_of` for many requests, in batch POSTs of STATUS_BATCH calls."""
        if not request_ids:
            return {}
        hub = self.system.hub.address
        found: dict[int, Status] = {}
        ids = list(request_ids)
        for start in range(0, len(ids), STATUS_BATCH):
            chunk = ids[start : start + STATUS_BATCH]
            calls = [
                [
                    {"from": self.address, "to": hub, "data": "0x" + (_STATUS_OF + rid.to_bytes(32, "big")).hex()},
                    "latest",
                ]
                for rid in chunk
            ]
            for rid, answer in zip(chunk, self.client.batch("eth_call", calls), strict=True):
                if isinstance(answer, ChainError):
                    raise ChainError(f"statusOf({rid}) failed: {answer}") from answer
                if not isinstance(answer, str) or not answer.startswith("0x") or len(answer) != 66:
                    raise ChainError(f"statusOf({rid}) answered {str(answer)[:80]!r}, not one word")
                found[rid] = Status(int(answer, 16))
        return found

    def round_of(self, request_id: int) -> Round:
        view: Any = self.call(self.system.hub.functions.roundOf(request_id))
        return Round(int(view[0]), int(view[1]), int(view[2]), bytes(view[3]))

    def model_count(self) -> int:
        return int(self.call(self.system.models.functions.modelCount()))

    def model_id_at(self, index: int) -> bytes:
        return bytes(self.call(self.system.models.functions.modelIdAt(index)))

    def eligibility(self, model_id: bytes) -> Eligibility:
        """This node's eligibility for `model_id` now (uncached)."""
        status, _env = self.call(self.system.nodes.functions.eligibility(self.address, model_id))
        return Eligibility(status)

    def set_models_calldata(self, model_ids: Sequence[bytes], serving: bool) -> tuple[str, bytes]:
        """(to, data) of the node registry's `setModels(model_ids, serving)`."""
        fn = self.system.nodes.functions.setModels([bytes(m) for m in model_ids], serving)
        return str(self.system.nodes.address), bytes.fromhex(fn._encode_transaction_data()[2:])

    def forget_eligibility(self, model_ids: Sequence[bytes]) -> None:
        for model_id in model_ids:
            self._eligibility.pop(bytes(model_id), None)

    def eligible(self, model_id: bytes) -> str | None:
        """None if this node may serve `model_id` now, else why not (cached for ELIGIBILITY_TTL_S)."""
        cached = self._eligibility.get(model_id)
        if cached is not None and self._clock() - cached[0] < ELIGIBILITY_TTL_S:
            return cached[1]
        status, _env = self.call(self.system.nodes.functions.eligibility(self.address, model_id))
        eligibility = Eligibility(status)
        reason = None if eligibility == Eligibility.ELIGIBLE else f"node registry says {eligibility.name}"
        self._eligibility[model_id] = (self._clock(), reason)
        return reason

    def own_event_tx(self, event: str, request_id: int, from_block: int) -> bytes | None:
        """The transaction of this node's latest `event` (indexed by request id, then node) for the request, from
        `from_block` on; None if there is none. For the rare paths that must learn what the chain already holds
        from this node (after a reorg re-mined an earlier transaction)."""
        codec = self._codecs.get(event)
        if codec is None:
            codec = self._codecs[event] = EventCodec.from_abi(self.system.hub.abi, event)
        topics = [
            "0x" + codec.topic.hex(),
            "0x" + request_id.to_bytes(32, "big").hex(),
            "0x" + bytes(12).hex() + self.address[2:].lower(),
        ]
        head = self.client.block_number()
        found: bytes | None = None
        for start in range(from_block, head + 1, self.max_log_range):  # chunked: providers cap a query's range
            logs = self.client.logs(
                {
                    "address": self.system.hub.address,
                    "fromBlock": hex(start),
                    "toBlock": hex(min(start + self.max_log_range - 1, head)),
                    "topics": topics,
                }
            )
            if logs:
                found = bytes.fromhex(str(logs[-1]["transactionHash"])[2:])
        return found


class ChainClock:
    """`Clock` from the latest block the transaction manager read with the fees (once per new block), moved on by the
    wall-clock time elapsed since that read: on a chain without empty blocks the latest timestamp freezes while
    time goes on (finalization and expiry would wait for someone else's transaction)."""

    def __init__(self, txm: TxManager, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._txm = txm
        self._monotonic = monotonic

    def chain_time(self) -> int:
        if self._txm.latest_timestamp is None:
            self._txm.refresh_fees()
        if self._txm.latest_timestamp is None or self._txm.latest_read_at is None:
            raise ChainError("the latest block has no timestamp")
        return self._txm.latest_timestamp + int(max(self._monotonic() - self._txm.latest_read_at, 0.0))
