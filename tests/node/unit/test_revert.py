"""Revert data -> named errors, with the selectors of the real build output."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from verinfer.chain.abi import find_entry, selector
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.revert import RevertDecoder
from verinfer.errors import ChainError, ContractRevert, VerinferError
from verinfer.types import Eligibility, Status

# Reads the real build output: built once per session if missing.
pytestmark = pytest.mark.usefixtures("forge_build")

# Selectors from `cast sig`, independent of verinfer's own computation.
INSUFFICIENT_FEE = bytes.fromhex("a458261b")
REQUEST_NOT_PENDING = bytes.fromhex("a8306b61")


def test_selectors_come_from_the_abi() -> None:
    hub = load_artifact("InferenceHub").abi
    assert selector(find_entry(hub, "error", "InsufficientFee")) == INSUFFICIENT_FEE
    assert selector(find_entry(hub, "error", "RequestNotPending")) == REQUEST_NOT_PENDING


def test_insufficient_fee(decoder: RevertDecoder) -> None:
    revert = decoder.decode(INSUFFICIENT_FEE + encode(["uint256", "uint256"], [1, 5]))
    assert str(revert) == "InsufficientFee(paid=1, required=5)"
    assert revert.name == "InsufficientFee"
    assert revert["paid"] == 1
    assert dict(revert.arguments) == {"paid": 1, "required": 5}
    assert revert.signature == "InsufficientFee(uint256,uint256)"
    assert revert.selector == INSUFFICIENT_FEE
    assert isinstance(revert, ChainError)
    assert isinstance(revert, VerinferError)


def test_enum_arguments_read_by_name(decoder: RevertDecoder) -> None:
    revert = decoder.decode(REQUEST_NOT_PENDING + encode(["uint256", "uint8"], [9, 2]))
    assert revert["status"] is Status.FULFILLED
    assert str(revert) == "RequestNotPending(requestId=9, status=Status.FULFILLED)"


def test_errors_of_every_system_contract(decoder: RevertDecoder) -> None:
    node = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    model = b"\x11" * 32
    nodes_abi = load_artifact("NodeRegistry").abi
    stake = selector(find_entry(nodes_abi, "error", "StakeTooLow")) + encode(["uint256", "uint256"], [1, 10**18])
    assert str(decoder.decode(stake)) == f"StakeTooLow(stake=1, minimum={10**18})"

    models_abi = load_artifact("ModelRegistry").abi
    shape = selector(find_entry(models_abi, "error", "ShapeEmpty")) + encode(["string"], ["input"])
    assert str(decoder.decode(shape)) == "ShapeEmpty(which='input')"

    hub_abi = load_artifact("InferenceHub").abi
    data = selector(find_entry(hub_abi, "error", "NodeNotEligible")) + encode(
        ["address", "bytes32", "uint8"], [node, model, 4]
    )
    revert = decoder.decode(data)
    assert revert["reason"] is Eligibility.MODEL_NOT_SERVED
    assert str(revert) == f"NodeNotEligible(node={node}, modelId=0x{model.hex()}, reason=Eligibility.MODEL_NOT_SERVED)"

    pool_abi = load_artifact("LendingPool").abi
    unknown_app = selector(find_entry(pool_abi, "error", "ApplicationUnknown")) + encode(["uint256"], [3])
    assert str(decoder.decode(unknown_app)) == "ApplicationUnknown(requestId=3)"


def test_error_string_and_panic(decoder: RevertDecoder) -> None:
    message = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    assert str(decoder.decode(message)) == "Error(message='nope')"
    panic = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    revert = decoder.decode(panic)
    assert revert.name == "Panic"
    assert revert["code"] == "0x11"
    assert revert["reason"] == "arithmetic overflow or underflow"


def test_unknown_empty_and_malformed(decoder: RevertDecoder) -> None:
    unknown = decoder.decode(bytes.fromhex("deadbeef") + b"\x01")
    assert unknown.name == "UnknownError"
    assert str(unknown) == "UnknownError(selector=0xdeadbeef, data=0x01)"
    assert decoder.decode(b"").name == "EmptyRevert"
    truncated = decoder.decode(INSUFFICIENT_FEE + b"\x00" * 10)
    assert truncated.name == "InsufficientFee"
    assert "malformed" in truncated.arguments


def test_an_empty_decoder_learns_from_added_abis() -> None:
    decoder = RevertDecoder()
    data = INSUFFICIENT_FEE + encode(["uint256", "uint256"], [1, 5])
    assert decoder.decode(data).name == "UnknownError"
    decoder.add_abi(load_artifact("InferenceHub").abi)
    assert decoder.knows(INSUFFICIENT_FEE)
    assert decoder.decode(data).name == "InsufficientFee"


@pytest.mark.parametrize(
    "exc",
    [
        ContractCustomError(
            "0x" + (INSUFFICIENT_FEE + encode(["uint256", "uint256"], [1, 5])).hex(),
            data="0x" + (INSUFFICIENT_FEE + encode(["uint256", "uint256"], [1, 5])).hex(),
        ),
        ContractLogicError(
            "execution reverted",
            data={"data": "0x" + (INSUFFICIENT_FEE + encode(["uint256", "uint256"], [1, 5])).hex()},
        ),
    ],
)
def test_translates_web3_errors(decoder: RevertDecoder, exc: ContractLogicError) -> None:
    with pytest.raises(ContractRevert) as caught, decoder.translate():
        raise exc
    assert str(caught.value) == "InsufficientFee(paid=1, required=5)"
    assert caught.value.__cause__ is exc


def test_translates_web3_panics_and_bare_reverts(decoder: RevertDecoder) -> None:
    panic_hex = "0x4e487b71" + encode(["uint256"], [0x12]).hex()
    assert decoder.from_web3(ContractPanicError("panic", data=panic_hex))["code"] == "0x12"
    bare = decoder.from_web3(ContractLogicError("execution reverted", data=None))
    assert bare.name == "EmptyRevert"
