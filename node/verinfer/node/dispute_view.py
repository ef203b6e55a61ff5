"""The chain reads and calldata of the watch stages: other nodes' results (`ResultSubmitted`), disputes
(`DisputeOpened`, `disputeOf`, `voteOf`, `majorityOf`, `bondFor`) and the dispute contract's functions, all through
the node's `HubView` (one JSON-RPC client: its timeouts, capped retries and error model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from web3.contract import Contract

from verinfer.chain.disputes import Dispute as Dispute  # re-exported (one decoder, in the chain layer)
from verinfer.chain.events import DecodedLog, EventCodec
from verinfer.errors import ConfigError
from verinfer.node.hub import HubView
from verinfer.types import DisputeState, RequestParams, checksum

OPEN = DisputeState.OPEN
"""The states after it are UPHELD, OVERTURNED and VOID."""


@dataclass(frozen=True)
class ResultEvent:
    """A `ResultSubmitted`: who recorded what for a request."""

    request_id: int
    node: ChecksumAddress
    env_hash: bytes
    output: bytes
    block_number: int


@dataclass(frozen=True)
class DisputeOpened:
    request_id: int
    challenger: ChecksumAddress
    node: ChecksumAddress
    bond: int
    output_hash: bytes
    lottery: int
    block_number: int


@dataclass(frozen=True)
class MemberVote:
    commit_hash: bytes
    output_hash: bytes
    seats: int
    revealed: bool
    round: int = 0


class DisputeReader:
    """The dispute contract and the hub's result events, read through the node's `HubView`."""

    def __init__(self, hub: HubView) -> None:
        disputes = hub.system.disputes
        if disputes is None:
            raise ConfigError(
                "the deployment has no Disputes contract: watchtower and committee duty need one "
                "(redeploy with `verinfer deploy`, or set watchtower = false and committee = false)"
            )
        self.hub = hub
        self.contract: Contract = disputes
        self.address = str(disputes.address)
        self._results = EventCodec.from_abi(hub.system.hub.abi, "ResultSubmitted")
        self._opened = EventCodec.from_abi(disputes.abi, "DisputeOpened")
        self._revealed = EventCodec.from_abi(disputes.abi, "DisputeRevealed")

    # ------------------------------------------------------------------------------------------------- logs

    def _logs(
        self, address: str, codec: EventCodec, topics: list[str | None], start: int, end: int
    ) -> list[DecodedLog]:
        found: list[Any] = []
        step = self.hub.max_log_range
        for first in range(start, end + 1, step):
            found.extend(
                self.hub.client.logs(
                    {
                        "address": address,
                        "fromBlock": hex(first),
                        "toBlock": hex(min(first + step - 1, end)),
                        "topics": ["0x" + codec.topic.hex(), *topics],
                    }
                )
            )
        return codec.decode_all(found)

    def results_between(self, start: int, end: int) -> list[ResultEvent]:
        """Every `ResultSubmitted` in blocks `start`..`end`."""
        return [
            ResultEvent(
                int(log.args["requestId"]),
                checksum(log.args["node"]),
                bytes(log.args["envHash"]),
                bytes(log.args["output"]),
                log.block_number,
            )
            for log in self._logs(str(self.hub.system.hub.address), self._results, [], start, end)
        ]

    def submitted_output(self, request_id: int, start: int) -> bytes | None:
        """The output recorded for the request by `ResultSubmitted` from block `start` on (the latest)."""
        logs = self._logs(
            str(self.hub.system.hub.address), self._results, [_word(request_id)], start, self.hub.block_number()
        )
        return bytes(logs[-1].args["output"]) if logs else None

    def opened_between(self, start: int, end: int) -> list[DisputeOpened]:
        """Every `DisputeOpened` in blocks `start`..`end`."""
        return [
            DisputeOpened(
                int(log.args["requestId"]),
                checksum(log.args["challenger"]),
                checksum(log.args["node"]),
                int(log.args["bond"]),
                bytes(log.args["outputHash"]),
                int(log.args["lottery"]),
                log.block_number,
            )
            for log in self._logs(self.address, self._opened, [], start, end)
        ]

    def revealed_outputs(self, request_id: int, start: int) -> dict[bytes, bytes]:
        """output hash => output, of the dispute's reveals from block `start` on."""
        logs = self._logs(self.address, self._revealed, [_word(request_id)], start, self.hub.block_number())
        return {bytes(log.args["outputHash"]): bytes(log.args["output"]) for log in logs}

    # ------------------------------------------------------------------------------------------------ views

    def dispute_of(self, request_id: int) -> Dispute:
        return Dispute.from_abi(request_id, self.hub.call(self.contract.functions.disputeOf(request_id)))

    def vote_of(self, request_id: int, member: str) -> MemberVote:
        v: Any = self.hub.call(self.contract.functions.voteOf(request_id, member))
        return MemberVote(bytes(v[0]), bytes(v[1]), int(v[3]), bool(v[4]), int(v[5]))

    def majority_of(self, request_id: int) -> bytes:
        """The output hash a strict majority of the current committee's seats revealed so far (zero without one)."""
        return bytes(self.hub.call(self.contract.functions.majorityOf(request_id)))

    def bond_for(self, fee: int) -> int:
        return int(self.hub.call(self.contract.functions.bondFor(fee)))

    def stake_of(self, node: str, model_id: bytes) -> int:
        """`node`'s stake behind `model_id` now (the node registry's standing)."""
        standing: Any = self.hub.call(self.hub.system.nodes.functions.standing(node, model_id))
        return int(standing[2])

    # --------------------------------------------------------------------------------------------- calldata

    def challenge_data(
        self, request_id: int, params: RequestParams, output: bytes, env_hash: bytes, node: str
    ) -> bytes:
        return _data(self.contract.functions.challenge(request_id, params.as_abi(), output, env_hash, node))

    def commit_data(self, request_id: int, commit_hash: bytes, seats: int) -> bytes:
        return _data(self.contract.functions.commit(request_id, commit_hash, seats))

    def reveal_data(self, request_id: int, output: bytes, salt: bytes) -> bytes:
        return _data(self.contract.functions.reveal(request_id, output, salt))

    def resolve_data(self, request_id: int, params: RequestParams, output: bytes) -> bytes:
        return _data(self.contract.functions.resolve(request_id, params.as_abi(), output))


def _data(fn: Any) -> bytes:
    return bytes.fromhex(str(fn._encode_transaction_data())[2:])


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()
