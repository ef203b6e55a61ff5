"""A model's signature as exported, laid out on the canonical tensor.

The ONNX file is hash-addressed (the model id is keccak256 of its bytes), so the graph itself is the signature the
registry entry commits to: the names, element types, shapes and order of its inputs and outputs. The entry's
inputShape and outputShape describe the total canonical tensor; everything else is derived from the graph, the
same way by the SDK, the node and `verify`:

- The canonical input is the graph's inputs in graph order, each flattened row-major, concatenated (likewise the
  committed outputs). One port alone keeps its own shape in the entry; several make `[N, sum of per-row sizes]`
  when every one has the batch dimension, else `[total]`.
- A symbolic first dimension is the batch: the entry fixes N rows, its inputShape's first dimension, and the model
  is fed those N rows at once (a model without one has N = 1).
- Float ports (float16/32/64) travel as round-half-even(x * scale), as the codec does; integer ports (int8..int64,
  uint8..uint32) and bool travel as their exact values, unscaled (bool as 0/1). The node casts each input to its
  own dtype.

Only tensors are committed: a trailing skl2onnx ZipMap (a sequence of maps) is replaced by its probabilities
tensor when the model is inspected (`model_store.inspect_model`), in the node and in `verify` alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from verinfer.errors import CodecError
from verinfer.inference import codec

if TYPE_CHECKING:
    from verinfer.inference.model_store import ModelInfo, TensorInfo

FLOAT_TYPES: dict[str, Any] = {"FLOAT16": np.float16, "FLOAT": np.float32, "DOUBLE": np.float64}
EXACT_TYPES: dict[str, Any] = {
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "BOOL": np.bool_,
}
"""Element types that travel as their exact integer values (uint64 does not fit the int64 wire)."""
SUPPORTED_TYPES = frozenset(FLOAT_TYPES) | frozenset(EXACT_TYPES)


def rows_of(info: ModelInfo, input_shape: Sequence[int]) -> int:
    """N: the rows one request carries (the entry's first input dimension when the model has a batch one)."""
    if any(port.dynamic_batch for port in info.inputs) and input_shape:
        return int(input_shape[0])
    return 1


def port_shape(port: TensorInfo, rows: int) -> tuple[int, ...]:
    """The port's concrete shape for a request of `rows` rows (its batch dimension, if any, set to `rows`)."""
    return tuple(rows if d == -1 else d for d in port.shape)


def entry_shape(ports: Sequence[TensorInfo], rows: int) -> tuple[int, ...]:
    """The shape the registry entry holds for these ports: one port's own, else [N, per-row total] or [total]."""
    shapes = [port_shape(port, rows) for port in ports]
    if len(shapes) == 1:
        return shapes[0]
    if all(port.dynamic_batch for port in ports):
        return (rows, sum(math.prod(shape[1:]) for shape in shapes))
    return (sum(math.prod(shape) for shape in shapes),)


def _sizes(ports: Sequence[TensorInfo], rows: int) -> list[int]:
    return [math.prod(port_shape(port, rows)) for port in ports]


def _dtype(port: TensorInfo) -> Any:
    kind = FLOAT_TYPES.get(port.elem_type) or EXACT_TYPES.get(port.elem_type)
    if kind is None:
        raise CodecError(f"{port.name!r} is {port.elem_type}: no canonical encoding (supported: {_supported()})")
    return kind


def _supported() -> str:
    return ", ".join(sorted(SUPPORTED_TYPES))


def _split(data: bytes, ports: Sequence[TensorInfo], rows: int, role: str) -> list[npt.NDArray[np.int64]]:
    sizes = _sizes(ports, rows)
    values = codec.decode_ints(data)
    if len(values) != sum(sizes):
        layout = ", ".join(f"{p.name} {list(port_shape(p, rows))}" for p in ports)
        raise CodecError(f"the {role} of {layout} takes {sum(sizes) * codec.ELEMENT_BYTES} bytes, got {len(data)}")
    bounds = np.cumsum([0, *sizes])
    return [
        values[start:end].reshape(port_shape(port, rows))
        for port, start, end in zip(ports, bounds[:-1], bounds[1:], strict=True)
    ]


def _to_port(port: TensorInfo, ints: npt.NDArray[np.int64], scale: int) -> npt.NDArray[Any]:
    dtype = _dtype(port)
    if port.elem_type in FLOAT_TYPES:
        # As the single-float encoding always did: element / scale in float64, then the port's dtype.
        return (ints.astype(np.float64) / float(scale)).astype(dtype)
    if dtype is np.bool_:
        if np.any((ints != 0) & (ints != 1)):
            raise CodecError(f"{port.name!r} is bool: its values travel as 0 or 1")
        return ints.astype(np.bool_)
    info = np.iinfo(dtype)
    if ints.size and (int(ints.min()) < info.min or int(ints.max()) > info.max):
        raise CodecError(f"{port.name!r} takes {port.elem_type} values in [{info.min}, {info.max}]")
    return ints.astype(dtype)


def _from_port(port: TensorInfo, value: npt.ArrayLike, rows: int, scale: int) -> npt.NDArray[np.int64]:
    array = np.asarray(value)
    shape = port_shape(port, rows)
    if array.size != math.prod(shape):
        raise CodecError(f"{port.name!r} {list(shape)} takes {math.prod(shape)} values, got {array.size}")
    _dtype(port)
    if port.elem_type in FLOAT_TYPES:
        if array.dtype.kind == "b":
            raise CodecError(f"{port.name!r} takes {port.elem_type} values, got bools")
        return codec.quantize(array.astype(np.float64) if array.dtype.kind in "iu" else array, scale).reshape(-1)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise CodecError(f"{port.name!r} takes {port.elem_type} values: whole numbers, got {array.reshape(-1)}")
    elif array.dtype.kind not in "iub":
        raise CodecError(f"{port.name!r} takes {port.elem_type} values, got dtype {array.dtype}")
    ints = array.astype(np.int64).reshape(-1)
    _to_port(port, ints, scale)  # the same range check the node applies
    return ints


def feeds(data: bytes, info: ModelInfo, rows: int, scale: int) -> dict[str, npt.NDArray[Any]]:
    """The model's inputs behind canonical input bytes, each in its own shape and dtype (`CodecError` if not)."""
    return {
        port.name: _to_port(port, ints, scale)
        for port, ints in zip(info.inputs, _split(data, info.inputs, rows, "input"), strict=True)
    }


def encode_inputs(values: Mapping[str, npt.ArrayLike], info: ModelInfo, rows: int, scale: int) -> bytes:
    """The canonical input bytes of named input values (every input of the graph, none other)."""
    names = [port.name for port in info.inputs]
    if set(values) != set(names):
        missing, extra = sorted(set(names) - set(values)), sorted(set(values) - set(names))
        raise CodecError(f"the model takes inputs {names}: missing {missing}, unknown {extra}")
    parts = [_from_port(port, values[port.name], rows, scale) for port in info.inputs]
    return codec.encode_ints(np.concatenate(parts)) if parts else b""


def encode_outputs(outputs: Sequence[npt.ArrayLike], info: ModelInfo, rows: int, scale: int) -> bytes:
    """The canonical output bytes of the committed outputs, in graph order (`CodecError` if one does not fit)."""
    if len(outputs) != len(info.outputs):
        raise CodecError(f"the model gave {len(outputs)} outputs, its signature commits {len(info.outputs)}")
    parts: list[npt.NDArray[np.int64]] = []
    for port, value in zip(info.outputs, outputs, strict=True):
        array = np.asarray(value)
        expected = math.prod(port_shape(port, rows))
        if array.size != expected:
            raise CodecError(
                f"output {port.name!r} has {array.size} values; its graph shape for {rows} rows is "
                f"{list(port_shape(port, rows))}"
            )
        if port.elem_type in FLOAT_TYPES:
            parts.append(codec.quantize(array, scale).reshape(-1))
        elif port.elem_type in EXACT_TYPES:
            parts.append(array.astype(np.int64).reshape(-1))
        else:
            raise CodecError(f"output {port.name!r} is {port.elem_type}: no canonical encoding ({_supported()})")
    return codec.encode_ints(np.concatenate(parts)) if parts else b""


def decode_outputs(data: bytes, info: ModelInfo, rows: int, scale: int) -> dict[str, npt.NDArray[Any]]:
    """The named outputs behind canonical output bytes: floats as float64 (element / scale), integers as int64,
    bools as bool."""
    named: dict[str, npt.NDArray[Any]] = {}
    for port, ints in zip(info.outputs, _split(data, info.outputs, rows, "output"), strict=True):
        if port.elem_type in FLOAT_TYPES:
            named[port.name] = ints.astype(np.float64) / float(scale)
        elif port.elem_type == "BOOL":
            named[port.name] = ints.astype(np.bool_)
        else:
            named[port.name] = ints
    return named
