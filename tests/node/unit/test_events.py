"""Decoding raw logs with eth_abi from the ABI's event entries (no web3 event machinery)."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from web3 import Web3

from verinfer.chain.abi import find_entry, topic
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.errors import ChainError
from verinfer.types import Mode, ModelTerms

# Reads the real build output: built once per session if missing.
pytestmark = pytest.mark.usefixtures("forge_build")

HUB = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
REQUESTER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MODEL = Web3.keccak(text="model")
INPUT = bytes(range(32))
LOTTERY = (2 << 136) | (6 * 10**9 << 72) | (1_699_999_000 << 32) | 0xC0FFEE


def raw_requested_log() -> dict[str, object]:
    """What eth_getLogs returns for an InferenceRequested event (hex strings, as on the wire)."""
    entry = find_entry(load_artifact("InferenceHub").abi, "event", "InferenceRequested")
    data = encode(
        ["uint256", "uint64", "uint32", "uint8", "uint8", "uint256", "bytes"],
        [10**16, 1_700_000_000, 120_000, 0, 1, LOTTERY, INPUT],
    )
    return {
        "address": HUB.lower(),
        "topics": [
            "0x" + topic(entry).hex(),
            "0x" + encode(["uint256"], [42]).hex(),
            "0x" + MODEL.hex(),
            "0x" + encode(["address"], [REQUESTER]).hex(),
        ],
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "transactionHash": "0x" + "ab" * 32,
        "logIndex": "0x0",
    }


def test_topic_is_the_event_signature_hash() -> None:
    codec = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
    assert (
        codec.signature == "InferenceRequested(uint256,bytes32,address,uint256,uint64,uint32,uint8,uint8,uint256,bytes)"
    )
    assert codec.topic == Web3.keccak(text=codec.signature)


def test_decodes_inference_requested_and_rebuilds_params() -> None:
    codec = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
    log = codec.decode(raw_requested_log())
    assert log.address == HUB
    assert log.block_number == 16
    event = InferenceRequested.from_log(log)
    assert event.request_id == 42
    assert event.model_id == bytes(MODEL)
    assert event.requester == REQUESTER
    assert event.mode is Mode.SINGLE
    assert event.input == INPUT
    assert event.lottery == LOTTERY
    terms = ModelTerms(
        price=1,
        input_bytes=32,
        output_bytes=16,
        modes=3,
        deprecated=False,
        env_restricted=True,
        exists=True,
        scale=10**6,
    )
    params = event.params(terms)
    assert params.input_hash == Web3.keccak(INPUT)
    assert params.output_bytes == 16
    assert params.env_restricted is True
    assert (params.fee, params.deadline, params.callback_gas_limit, params.redundancy) == (
        10**16,
        1_700_000_000,
        120_000,
        1,
    )


def test_skips_other_events_and_refuses_garbage() -> None:
    codec = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
    other = {**raw_requested_log(), "topics": ["0x" + "00" * 32]}
    assert codec.decode_all([other, raw_requested_log()])[0].args["requestId"] == 42
    with pytest.raises(ChainError, match="is not a InferenceRequested"):
        codec.decode(other)
    truncated = {**raw_requested_log(), "data": "0x1234"}
    with pytest.raises(ChainError, match="cannot decode a InferenceRequested log"):
        codec.decode(truncated)
