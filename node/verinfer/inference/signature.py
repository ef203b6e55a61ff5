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
- Float ports (float16/32/64) travel as round-half-even(x * scale), as the codec does, at the port's own scale
  if the entry's card gives one, else the entry's; integer ports (int8..int64, uint8..uint32) and bool travel as
  their exact values, unscaled (bool as 0/1). The node casts each input to its own dtype.
- The card may leave outputs uncommitted: the canonical output holds the committed ones only (`Layout`).

Only tensors are committed: a trailing skl2onnx ZipMap (a sequence of maps) is replaced by its probabilities
tensor when the model is inspected (`model_store.inspect_model`), in the node and in `verify` alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from verinfer.errors import CodecError, ModelCardError
from verinfer.inference import codec
from verinfer.inference.card import DTYPES, FLOAT_DTYPES, ModelCard, Port, PortCard, Ports
from verinfer.types import Mode

if TYPE_CHECKING:
    from verinfer.types import ModelSpec

FLOAT_TYPES: dict[str, Any] = {elem: np.dtype(name).type for elem, name in DTYPES.items() if name in FLOAT_DTYPES}
EXACT_TYPES: dict[str, Any] = {elem: np.dtype(name).type for elem, name in DTYPES.items() if name not in FLOAT_DTYPES}
"""Element types that travel as their exact integer values (uint64 does not fit the int64 wire). Both tables come from
the card's `DTYPES`: one list of the encodable types."""
SUPPORTED_TYPES = frozenset(FLOAT_TYPES) | frozenset(EXACT_TYPES)


def rows_of(info: Ports, input_shape: Sequence[int]) -> int:
    """N: the rows one request carries (the entry's first input dimension when the model has a batch one)."""
    if any(port.dynamic_batch for port in info.inputs) and input_shape:
        return int(input_shape[0])
    return 1


@dataclass(frozen=True)
class Layout:
    """How one model entry lays its file's ports on the canonical tensors: the rows per request, each port's
    scale, the committed outputs and their labels (from the entry's card, `verinfer.inference.card`).

        layout = Layout.of(info, spec)        # ModelCardError if the entry's card does not describe the file
        feeds(input_bytes, layout); encode_outputs(session_outputs, layout); decode_outputs(output_bytes, layout)
    """

    info: Ports
    rows: int
    input_scales: tuple[int, ...]
    """One per graph input (the entry's scale for ports without their own; unused by exact ports)."""
    committed: tuple[int, ...]
    """Indexes into `info.outputs` of the committed outputs, in graph order."""
    output_scales: tuple[int, ...]
    """One per committed output."""
    card: ModelCard = field(default_factory=ModelCard)

    @classmethod
    def of(cls, info: Ports, spec: ModelSpec) -> Layout:
        """The layout of `spec` (its input shape, scale and card) over the file described by `info`."""
        return cls.plain(info, rows_of(info, spec.input_shape), spec.scale, _card_of(spec))

    @classmethod
    def of_entry(cls, spec: ModelSpec) -> Layout | None:
        """The layout from the entry alone, when its card lists every port (None: the file is needed)."""
        card = _card_of(spec)
        ports = card.signature
        return None if ports is None else cls.plain(ports, rows_of(ports, spec.input_shape), spec.scale, card)

    @classmethod
    def plain(cls, info: Ports, rows: int, scale: int, card: ModelCard | None = None) -> Layout:
        """The layout of `rows` rows at `scale`, with `card`'s choices (None: every output, one scale)."""
        card = (card or ModelCard()).checked(info)
        scale = codec.check_scale(scale)
        inputs = card.inputs or ()
        outputs = card.outputs or ()
        in_scales = tuple(_scale(inputs, i, scale) for i in range(len(info.inputs)))
        committed = tuple(i for i in range(len(info.outputs)) if not outputs or outputs[i].commit)
        return cls(info, rows, in_scales, committed, tuple(_scale(outputs, i, scale) for i in committed), card)

    @property
    def outputs(self) -> tuple[Port, ...]:
        """The committed outputs, in graph order."""
        return tuple(self.info.outputs[i] for i in self.committed)

    def labels(self, name: str) -> tuple[str, ...]:
        """The card's labels of output `name` (empty if none)."""
        return next((p.labels for p in self.card.outputs or () if p.name == name), ())

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The entry's inputShape for this layout."""
        return entry_shape(self.info.inputs, self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The entry's outputShape: the committed outputs only."""
        return entry_shape(self.outputs, self.rows)


def _card_of(spec: ModelSpec) -> ModelCard:
    """The entry's card; `ModelCardError` if it gives a port its own scale on a ZK model, whose circuit computes at
    the entry's scale (its public instances are the canonical integers at that one scale)."""
    card = ModelCard.from_bytes(spec.card)
    if spec.modes & (1 << Mode.ZK) and any(p.scale is not None for p in (*(card.inputs or ()), *(card.outputs or ()))):
        raise ModelCardError(
            "a ZK model's circuit computes at the entry's one scale: its card cannot give ports their own scales "
            "(drop --port-scale, or register without ZK)"
        )
    return card


def _scale(ports: Sequence[PortCard], index: int, default: int) -> int:
    own = ports[index].scale if ports else None
    return default if own is None else own


def port_shape(port: Port, rows: int) -> tuple[int, ...]:
    """The port's concrete shape for a request of `rows` rows (its batch dimension, if any, set to `rows`)."""
    return tuple(rows if d == -1 else d for d in port.shape)


def entry_shape(ports: Sequence[Port], rows: int) -> tuple[int, ...]:
    """The shape the registry entry holds for these ports: one port's own, else [N, per-row total] or [total]."""
    shapes = [port_shape(port, rows) for port in ports]
    if len(shapes) == 1:
        return shapes[0]
    if all(port.dynamic_batch for port in ports):
        return (rows, sum(math.prod(shape[1:]) for shape in shapes))
    return (sum(math.prod(shape) for shape in shapes),)


def _sizes(ports: Sequence[Port], rows: int) -> list[int]:
    return [math.prod(port_shape(port, rows)) for port in ports]


def _dtype(port: Port) -> Any:
    kind = FLOAT_TYPES.get(port.elem_type) or EXACT_TYPES.get(port.elem_type)
    if kind is None:
        raise CodecError(f"{port.name!r} is {port.elem_type}: no canonical encoding (supported: {_supported()})")
    return kind


def _supported() -> str:
    return ", ".join(sorted(SUPPORTED_TYPES))


def _split(data: bytes, ports: Sequence[Port], rows: int, role: str) -> list[npt.NDArray[np.int64]]:
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


def _to_port(port: Port, ints: npt.NDArray[np.int64], scale: int) -> npt.NDArray[Any]:
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


def _from_port(port: Port, value: npt.ArrayLike, rows: int, scale: int) -> npt.NDArray[np.int64]:
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


def feeds(data: bytes, layout: Layout) -> dict[str, npt.NDArray[Any]]:
    """The model's inputs behind canonical input bytes, each in its own shape and dtype (`CodecError` if not)."""
    return {port.name: _to_port(port, ints, scale) for port, ints, scale in segments(data, layout, "input")}


def segments(data: bytes, layout: Layout, side: str) -> list[tuple[Port, npt.NDArray[np.int64], int]]:
    """Canonical bytes of one side ("input" or "output": the committed outputs) cut into their ports: each port, its
    integers in its concrete shape, and the scale its float values travel at (`CodecError` for the wrong length)."""
    ports, scales = (
        (layout.info.inputs, layout.input_scales) if side == "input" else (layout.outputs, layout.output_scales)
    )
    return list(zip(ports, _split(data, ports, layout.rows, side), scales, strict=True))


def encode_inputs(values: Mapping[str, npt.ArrayLike], layout: Layout) -> bytes:
    """The canonical input bytes of named input values (every input of the graph, none other)."""
    info = layout.info
    names = [port.name for port in info.inputs]
    if set(values) != set(names):
        missing, extra = sorted(set(names) - set(values)), sorted(set(values) - set(names))
        raise CodecError(f"the model takes inputs {names}: missing {missing}, unknown {extra}")
    parts = [
        _from_port(port, values[port.name], layout.rows, scale)
        for port, scale in zip(info.inputs, layout.input_scales, strict=True)
    ]
    return codec.encode_ints(np.concatenate(parts)) if parts else b""


def encode_outputs(outputs: Sequence[npt.ArrayLike], layout: Layout) -> bytes:
    """The canonical output bytes of the committed outputs, in graph order, from all of the graph's outputs as the
    runtime gave them (`CodecError` if one does not fit)."""
    info, rows = layout.info, layout.rows
    if len(outputs) != len(info.outputs):
        raise CodecError(f"the model gave {len(outputs)} outputs, its graph has {len(info.outputs)}")
    parts: list[npt.NDArray[np.int64]] = []
    for index, scale in zip(layout.committed, layout.output_scales, strict=True):
        port, array = info.outputs[index], np.asarray(outputs[index])
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


def decode_outputs(data: bytes, layout: Layout) -> dict[str, npt.NDArray[Any]]:
    """The named committed outputs behind canonical output bytes: floats as float64 (element / its scale),
    integers as int64, bools as bool."""
    named: dict[str, npt.NDArray[Any]] = {}
    for port, ints, scale in segments(data, layout, "output"):
        if port.elem_type in FLOAT_TYPES:
            named[port.name] = ints.astype(np.float64) / float(scale)
        elif port.elem_type == "BOOL":
            named[port.name] = ints.astype(np.bool_)
        else:
            named[port.name] = ints
    return named


def labelled(outputs: Mapping[str, npt.NDArray[Any]], layout: Layout) -> dict[str, Any]:
    """The decoded outputs that the card labels, as labels: an integer output as the label of each value (None for
    a value without one), a float output as one {label: value} per row of its last axis."""
    shown: dict[str, Any] = {}
    for port in layout.card.outputs or ():
        if not port.labels or port.name not in outputs:
            continue
        values = np.asarray(outputs[port.name])
        if port.is_float:
            rows = values.reshape(-1, len(port.labels))
            shown[port.name] = [dict(zip(port.labels, map(float, row), strict=True)) for row in rows]
        else:
            shown[port.name] = [port.label_of(int(v)) for v in values.reshape(-1)]
    return shown
