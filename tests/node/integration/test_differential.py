"""Differential tests: the Python codec and commitments against the Solidity libraries (tests/contracts/harness/
CodecHarness.sol) on anvil, fed the same hypothesis-generated vectors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from tests.node.support import Actors
from verinfer.chain import commitments
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender
from verinfer.errors import CodecError, ContractRevert
from verinfer.inference import codec
from verinfer.types import Mode, ModelId, RequestParams

pytestmark = pytest.mark.integration

DIFF = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

INT64 = st.integers(min_value=codec.INT64_MIN, max_value=codec.INT64_MAX)
BYTES32 = st.binary(min_size=32, max_size=32)
ADDRESS = st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)
UINT256 = st.integers(min_value=0, max_value=2**256 - 1)

REQUEST_PARAMS = st.builds(
    RequestParams,
    model_id=BYTES32.map(ModelId),
    input_hash=BYTES32,
    requester=ADDRESS,
    fee=UINT256,
    deadline=st.integers(0, 2**64 - 1),
    callback_gas_limit=st.integers(0, 2**32 - 1),
    output_bytes=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(Mode),
    redundancy=st.integers(0, 255),
    env_restricted=st.booleans(),
    lottery=UINT256,
)


@pytest.fixture(scope="module")
def harness(deployed: Actors) -> Contract:
    contract, _ = deployed.deployer.sender.deploy(load_artifact("CodecHarness"))
    return contract


@pytest.fixture(scope="module")
def sender(deployed: Actors) -> TxSender:
    return deployed.deployer.sender


@DIFF
@given(st.lists(INT64, max_size=40))
def test_encode_and_decode(harness: Contract, values: list[int]) -> None:
    data = codec.encode_ints(values)
    assert harness.functions.encode(values).call() == data
    assert harness.functions.encodeChecked(values).call() == data
    assert harness.functions.decode(data).call() == codec.decode_ints(data).tolist()
    assert harness.functions.size(data).call() == len(values)


@DIFF
@given(st.lists(INT64, min_size=1, max_size=40), st.data())
def test_value_at(harness: Contract, values: list[int], data: st.DataObject) -> None:
    tensor = codec.encode_ints(values)
    index = data.draw(st.integers(0, len(values) - 1))
    assert harness.functions.valueAt(tensor, index).call() == codec.value_at(tensor, index) == values[index]


@DIFF
@given(st.binary(max_size=100))
def test_decode_arbitrary_bytes(harness: Contract, sender: TxSender, blob: bytes) -> None:
    """Both sides accept exactly the byte strings whose length is a multiple of 8, and agree on them."""
    if len(blob) % 8 == 0:
        assert harness.functions.decode(blob).call() == codec.decode_ints(blob).tolist()
        return
    with pytest.raises(CodecError):
        codec.decode_ints(blob)
    with pytest.raises(ContractRevert) as caught:
        sender.call(harness.functions.decode(blob))
    assert str(caught.value) == f"TensorLengthInvalid(length={len(blob)})"


@DIFF
@given(st.lists(st.integers(min_value=-(2**64), max_value=2**64), max_size=8))
def test_range_checks_agree(harness: Contract, sender: TxSender, values: list[int]) -> None:
    in_range = all(codec.INT64_MIN <= v <= codec.INT64_MAX for v in values)
    if in_range:
        assert harness.functions.encodeChecked(values).call() == codec.encode_ints(values)
        return
    with pytest.raises(CodecError):
        codec.encode_ints(values)
    first_bad = next(v for v in values if not codec.INT64_MIN <= v <= codec.INT64_MAX)
    with pytest.raises(ContractRevert, match=rf"TensorValueOutOfRange\(value={first_bad}\)"):
        sender.call(harness.functions.encodeChecked(values))


@DIFF
@given(UINT256, REQUEST_PARAMS)
def test_request_hash(harness: Contract, request_id: int, params: RequestParams) -> None:
    expected = commitments.request_hash(request_id, params)
    assert harness.functions.requestHash(request_id, params.as_abi()).call() == expected
    assert harness.functions.requestHashCalldata(request_id, params.as_abi()).call() == expected


@DIFF
@given(UINT256, BYTES32, BYTES32, BYTES32, BYTES32, ADDRESS)
def test_result(
    harness: Contract, request_id: int, model: bytes, input_hash: bytes, output_hash: bytes, env: bytes, node: str
) -> None:
    expected = commitments.result(request_id, model, input_hash, output_hash, env, node)
    assert harness.functions.result(request_id, model, input_hash, output_hash, env, node).call() == expected


@DIFF
@given(BYTES32, BYTES32, ADDRESS)
def test_vote(harness: Contract, output_hash: bytes, salt: bytes, node: str) -> None:
    assert harness.functions.vote(output_hash, salt, node).call() == commitments.vote(output_hash, salt, node)


@DIFF
@given(UINT256, BYTES32, st.lists(BYTES32, max_size=9))
def test_consensus(harness: Contract, request_id: int, output_hash: bytes, nodes: list[bytes]) -> None:
    expected = commitments.consensus(request_id, output_hash, nodes)
    assert harness.functions.consensus(request_id, output_hash, nodes).call() == expected


def test_decoder_learns_the_harness_errors(sender: TxSender) -> None:
    """TensorCodec's errors are in the system decoder (they reach users through consumers)."""
    assert RevertDecoder.for_system().knows(Web3.keccak(text="TensorLengthInvalid(uint256)")[:4])
    assert sender.decoder.knows(Web3.keccak(text="TensorIndexOutOfBounds(uint256,uint256)")[:4])
