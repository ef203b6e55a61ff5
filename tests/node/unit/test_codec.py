"""The canonical tensor codec: round trips, rounding, layout, and the errors it raises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec

INT64 = st.integers(min_value=codec.INT64_MIN, max_value=codec.INT64_MAX)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)
SCALES = st.integers(min_value=1, max_value=10**9)

# The 32-byte test input of the forge tests (Base.t.sol input32): 1e6, -2.5e6, 0, 42.
INPUT32 = bytes.fromhex("00000000000f4240ffffffffffd9da600000000000000000000000000000002a")


def test_encode_ints_known_vector() -> None:
    assert codec.encode_ints([1_000_000, -2_500_000, 0, 42]) == INPUT32


def test_encode_scales_and_lays_out_row_major() -> None:
    x = np.array([[1.0, -2.5], [0.0, 0.000042]])
    assert codec.encode(x, 1_000_000) == INPUT32
    assert codec.decode(INPUT32, (2, 2), 1_000_000).tolist() == [[1.0, -2.5], [0.0, 0.000042]]


def test_rounds_half_to_even() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999])
    assert codec.quantize(x, 1).tolist() == [0, 2, 2, 0, -2, -2, 0]


def test_int64_extremes_round_trip() -> None:
    values = [codec.INT64_MIN, codec.INT64_MAX, -1, 0, 1]
    data = codec.encode_ints(values)
    assert data[:8] == b"\x80" + b"\x00" * 7
    assert data[8:16] == b"\x7f" + b"\xff" * 7
    assert data[16:24] == b"\xff" * 8
    assert codec.decode_ints(data).tolist() == values


def test_integer_input_scales_exactly() -> None:
    # 2**53 + 1 is not a float64; the integer path keeps it exact.
    assert codec.quantize(np.array([2**53 + 1]), 1).tolist() == [2**53 + 1]
    assert codec.decode_ints(codec.encode(np.array([3, -4]), 1_000)).tolist() == [3_000, -4_000]


@given(st.lists(INT64, max_size=64))
def test_ints_round_trip(values: list[int]) -> None:
    data = codec.encode_ints(values)
    assert len(data) == 8 * len(values)
    assert codec.decode_ints(data).tolist() == values
    for i, v in enumerate(values):
        assert codec.value_at(data, i) == v


@given(hnp.arrays(np.int64, SHAPES, elements=INT64))
def test_int_tensors_round_trip_with_shape(array: np.ndarray) -> None:
    data = codec.encode_ints(array)
    assert np.array_equal(codec.decode_ints(data, array.shape), array)


@given(
    hnp.arrays(np.float64, SHAPES, elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    SCALES,
)
def test_float_tensors_round_trip_within_half_a_step(array: np.ndarray, scale: int) -> None:
    decoded = codec.decode(codec.encode(array, scale), array.shape, scale)
    assert decoded.shape == array.shape
    # Rounding moves a value by at most half a step; float64 scaling adds a relative error of a few ulps.
    tolerance = 0.5 / scale + 4 * np.finfo(np.float64).eps * np.abs(array)
    assert np.all(np.abs(decoded - array) <= tolerance)


@given(hnp.arrays(np.float32, SHAPES, elements=st.floats(-1e3, 1e3, width=32)), SCALES)
def test_encoding_is_idempotent_on_decoded_values(array: np.ndarray, scale: int) -> None:
    data = codec.encode(array, scale)
    assert codec.encode(codec.decode(data, array.shape, scale), scale) == data


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_refuses_non_finite(bad: float) -> None:
    with pytest.raises(CodecError, match=r"element \(1,\) is not finite"):
        codec.encode(np.array([1.0, bad]), 1_000_000)


def test_refuses_values_outside_int64() -> None:
    with pytest.raises(CodecError, match="does not fit int64"):
        codec.encode(np.array([1e13]), 1_000_000)  # 1e19 > 2**63
    with pytest.raises(CodecError, match="does not fit int64"):
        codec.encode(np.array([2**62]), 2)  # exact integer path: 2**63
    with pytest.raises(CodecError, match="does not fit int64"):
        codec.encode_ints([codec.INT64_MAX + 1])
    with pytest.raises(CodecError, match="does not fit int64"):
        codec.encode_ints([codec.INT64_MIN - 1])
    # -2**63 itself fits, on both paths.
    assert codec.quantize(np.array([-(2.0**63)]), 1).tolist() == [codec.INT64_MIN]


def test_refuses_wrong_lengths() -> None:
    with pytest.raises(CodecError, match="not a multiple of 8"):
        codec.decode_ints(b"\x00" * 12)
    with pytest.raises(CodecError, match=r"shape \[1, 4\] takes 32 bytes, got 24"):
        codec.decode(b"\x00" * 24, (1, 4), 1)
    with pytest.raises(CodecError, match="element 4 does not exist in a tensor of 4 elements"):
        codec.value_at(INPUT32, 4)


@pytest.mark.parametrize("scale", [0, -1, 2**64, 1.5, True])
def test_refuses_bad_scales(scale: object) -> None:
    with pytest.raises(CodecError, match="scale must be an integer"):
        codec.encode(np.array([1.0]), scale)  # type: ignore[arg-type]


def test_refuses_non_numeric_tensors() -> None:
    with pytest.raises(CodecError, match="dtype"):
        codec.encode(np.array(["a"]), 1)
    with pytest.raises(CodecError, match="takes integers"):
        codec.encode_ints(np.array([1.5]))


def test_codec_errors_are_model_errors_and_value_errors() -> None:
    assert issubclass(CodecError, ModelError)
    assert issubclass(CodecError, ValueError)


def test_encoded_size() -> None:
    assert codec.encoded_size((1, 4)) == 32
    assert codec.encoded_size((2, 3, 5)) == 240
