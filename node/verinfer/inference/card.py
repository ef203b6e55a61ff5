"""The model card: what a publisher declares about a model's ports beyond its file, stored in the registry entry
(`ModelSpec.card`) and so committed by the registration like every other term.

The ONNX file is the signature (its hash is the model id), but some choices are the publisher's, not the graph's:

- **a scale per float input and output**: a tree model wants its input at 2^40 to keep every split, while its
  output, a float32, carries at most about 2^15 at the values it gives (see docs/model-authors.md);
- **which outputs are committed**: skl2onnx's classifiers give a label and the probabilities, and a dApp that acts
  on the label need not pay to carry the probabilities;
- **labels**: the names of a probabilities tensor's positions, or of an integer label's values;
- **limits**: the wall clock and memory one request may use, bounded by each node's own sandbox limits.

A card also lists every port as exported (name, dtype, shape with -1 for the batch), so a dApp, a block explorer
or the JS kit can encode inputs and decode outputs from the entry alone, without fetching the model. A node checks
the card against the file before serving: a card that names other ports than the graph's is refused
(`ModelCardError`), so a card cannot make nodes read one graph two ways.

The stored bytes are canonical JSON: UTF-8, keys sorted, no whitespace, integers above 2^53 (scales) as decimal
strings, defaults omitted. `ModelCard.from_bytes` accepts only that form (it re-encodes and compares), so every
reader of one entry sees one card: no duplicate keys, no whitespace variants, no number spellings to disagree on.
Empty bytes are the empty card: every output committed, every float port at the entry's scale, the node's limits.

    card = ModelCard.from_bytes(spec.card)
    ModelCard(outputs=(PortCard("label", "int64", (-1,), commit=False), ...)).to_bytes()
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from verinfer.errors import ModelCardError

if TYPE_CHECKING:
    from verinfer.inference.model_store import ModelInfo

VERSION = 1
MAX_CARD_BYTES = 8_192
"""The registry's bound on `ModelSpec.card` (ModelRegistry.MAX_CARD_BYTES)."""
MAX_NAME_CHARS = 256
MAX_LABEL_CHARS = 128
MAX_RANK = 8
MAX_DIMENSION = 2**32 - 1
"""A dimension fits the registry's uint32."""
SCALE_MAX = 2**64 - 1
TIMEOUT_MS_RANGE = (1, 3_600_000)
MEMORY_MB_RANGE = (16, 1 << 20)

DTYPES: dict[str, str] = {
    "FLOAT16": "float16",
    "FLOAT": "float32",
    "DOUBLE": "float64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "BOOL": "bool",
}
"""ONNX element type -> the card's dtype name (the types the canonical tensor encodes)."""
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
_ELEM_TYPES = {dtype: elem for elem, dtype in DTYPES.items()}


@dataclass(frozen=True)
class PortCard:
    """One graph input or output as the card declares it."""

    name: str
    dtype: str
    """A `DTYPES` value: "float32", "int64", "bool", …"""
    shape: tuple[int, ...]
    """As exported; -1 (first dimension only) is the batch."""
    scale: int | None = None
    """A float port's own fixed-point scale; None: the entry's `scale`. Integer and bool ports travel exactly."""
    labels: tuple[str, ...] = ()
    """Names of the positions of the output's last axis (a probabilities tensor), or of the values 0..n-1 of an
    integer output with one value per row (a class label). Display only: labels change no canonical byte."""
    commit: bool = True
    """Outputs only: whether the output is part of the canonical output (committed, paid for, verified)."""

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def elem_type(self) -> str:
        """The ONNX element type's name, as `TensorInfo.elem_type`."""
        return _ELEM_TYPES[self.dtype]

    @property
    def dynamic_batch(self) -> bool:
        return bool(self.shape) and self.shape[0] == -1

    def label_of(self, value: int) -> str | None:
        """The label of an integer output's value, if it has one."""
        return self.labels[value] if self.labels and not self.is_float and 0 <= value < len(self.labels) else None


@dataclass(frozen=True)
class CardLimits:
    """What one request of the model may use: each node serves it under these, if within its own bounds."""

    timeout_ms: int | None = None
    memory_mb: int | None = None


@dataclass(frozen=True)
class ModelCard:
    """A model entry's card (see the module docstring). `inputs`/`outputs` None: the file's, all committed."""

    inputs: tuple[PortCard, ...] | None = None
    outputs: tuple[PortCard, ...] | None = None
    limits: CardLimits = field(default_factory=CardLimits)

    @property
    def is_empty(self) -> bool:
        return self.inputs is None and self.outputs is None and self.limits == CardLimits()

    @property
    def signature(self) -> CardSignature | None:
        """The ports the card lists, when it lists both sides: enough to encode inputs and decode outputs without
        the model file."""
        if self.inputs is None or self.outputs is None:
            return None
        return CardSignature(self.inputs, self.outputs)

    def to_bytes(self) -> bytes:
        """The canonical bytes to store in the entry (b"" for the empty card)."""
        if self.is_empty:
            return b""
        _validate(self)
        document: dict[str, Any] = {"v": VERSION}
        if self.inputs is not None:
            document["inputs"] = [_port_json(port, output=False) for port in self.inputs]
        if self.outputs is not None:
            document["outputs"] = [_port_json(port, output=True) for port in self.outputs]
        limits = {"memory_mb": self.limits.memory_mb, "timeout_ms": self.limits.timeout_ms}
        if any(v is not None for v in limits.values()):
            document["limits"] = {k: v for k, v in limits.items() if v is not None}
        data = canonical_json(document)
        if len(data) > MAX_CARD_BYTES:
            raise ModelCardError(
                f"the card takes {len(data)} bytes, the registry stores at most {MAX_CARD_BYTES}: shorten labels "
                "or leave them out"
            )
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelCard:
        """The card behind an entry's bytes (`ModelCardError` naming the first problem if they are not a card in
        canonical form)."""
        data = bytes(data)
        if not data:
            return cls()
        if len(data) > MAX_CARD_BYTES:
            raise ModelCardError(f"a card takes at most {MAX_CARD_BYTES} bytes, got {len(data)}")
        try:
            document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ModelCardError(f"the card is not UTF-8 JSON: {exc}") from exc
        card = _card_of(document)
        canonical = card.to_bytes()
        if canonical != data:
            raise ModelCardError(
                f"the card is not in canonical form (sorted keys, no spaces, defaults omitted): expected "
                f"{canonical.decode()!r}"
            )
        return card

    def check(self, info: Ports) -> list[str]:
        """Every way the card's ports differ from the graph's (empty: it describes this file)."""
        problems: list[str] = []
        for role, declared, actual in (("input", self.inputs, info.inputs), ("output", self.outputs, info.outputs)):
            if declared is None:
                continue
            names = [p.name for p in actual]
            if [p.name for p in declared] != names:
                problems.append(f"the card's {role}s {[p.name for p in declared]} are not the graph's {names}")
                continue
            for port, tensor in zip(declared, actual, strict=True):
                dtype = DTYPES.get(tensor.elem_type, tensor.elem_type.lower())
                if port.dtype != dtype:
                    problems.append(f"{role} {port.name!r}: the card says {port.dtype}, the graph {dtype}")
                if port.shape != tensor.shape:
                    problems.append(
                        f"{role} {port.name!r}: the card says shape {list(port.shape)}, the graph {list(tensor.shape)}"
                    )
        return problems

    def checked(self, info: Ports) -> ModelCard:
        """This card, if it describes `info` (`ModelCardError` with every difference if not)."""
        problems = self.check(info)
        if problems:
            raise ModelCardError("the model's card does not describe its file: " + "; ".join(problems))
        return self


@dataclass(frozen=True)
class CardSignature:
    """A card's ports, standing in for the file's `ModelInfo` where only the signature is needed."""

    inputs: tuple[PortCard, ...]
    outputs: tuple[PortCard, ...]


class Ports(Protocol):
    """A model's graph inputs and outputs: a `ModelInfo` (from the file) or a `CardSignature` (from the entry)."""

    @property
    def inputs(self) -> Sequence[Port]: ...
    @property
    def outputs(self) -> Sequence[Port]: ...


class Port(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def elem_type(self) -> str: ...
    @property
    def dynamic_batch(self) -> bool: ...


def canonical_json(document: Any) -> bytes:
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate (from a "\ud800" escape) has no UTF-8 form
        raise ModelCardError(f"the card holds text with no UTF-8 form: {exc}") from exc


def port_of(tensor: Port) -> PortCard:
    """A graph port as a card lists it, with the card's defaults."""
    dtype = DTYPES.get(tensor.elem_type)
    if dtype is None:
        raise ModelCardError(f"{tensor.name!r} is {tensor.elem_type}: no canonical encoding, so no card entry")
    return PortCard(tensor.name, dtype, tuple(tensor.shape))


def card_for(
    info: ModelInfo,
    *,
    scales: Mapping[str, int] | None = None,
    labels: Mapping[str, Sequence[str]] | None = None,
    committed: Sequence[str] | None = None,
    limits: CardLimits | None = None,
) -> ModelCard:
    """The card of a model file with a publisher's choices: `scales` by float port name (others at the entry's
    scale), `labels` by output name, `committed` the outputs to commit (None: all), `limits`. Names that are not the
    graph's are refused."""
    scales, labels = dict(scales or {}), dict(labels or {})
    inputs = {p.name for p in info.inputs}
    outputs = {p.name for p in info.outputs}
    unknown = sorted((set(scales) - inputs - outputs) | (set(labels) - outputs) | (set(committed or ()) - outputs))
    if unknown:
        raise ModelCardError(
            f"the card names ports the model does not have: {unknown} (inputs {sorted(inputs)}, outputs "
            f"{sorted(outputs)})"
        )

    def port(tensor: Port, output: bool) -> PortCard:
        base = port_of(tensor)
        return replace(
            base,
            scale=scales.get(tensor.name),
            labels=tuple(labels.get(tensor.name, ())),
            commit=not output or committed is None or tensor.name in committed,
        )

    card = ModelCard(
        inputs=tuple(port(t, False) for t in info.inputs),
        outputs=tuple(port(t, True) for t in info.outputs),
        limits=limits or CardLimits(),
    )
    _validate(card)
    return card


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _port_json(port: PortCard, *, output: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"dtype": port.dtype, "name": port.name, "shape": list(port.shape)}
    if port.scale is not None:
        entry["scale"] = str(port.scale)
    if port.labels:
        entry["labels"] = list(port.labels)
    if output and not port.commit:
        entry["commit"] = False
    return entry


_PORT_KEYS = {"name", "dtype", "shape", "scale", "labels"}


def _card_of(document: Any) -> ModelCard:
    if not isinstance(document, dict):
        raise ModelCardError(f"a card is a JSON object, got {type(document).__name__}")
    unknown = sorted(set(document) - {"v", "inputs", "outputs", "limits"})
    if unknown:
        raise ModelCardError(f"the card has unknown fields {unknown} (known: v, inputs, outputs, limits)")
    if document.get("v") != VERSION or isinstance(document.get("v"), bool):
        raise ModelCardError(f"the card's version is {document.get('v')!r}; this verinfer reads version {VERSION}")
    inputs = _ports_of(document["inputs"], "input") if "inputs" in document else None
    outputs = _ports_of(document["outputs"], "output") if "outputs" in document else None
    limits = CardLimits()
    if "limits" in document:
        raw = document["limits"]
        if not isinstance(raw, dict) or set(raw) - {"timeout_ms", "memory_mb"}:
            raise ModelCardError(f"the card's limits are an object of timeout_ms and memory_mb, got {raw!r}")
        limits = CardLimits(timeout_ms=raw.get("timeout_ms"), memory_mb=raw.get("memory_mb"))
    card = ModelCard(inputs=inputs, outputs=outputs, limits=limits)
    _validate(card)
    return card


def _ports_of(raw: Any, role: str) -> tuple[PortCard, ...]:
    if not isinstance(raw, list):
        raise ModelCardError(f"the card's {role}s are a list, got {raw!r}")
    ports: list[PortCard] = []
    for i, entry in enumerate(raw):
        where = f"{role} {i}"
        if not isinstance(entry, dict):
            raise ModelCardError(f"the card's {where} is an object, got {entry!r}")
        keys = _PORT_KEYS | ({"commit"} if role == "output" else set())
        unknown = sorted(set(entry) - keys)
        if unknown or not {"name", "dtype", "shape"} <= set(entry):
            raise ModelCardError(
                f"the card's {where} has fields {sorted(entry)}: name, dtype, shape required, of {sorted(keys)}"
            )
        if not isinstance(entry["name"], str) or not isinstance(entry["dtype"], str):
            raise ModelCardError(
                f"the card's {where} name and dtype are strings, got {entry['name']!r}, {entry['dtype']!r}"
            )
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ModelCardError(f"the card's {where} shape is a list of integers, got {shape!r}")
        scale = entry.get("scale")
        if scale is not None:
            if not isinstance(scale, str) or not scale.isascii() or not scale.isdigit():
                raise ModelCardError(f"the card's {where} scale is a decimal string, got {scale!r}")
            scale = int(scale)
        labels = entry.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise ModelCardError(f"the card's {where} labels are a list of strings, got {labels!r}")
        commit = entry.get("commit", True)
        if not isinstance(commit, bool):
            raise ModelCardError(f"the card's {where} commit is true or false, got {commit!r}")
        ports.append(PortCard(entry["name"], entry["dtype"], tuple(shape), scale, tuple(labels), commit))
    return tuple(ports)


def _validate(card: ModelCard) -> None:
    for role, ports in (("input", card.inputs), ("output", card.outputs)):
        if ports is None:
            continue
        names = [p.name for p in ports]
        if len(set(names)) != len(names):
            raise ModelCardError(f"the card lists {role}s {names}: each name once")
        for port in ports:
            _validate_port(port, role)
    if card.outputs is not None and not any(p.commit for p in card.outputs):
        raise ModelCardError("the card commits no output: a result must commit at least one (drop commit: false)")
    for name, value, (low, high) in (
        ("timeout_ms", card.limits.timeout_ms, TIMEOUT_MS_RANGE),
        ("memory_mb", card.limits.memory_mb, MEMORY_MB_RANGE),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise ModelCardError(f"the card's limit {name} is an integer in [{low}, {high}], got {value!r}")


def _control(char: str) -> bool:
    """C0, DEL, C1 controls and surrogates: a fixed set (not `str.isprintable`, whose answer moves with each Unicode
    version, so that every reader of a card, in any language or version, accepts the same labels)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


def _validate_port(port: PortCard, role: str) -> None:
    where = f"{role} {port.name!r}"
    if not isinstance(port.name, str) or not 0 < len(port.name) <= MAX_NAME_CHARS or any(map(_control, port.name)):
        raise ModelCardError(
            f"a card's port name is 1 to {MAX_NAME_CHARS} characters, none a control character, got {port.name!r}"
        )
    if port.dtype not in DTYPES.values():
        raise ModelCardError(f"{where}: dtype {port.dtype!r} has no canonical encoding ({sorted(DTYPES.values())})")
    dims = port.shape
    bad = [d for i, d in enumerate(dims) if not (1 <= d <= MAX_DIMENSION or (i == 0 and d == -1))]
    if not 1 <= len(dims) <= MAX_RANK or bad:
        raise ModelCardError(
            f"{where}: shape {list(dims)} has 1 to {MAX_RANK} dimensions, each in [1, {MAX_DIMENSION}] (-1, the "
            "batch, first only)"
        )
    if port.scale is not None and not port.is_float:
        raise ModelCardError(f"{where} is {port.dtype}: it travels exactly, so it takes no scale")
    if port.scale is not None and not 1 <= port.scale <= SCALE_MAX:
        raise ModelCardError(f"{where}: scale {port.scale} is outside [1, 2**64 - 1]")
    if role == "input" and port.labels:
        raise ModelCardError(f"{where}: labels name outputs only")
    if role == "input" and not port.commit:
        raise ModelCardError(f"{where}: every input is part of the request; commit applies to outputs")
    for label in port.labels:
        if not 0 < len(label) <= MAX_LABEL_CHARS or any(_control(c) for c in label):
            raise ModelCardError(
                f"{where}: a label is 1 to {MAX_LABEL_CHARS} characters, none a control character or surrogate, "
                f"got {label!r}"
            )
    if port.labels:
        if port.is_float and dims[-1] != len(port.labels):
            raise ModelCardError(
                f"{where}: {len(port.labels)} labels for a last axis of {dims[-1]}: one label per position"
            )
        per_row = math.prod(dims[1:]) if dims[0] == -1 else math.prod(dims)
        if not port.is_float and per_row != 1:
            raise ModelCardError(
                f"{where}: labels name an integer output's values only when it has one value per row, it has {per_row}"
            )
