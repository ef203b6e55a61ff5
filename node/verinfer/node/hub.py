"""The chain reads the stages make, behind the `HubReader` and `Clock` ports: the hub's rounds and statuses, the node
registry's eligibility (cached briefly), this node's own events, and the chain's time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress

from verinfer.chain import lottery
from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.system import System
from verinfer.chain.txmanager import TxManager
from verinfer.errors import ChainError
from verinfer.node.ports import Round
from verinfer.types import Eligibility, ModelTerms, RequestParams, Status

ELIGIBILITY_TTL_S = 10.0


class HubView:
    """`HubReader` over the bound contracts (`System`) and the node's JSON-RPC client."""

    def __init__(
        self,
        system: System,
        client: JsonRpc,
        address: ChecksumAddress,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system = system
        self.client = client
        self.address = address
        self._clock = clock
        self._codecs: dict[str, EventCodec] = {}
        self._eligibility: dict[bytes, tuple[float, str | None]] = {}
        self._standing: dict[bytes, tuple[float, int, int]] = {}

    def terms_of(self, model_id: bytes) -> ModelTerms:
        return self.system.terms_of(model_id)

    def status_of(self, request_id: int) -> Status:
        return self.system.status_of(request_id)

    def round_of(self, request_id: int) -> Round:
        view: Any = self.system.sender.call(self.system.hub.functions.roundOf(request_id))
        return Round(int(view[0]), int(view[1]), int(view[2]), bytes(view[3]))

    def eligible(self, model_id: bytes) -> str | None:
        """None if this node may serve `model_id` now, else why not (cached for ELIGIBILITY_TTL_S)."""
        cached = self._eligibility.get(model_id)
        if cached is not None and self._clock() - cached[0] < ELIGIBILITY_TTL_S:
            return cached[1]
        status, _env = self.system.sender.call(self.system.nodes.functions.eligibility(self.address, model_id))
        eligibility = Eligibility(status)
        reason = None if eligibility == Eligibility.ELIGIBLE else f"node registry says {eligibility.name}"
        self._eligibility[model_id] = (self._clock(), reason)
        return reason

    def seats_open(self, request_id: int, params: RequestParams, now: int) -> int | None:
        """The seats whose window is open for this node at `now` (`verinfer.chain.lottery`, the hub's rule), from
        its stake and ticket time in the registry (cached for ELIGIBILITY_TTL_S); None without a ticket."""
        cached = self._standing.get(params.model_id)
        if cached is None or self._clock() - cached[0] >= ELIGIBILITY_TTL_S:
            standing: Any = self.system.sender.call(self.system.nodes.functions.standing(self.address, params.model_id))
            cached = (self._clock(), int(standing[2]), int(standing[3]))
            self._standing[params.model_id] = cached
        _, stake, since = cached
        draw = lottery.Lottery.unpack(params.lottery)
        if stake == 0 or since >= draw.requested_at:
            return None
        mask = 0
        for seat in range(max(params.redundancy, 1)):
            if lottery.opens_at(draw, request_id, self.address, seat, stake) <= now:
                mask |= 1 << seat
        return mask

    def own_event_tx(self, event: str, request_id: int, from_block: int) -> bytes | None:
        """The transaction of this node's latest `event` (indexed by request id, then node) for the request, from
        `from_block` on; None if there is none. For the rare paths that must learn what the chain already holds
        from this node (after a reorg re-mined an earlier transaction)."""
        codec = self._codecs.get(event)
        if codec is None:
            codec = self._codecs[event] = EventCodec.from_abi(self.system.hub.abi, event)
        logs = self.client.logs(
            {
                "address": self.system.hub.address,
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": [
                    "0x" + codec.topic.hex(),
                    "0x" + request_id.to_bytes(32, "big").hex(),
                    "0x" + bytes(12).hex() + self.address[2:].lower(),
                ],
            }
        )
        return bytes.fromhex(str(logs[-1]["transactionHash"])[2:]) if logs else None


class ChainClock:
    """`Clock` from the latest block the transaction manager read with the fees (once per new block)."""

    def __init__(self, txm: TxManager) -> None:
        self._txm = txm

    def chain_time(self) -> int:
        if self._txm.latest_timestamp is None:
            self._txm.refresh_fees()
        if self._txm.latest_timestamp is None:
            raise ChainError("the latest block has no timestamp")
        return self._txm.latest_timestamp
