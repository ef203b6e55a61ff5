"""Decodes raw logs (as eth_getLogs returns them) with eth_abi, from the event entries of the build output's ABIs.

The node reads `InferenceRequested` and rebuilds the request's `RequestParams` from it and the model's terms, so it
never has to call back for data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

from verinfer.chain.abi import AbiParam, abi_type, find_entry, is_dynamic, param_names, python_value, signature, topic
from verinfer.chain.artifacts import Abi
from verinfer.errors import ChainError
from verinfer.types import Mode, ModelId, ModelTerms, RequestId, RequestParams, checksum

_checksum = lru_cache(maxsize=4_096)(checksum)
"""`checksum` of the raw 20 bytes: a keccak each, and a node's logs name the same few requesters again and again."""


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    raise ChainError(f"expected hex or bytes in a log, got {value!r}")


@dataclass(frozen=True)
class DecodedLog:
    """One log decoded against its event's ABI entry."""

    event: str
    args: Mapping[str, Any]
    address: ChecksumAddress
    block_number: int
    transaction_hash: bytes
    log_index: int


class EventCodec:
    """Decodes the logs of one event (matched by topic0; anonymous events are not supported)."""

    def __init__(self, entry: AbiParam) -> None:
        if entry.get("type") != "event" or entry.get("anonymous"):
            raise ValueError(f"not a named, non-anonymous event: {entry.get('name')!r}")
        self.name = str(entry["name"])
        self.signature = signature(entry)
        self.topic = topic(entry)
        self._inputs: tuple[AbiParam, ...] = tuple(entry["inputs"])
        self._names = param_names(self._inputs)

    @classmethod
    def from_abi(cls, abi: Abi, name: str) -> EventCodec:
        return cls(find_entry(abi, "event", name))

    def matches(self, log: Mapping[str, Any]) -> bool:
        topics = log.get("topics") or []
        return bool(topics) and _bytes(topics[0]) == self.topic

    def decode(self, log: Mapping[str, Any]) -> DecodedLog:
        """Decodes a raw log; indexed dynamic values (hashed into their topic) come back as the 32-byte hash."""
        topics = [_bytes(t) for t in log.get("topics") or []]
        if not topics or topics[0] != self.topic:
            raise ChainError(f"log is not a {self.signature} event")
        indexed = [p for p in self._inputs if p.get("indexed")]
        plain = [p for p in self._inputs if not p.get("indexed")]
        if len(topics) != 1 + len(indexed):
            raise ChainError(f"{self.name} log has {len(topics) - 1} indexed topics, the ABI says {len(indexed)}")
        try:
            plain_values = iter(abi_decode([abi_type(p) for p in plain], _bytes(log.get("data", b""))))
            topic_values = iter(topics[1:])
            args: dict[str, Any] = {}
            for name, param in zip(self._names, self._inputs, strict=True):
                if not param.get("indexed"):
                    args[name] = python_value(param, next(plain_values))
                elif is_dynamic(abi_type(param)):
                    args[name] = next(topic_values)
                else:
                    (value,) = abi_decode([abi_type(param)], next(topic_values))
                    args[name] = python_value(param, value)
        except (DecodingError, ValueError, OverflowError) as exc:
            raise ChainError(f"cannot decode a {self.name} log: {exc}") from exc
        return DecodedLog(
            event=self.name,
            args=args,
            address=checksum(log["address"]),
            block_number=_int(log.get("blockNumber")),
            transaction_hash=_bytes(log.get("transactionHash") or b""),
            log_index=_int(log.get("logIndex")),
        )

    def decode_all(self, logs: Sequence[Mapping[str, Any]]) -> list[DecodedLog]:
        """Decodes the logs of this event among `logs`, skipping the others."""
        return [self.decode(log) for log in logs if self.matches(log)]


def _int(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, str):
        return int(value, 16)
    return int(value)


@dataclass(frozen=True)
class InferenceRequested:
    """An `InferenceRequested` event: everything a node needs to serve the request."""

    request_id: RequestId
    model_id: ModelId
    requester: ChecksumAddress
    fee: int
    deadline: int
    callback_gas_limit: int
    mode: Mode
    redundancy: int
    lottery: int
    input: bytes
    block_number: int

    @classmethod
    def from_log(cls, log: DecodedLog) -> InferenceRequested:
        a = log.args
        return cls(
            request_id=RequestId(int(a["requestId"])),
            model_id=ModelId(bytes(a["modelId"])),
            requester=checksum(a["requester"]),
            fee=int(a["fee"]),
            deadline=int(a["deadline"]),
            callback_gas_limit=int(a["callbackGasLimit"]),
            mode=Mode(a["mode"]),
            redundancy=int(a["redundancy"]),
            lottery=int(a["lottery"]),
            input=bytes(a["input"]),
            block_number=log.block_number,
        )

    @classmethod
    def from_raw_log(cls, log: Mapping[str, Any]) -> InferenceRequested:
        """The same as `from_log(codec.decode(log))`, read straight from the ABI layout (topics: id, model,
        requester; data: fee, deadline, callbackGasLimit, mode, redundancy, lottery, input): the node decodes thousands
        of these per second, and the generic ABI decoder costs ~0.3 ms each. A differential test pins the two
        together."""
        topics = [_bytes(t) for t in log.get("topics") or []]
        data = _bytes(log.get("data", b""))
        if len(topics) != 4 or len(data) < 8 * 32:
            raise ChainError(f"InferenceRequested log has {len(topics)} topics and {len(data)} data bytes")
        words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 7 * 32, 32)]
        fee, deadline, callback_gas, mode, redundancy, lottery, offset = words
        if offset + 32 > len(data):
            raise ChainError(f"InferenceRequested log: input offset {offset} is past the data ({len(data)} bytes)")
        length = int.from_bytes(data[offset : offset + 32], "big")
        if offset + 32 + length > len(data) or deadline >= 2**64 or callback_gas >= 2**32 or redundancy > 255:
            raise ChainError("InferenceRequested log: malformed data")
        try:
            mode_value = Mode(mode)
        except ValueError:
            raise ChainError(f"InferenceRequested log: unknown mode {mode}") from None
        return cls(
            request_id=RequestId(int.from_bytes(topics[1], "big")),
            model_id=ModelId(topics[2]),
            requester=_checksum(topics[3][12:]),
            fee=fee,
            deadline=deadline,
            callback_gas_limit=callback_gas,
            mode=mode_value,
            redundancy=redundancy,
            lottery=lottery,
            input=data[offset + 32 : offset + 32 + length],
            block_number=_int(log.get("blockNumber")),
        )

    def params(self, terms: ModelTerms) -> RequestParams:
        """The request's parameters as the hub hashed them; `terms` are the model's (`hub.modelTermsOf`)."""
        return RequestParams(
            model_id=self.model_id,
            input_hash=keccak(self.input),
            requester=self.requester,
            fee=self.fee,
            deadline=self.deadline,
            callback_gas_limit=self.callback_gas_limit,
            output_bytes=terms.output_bytes,
            mode=self.mode,
            redundancy=self.redundancy,
            env_restricted=terms.env_restricted,
            lottery=self.lottery,
        )
