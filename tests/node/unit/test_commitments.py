"""The commitment twins against values computed independently with `cast abi-encode` + `cast keccak`."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from web3 import Web3

from verinfer.chain import commitments
from verinfer.chain.abi import abi_type, find_entry
from verinfer.chain.artifacts import load_artifact
from verinfer.types import Mode, ModelId, RequestParams

# Reads the real build output: built once per session if missing.
pytestmark = pytest.mark.usefixtures("forge_build")

MODEL = ModelId(Web3.keccak(text="onnx bytes of the test model"))
INPUT32 = bytes.fromhex("00000000000f4240ffffffffffd9da600000000000000000000000000000002a")
INPUT_HASH = Web3.keccak(INPUT32)
OUTPUT_HASH = Web3.keccak(text="output")
ENV_HASH = Web3.keccak(text="env")
SALT = Web3.keccak(text="salt")
NODE = Web3.to_checksum_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")

PARAMS = RequestParams(
    model_id=MODEL,
    input_hash=INPUT_HASH,
    requester=NODE,
    fee=10**16,
    deadline=1_700_003_600,
    callback_gas_limit=100_000,
    output_bytes=32,
    mode=Mode.CONSENSUS,
    redundancy=3,
    env_restricted=True,
    lottery=(7 << 136) | (6 * 10**9 << 72) | (1_700_000_000 << 32) | 0xDEADBEEF,
)


def h(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def test_request_hash_known_value() -> None:
    # Checked with `cast keccak $(cast abi-encode "f(uint256,(...,uint256))" 7 <PARAMS>)`.
    expected = h("0xd3dcd5eab4f407871def159b6e957bf9eab9bbb3ddac92744287a34262528054")
    assert commitments.request_hash(7, PARAMS) == expected


def test_result_known_value() -> None:
    expected = h("0xef3ae3bb106b946fc0288a0511e29c9e968e5a1d82a5192df390aec773248a71")
    assert commitments.result(7, MODEL, INPUT_HASH, OUTPUT_HASH, ENV_HASH, NODE) == expected


def test_vote_known_value() -> None:
    expected = h("0x34ec84b74cfc4dfdf6da59875dec0a4f061644a46a18c59391a2f0c681d2096f")
    assert commitments.vote(OUTPUT_HASH, SALT, NODE) == expected


def test_consensus_known_values() -> None:
    expected = h("0x72cf5d19cdcc7eb5d8af713bbbe3d7987c34a81ec6c04029d5f6441ca79d6bec")
    assert commitments.consensus(7, OUTPUT_HASH, [MODEL, INPUT_HASH]) == expected
    empty = h("0x6ba3781bff7c6bbe3aea989f4cbdc7fc800ef17f32fb1b720f4442aaf29e4eac")
    assert commitments.consensus(7, OUTPUT_HASH, []) == empty


def test_stored_form_keeps_a_results_top_128_bits() -> None:
    c = commitments.result(7, MODEL, INPUT_HASH, OUTPUT_HASH, ENV_HASH, NODE)
    assert commitments.stored_form(c) == c[:16] + bytes(16)


def test_stored_params_form_zeroes_the_status_byte() -> None:
    params_hash = commitments.request_hash(7, PARAMS)
    assert commitments.stored_params_form(params_hash) == params_hash[:31] + b"\x00"


def test_request_params_abi_matches_the_build_output() -> None:
    """The hand-written tuple type of RequestParams must be the one the compiler emits for `submitResult`."""
    entry = find_entry(load_artifact("InferenceHub").abi, "function", "submitResult")
    params = next(p for p in entry["inputs"] if p["internalType"] == "struct RequestParams")
    assert abi_type(params) == commitments.REQUEST_PARAMS_ABI
    assert [c["name"] for c in params["components"]] == [
        "modelId",
        "inputHash",
        "requester",
        "fee",
        "deadline",
        "callbackGasLimit",
        "outputBytes",
        "mode",
        "redundancy",
        "envRestricted",
        "lottery",
    ]


def test_request_params_round_trips_through_abi_tuple() -> None:
    assert RequestParams.from_abi(PARAMS.as_abi()) == PARAMS


@pytest.mark.parametrize(
    ("field", "value"),
    [("model_id", b"\x01" * 31), ("fee", -1), ("deadline", 2**64), ("redundancy", 256), ("mode", 3)],
)
def test_request_params_refuses_out_of_range_fields(field: str, value: object) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(PARAMS, **changes)
