"""verinfer.zk.instances: int64 values <-> BN254 field elements, in EZKL's input-then-output layout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verinfer.errors import CodecError
from verinfer.inference import codec
from verinfer.zk import FIELD_MODULUS, ProofInvalid, ZkInputInvalid, from_field, instances_for, to_field
from verinfer.zk.instances import felt_from_hex, split_signed

INT64 = st.integers(min_value=codec.INT64_MIN, max_value=codec.INT64_MAX)


def test_modulus_is_bn254_scalar_field() -> None:
    assert FIELD_MODULUS == 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001


@pytest.mark.parametrize(
    ("value", "element"),
    [
        (0, 0),
        (1, 1),
        (-1, FIELD_MODULUS - 1),
        (-5, FIELD_MODULUS - 5),
        (codec.INT64_MAX, 2**63 - 1),
        (codec.INT64_MIN, FIELD_MODULUS - 2**63),
    ],
)
def test_to_field_edges(value: int, element: int) -> None:
    assert to_field(value) == element
    assert from_field(element) == value


@given(INT64)
def test_from_field_inverts_to_field(value: int) -> None:
    assert from_field(to_field(value)) == value


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.0])
def test_to_field_refuses_non_int64(value: object) -> None:
    with pytest.raises(ZkInputInvalid, match="int64"):
        to_field(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("element", [-1, FIELD_MODULUS, FIELD_MODULUS + 7])
def test_from_field_refuses_outside_field(element: int) -> None:
    with pytest.raises(ProofInvalid, match="not a BN254 scalar-field element"):
        from_field(element)


def test_instances_are_input_then_output() -> None:
    got = instances_for(codec.encode_ints([5, -7]), codec.encode_ints([-(2**63), 0, 3]))
    assert got == [5, FIELD_MODULUS - 7, FIELD_MODULUS - 2**63, 0, 3]


@given(st.lists(INT64, max_size=20), st.lists(INT64, max_size=20))
def test_split_signed_recovers_both_tensors(inputs: list[int], outputs: list[int]) -> None:
    instances = instances_for(codec.encode_ints(inputs), codec.encode_ints(outputs))
    assert split_signed(instances, len(inputs)) == (inputs, outputs)


def test_split_signed_refuses_too_many_inputs() -> None:
    with pytest.raises(ProofInvalid, match="cannot hold 3 inputs"):
        split_signed([1, 2], 3)


def test_split_signed_refuses_values_beyond_int64() -> None:
    with pytest.raises(ProofInvalid, match="does not fit the int64"):
        split_signed([2**70], 1)


def test_felt_from_hex_is_little_endian() -> None:
    minus_five = "fcffffef93f5e1439170b97948e833285d588181b64550b829a031e1724e6430"  # as ezkl writes p - 5
    assert felt_from_hex(minus_five) == FIELD_MODULUS - 5
    assert felt_from_hex("2a" + "00" * 31) == 42


@pytest.mark.parametrize(
    ("text", "message"),
    [("zz" * 32, "not hex"), ("00" * 31, "has 31 bytes"), ("ff" * 32, "not below the BN254")],
)
def test_felt_from_hex_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(ProofInvalid, match=message):
        felt_from_hex(text)


def test_instances_for_refuses_ragged_tensor() -> None:
    with pytest.raises(CodecError, match="not a multiple of 8"):
        instances_for(b"\x00" * 9, b"")
