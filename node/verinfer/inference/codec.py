"""The canonical tensor codec, twin of contracts/lib/TensorCodec.sol.

A tensor travels as its elements in row-major (C) order, each a signed 64-bit big-endian two's-complement integer,
8 bytes per element, with no header (the shape lives in the model registry). A real value x travels as
round-half-even(x * scale), computed in IEEE float64, where `scale` is the model's fixed-point multiplier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from verinfer.errors import CodecError

ELEMENT_BYTES = 8
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SCALE_MAX = 2**64 - 1  # the registry stores the scale as uint64

_WIRE = np.dtype(">i8")


def check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or not 1 <= int(scale) <= SCALE_MAX:
        raise CodecError(f"scale must be an integer in [1, 2**64 - 1], got {scale!r}")
    return int(scale)


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise CodecError(f"shape {dims} has a negative dimension")
    return dims


def quantize(values: npt.ArrayLike, scale: int) -> npt.NDArray[np.int64]:
    """round-half-even(x * scale) for every element, as int64 in the input's shape."""
    scale = check_scale(scale)
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return _exact_ints(array, scale)
    if array.dtype.kind != "f":
        raise CodecError(f"cannot encode a tensor of dtype {array.dtype}")
    scaled = array.astype(np.float64) * float(scale)
    if not np.all(np.isfinite(scaled)):
        bad = np.argwhere(~np.isfinite(scaled))[0]
        raise CodecError(f"element {tuple(int(i) for i in bad)} is not finite after scaling: {scaled[tuple(bad)]}")
    rounded = np.rint(scaled)  # numpy rounds half to even
    # float64(2**63) is exactly 2**63, the first value that does not fit; -2**63 is exact and fits.
    outside = (rounded < float(INT64_MIN)) | (rounded >= float(2**63))
    if np.any(outside):
        bad = np.argwhere(outside)[0]
        raise CodecError(
            f"element {tuple(int(i) for i in bad)} = {array[tuple(bad)]!r} times scale {scale} does not fit int64"
        )
    return rounded.astype(np.int64)


def _exact_ints(array: npt.NDArray[np.generic], scale: int) -> npt.NDArray[np.int64]:
    # Integers scale exactly: no float detour, so large values never lose precision.
    flat = [int(v) * scale for v in array.reshape(-1).tolist()]
    _check_range(flat)
    return np.array(flat, dtype=np.int64).reshape(array.shape)


def _check_range(values: Sequence[int]) -> None:
    for index, value in enumerate(values):
        if not INT64_MIN <= value <= INT64_MAX:
            raise CodecError(f"element {index} = {value} does not fit int64")


def encode(values: npt.ArrayLike, scale: int) -> bytes:
    """The canonical bytes of a real-valued tensor."""
    return np.ascontiguousarray(quantize(values, scale), dtype=_WIRE).tobytes(order="C")


def encode_ints(values: Iterable[int] | npt.ArrayLike) -> bytes:
    """The canonical bytes of already fixed-point integers (row-major if multi-dimensional)."""
    array = np.asarray(values)
    if array.size == 0:
        return b""
    if array.dtype.kind not in "iu" and not (array.dtype == object and _all_ints(array)):
        raise CodecError(f"encode_ints takes integers, got dtype {array.dtype}")
    flat = [int(v) for v in array.reshape(-1).tolist()]
    _check_range(flat)
    return np.array(flat, dtype=_WIRE).tobytes()


def _all_ints(array: npt.NDArray[np.generic]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in array.reshape(-1).tolist())


def decode_ints(data: bytes, shape: Sequence[int] | None = None) -> npt.NDArray[np.int64]:
    """The int64 elements of canonical bytes, flat or in `shape`."""
    if len(data) % ELEMENT_BYTES != 0:
        raise CodecError(f"tensor length {len(data)} is not a multiple of {ELEMENT_BYTES} bytes")
    values = np.frombuffer(data, dtype=_WIRE).astype(np.int64)
    if shape is None:
        return values
    dims = _check_shape(shape)
    expected = math.prod(dims) * ELEMENT_BYTES
    if len(data) != expected:
        raise CodecError(f"tensor of shape {list(dims)} takes {expected} bytes, got {len(data)}")
    return values.reshape(dims)


def decode(data: bytes, shape: Sequence[int], scale: int) -> npt.NDArray[np.float64]:
    """The real-valued tensor of `shape` behind canonical bytes (element / scale)."""
    scale = check_scale(scale)
    return decode_ints(data, shape).astype(np.float64) / float(scale)


def value_at(data: bytes, index: int) -> int:
    """Element `index` (row-major) of canonical bytes, as `TensorCodec.valueAt` reads it."""
    size = len(data) // ELEMENT_BYTES
    if len(data) % ELEMENT_BYTES != 0:
        raise CodecError(f"tensor length {len(data)} is not a multiple of {ELEMENT_BYTES} bytes")
    if not 0 <= index < size:
        raise CodecError(f"element {index} does not exist in a tensor of {size} elements")
    return int.from_bytes(data[index * ELEMENT_BYTES : (index + 1) * ELEMENT_BYTES], "big", signed=True)


def encoded_size(shape: Sequence[int]) -> int:
    """Bytes of the canonical encoding of a tensor of `shape`."""
    return math.prod(_check_shape(shape)) * ELEMENT_BYTES
