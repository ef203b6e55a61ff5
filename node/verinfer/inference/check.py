"""`verinfer model check`: everything that would stop a model from registering, serving or giving the float model's
answers, found at once, each problem with its fix.

Three kinds of finding:
- problems: what the registry or the node refuses today (file size, custom or unknown operators, opsets
  onnxruntime cannot load, dtypes without a canonical encoding (strings, uint64, complex), non-tensor outputs other
  than a trailing ZipMap, symbolic dimensions past the batch one, tensors over the hub's limits), and, for
  registration, a URI that does not serve these bytes;
- the fidelity report, for a float input: the node hands the model the input as it travelled, rounded to the
  model's fixed-point scale, so the served output is the float model's on a rounded input. A tree model flips a
  split when rounding crosses its threshold. For sample rows (given, or generated from the input's shape), the
  report counts rows whose outputs differ from the float model's at each candidate scale, and recommends the
  smallest scale at which every row is identical (or, when none is, the one with the fewest differing rows).

Nothing here raises for a bad model: every finding is a value in the `ModelCheck`, so a caller shows them all.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from eth_hash.auto import keccak
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]  # stubs optional

from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec
from verinfer.inference.model_store import (
    SCHEMES,
    STANDARD_DOMAINS,
    ModelHashMismatchError,
    ModelStore,
    ModelTooLargeError,
    ModelUnreachableError,
    UnsupportedUriError,
    _nodes,
    _tensors,
    strip_zipmaps,
)
from verinfer.inference.runner import _ORT_ERRORS, PROVIDER
from verinfer.inference.signature import SUPPORTED_TYPES
from verinfer.types import MAX_MODEL_BYTES, MAX_TENSOR_BYTES, MAX_TENSOR_RANK, MAX_TENSOR_VALUES

CANDIDATE_SCALES: tuple[tuple[str, int], ...] = (
    ("1e6", 10**6),
    ("1e9", 10**9),
    ("2^35", 2**35),
    ("2^40", 2**40),
    ("2^44", 2**44),
    ("2^48", 2**48),
)
"""(name, scale) tried by the fidelity report, smallest first; the registry's scale is a uint64."""
GENERATED_ROWS = 200
URI_TIMEOUT = 30.0

_STATIC_SHAPE_FIX = (
    "export with fixed feature dimensions (skl2onnx/onnxmltools: initial_types=[('input', "
    "FloatTensorType([None, n_features]))]), or fix them afterwards: "
    "onnx.tools.update_model_dims.update_inputs_outputs_dims(model, {input: ['N', n]}, {output: ['N', k]})"
)


@dataclass(frozen=True)
class Problem:
    """One reason the model cannot be registered or served as it is, and what to do about it."""

    code: str
    """A stable name for the kind of problem: "unknown-op", "dtype", "symbolic-dim", …"""
    message: str
    fix: str


@dataclass(frozen=True)
class ScaleFidelity:
    """The served model at one input scale, against the float model on the same rows."""

    name: str
    scale: int
    rows_differing: int
    max_error: float
    """The largest absolute difference between served and float outputs, over all rows and outputs."""
    unusable: str | None = None
    """Why this scale cannot carry the rows or the outputs (a value does not fit int64); None when it can."""

    @property
    def exact(self) -> bool:
        return self.unusable is None and self.rows_differing == 0


@dataclass(frozen=True)
class FidelityReport:
    """Served vs float outputs on `rows` sample rows at each candidate scale."""

    input_name: str
    rows: int
    generated: bool
    """True when the rows were drawn from a standard normal in the input's shape, not given by the user."""
    scales: tuple[ScaleFidelity, ...]
    largest_output: float = 0.0
    """The largest |value| of any float output over the rows (the float model's)."""

    @property
    def output_scale_limit(self) -> int | None:
        """The largest power-of-two scale at which one float32 step of the largest output is at most one canonical
        unit: above it, every float difference between two runtimes (an FMA, another summation order) becomes a
        canonical difference, and honest nodes disagree. None without float outputs."""
        if not self.largest_output > 0 or not math.isfinite(self.largest_output):
            return None
        # float32 has 24 significant bits: one step at |y| in [2^e, 2^(e+1)) is 2^(e - 23).
        exponent = math.frexp(self.largest_output)[1] - 1
        return 1 << max(23 - exponent, 0)

    @property
    def recommended(self) -> ScaleFidelity | None:
        """The smallest exact scale; else the usable one with the fewest differing rows, then smallest error."""
        exact = [s for s in self.scales if s.exact]
        if exact:
            return min(exact, key=lambda s: s.scale)
        usable = [s for s in self.scales if s.unusable is None]
        return min(usable, key=lambda s: (s.rows_differing, s.max_error, s.scale)) if usable else None

    def at(self, scale: int) -> ScaleFidelity | None:
        return next((s for s in self.scales if s.scale == scale), None)


@dataclass(frozen=True)
class ModelCheck:
    """Every finding about one model file."""

    model_id: bytes
    size: int
    problems: tuple[Problem, ...]
    fidelity: FidelityReport | None
    fidelity_skipped: str | None
    """Why there is no fidelity report (the model does not load, its input is not float, …); None when there is."""

    @property
    def ok(self) -> bool:
        return not self.problems


def check_model(
    model: Path | bytes,
    samples: npt.ArrayLike | None = None,
    *,
    scales: Sequence[tuple[str, int]] = CANDIDATE_SCALES,
    max_model_bytes: int = MAX_MODEL_BYTES,
    generated_rows: int = GENERATED_ROWS,
    seed: int = 0,
) -> ModelCheck:
    """Checks the ONNX file (a path or its bytes) the way the registry and the node will treat it, and reports the
    fidelity of serving it at each of `scales` on `samples` (rows of the input's values, one row per request; drawn
    from a standard normal when not given)."""
    data = model if isinstance(model, bytes) else _read(model)
    model_id = bytes(keccak(data))
    problems: list[Problem] = []
    if len(data) > max_model_bytes:
        problems.append(
            Problem(
                "file-size",
                f"the file is {len(data)} bytes, over the {max_model_bytes}-byte limit nodes fetch",
                "shrink the model (fewer trees or features, float16 weights), or have nodes raise max_model_bytes",
            )
        )
    try:
        proto = onnx.load_model_from_string(data)
    except DecodeError as exc:
        problems.append(Problem("invalid", f"not an ONNX model: {exc}", "export the model to ONNX again"))
        return ModelCheck(model_id, len(data), tuple(problems), None, "the file is not an ONNX model")
    if proto.ir_version <= 0 or not proto.graph.node:
        problems.append(Problem("invalid", "not an ONNX model: no IR version or no graph nodes", "export it again"))
        return ModelCheck(model_id, len(data), tuple(problems), None, "the file is not an ONNX model")
    problems.extend(_static_problems(proto))
    try:
        session: ort.InferenceSession | None = _session(data)
    except _ORT_ERRORS as exc:
        session = None
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(
            Problem(
                "load",
                f"onnxruntime {ort.__version__} cannot load the model: {first_line}",
                "fix the operator and opset problems listed; export for an opset this onnxruntime supports "
                "(a lower target_opset)",
            )
        )
    if session is None:
        return ModelCheck(model_id, len(data), tuple(problems), None, "onnxruntime cannot load the model")
    fidelity, skipped, sample_problem = _fidelity(session, samples, scales, generated_rows, seed)
    if sample_problem is not None:
        problems.append(sample_problem)
    return ModelCheck(model_id, len(data), tuple(problems), fidelity, skipped)


def check_uri(
    model_id: bytes, uri: str, *, timeout: float = URI_TIMEOUT, max_model_bytes: int = MAX_MODEL_BYTES
) -> list[Problem]:
    """Fetches `uri` the way a node does (into a throwaway cache) and reports why a node could not serve model
    `model_id` from it: a scheme nodes do not fetch, an unreachable file, other bytes, too many bytes."""
    with tempfile.TemporaryDirectory(prefix="verinfer-check-") as cache:
        store = ModelStore(cache, max_bytes=max_model_bytes, timeout=timeout, limit_name="max_model_bytes")
        try:
            store.fetch(model_id, uri)
        except UnsupportedUriError as exc:
            fix = f"host the file where nodes fetch from: {', '.join(f'{s}://' for s in SCHEMES)}"
            return [Problem("uri-scheme", str(exc), fix)]
        except ModelUnreachableError as exc:
            return [Problem("uri-unreachable", str(exc), "upload the file there first, or pass the URI that serves it")]
        except ModelHashMismatchError as exc:
            return [Problem("uri-bytes", str(exc), "upload this exact file to the URI (byte for byte)")]
        except ModelTooLargeError as exc:
            return [Problem("uri-size", str(exc), "shrink the model")]
        except ModelError as exc:
            return [Problem("uri", str(exc), "check the URI")]
    return []


# ------------------------------------------------------------------------------------------------- static checks


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # the node's default
    options.log_severity_level = 4
    return ort.InferenceSession(data, options, providers=[PROVIDER])


def _max_opset(domain: str) -> int:
    if domain == "":
        return int(onnx.defs.onnx_opset_version())
    return max(int(s.since_version) for s in onnx.defs.get_all_schemas_with_history() if s.domain == domain)


def _static_problems(model: onnx.ModelProto) -> Iterator[Problem]:
    yield from _tensor_location_problems(model)
    yield from _operator_problems(model)
    served = onnx.ModelProto()
    served.CopyFrom(model)
    strip_zipmaps(served)  # a trailing ZipMap is committed as its probabilities tensor, as the node serves it
    initializers = {t.name for t in served.graph.initializer} | {t.values.name for t in served.graph.sparse_initializer}
    inputs = [value for value in served.graph.input if value.name not in initializers]
    outputs = list(served.graph.output)
    if not inputs:
        yield Problem("inputs", "the model has no inputs", "export the model with its feature input")
    for role, values in (("input", inputs), ("output", outputs)):
        problems = [p for value in values for p in _value_problems(value, role)]
        yield from problems
        total = sum(_values(value) for value in values)
        if len(values) > 1 and total > MAX_TENSOR_VALUES and not any(p.code == "tensor-size" for p in problems):
            yield Problem(
                "tensor-size",
                f"the {role}s hold {total} values together (one canonical tensor), over the hub's limit of "
                f"{MAX_TENSOR_VALUES} values ({MAX_TENSOR_BYTES} bytes)",
                "make the tensors smaller, or commit fewer outputs",
            )


def _values(value: onnx.ValueInfoProto) -> int:
    """Values per row of a port (a symbolic or missing dimension counted as 1)."""
    if not value.type.HasField("tensor_type"):
        return 0
    return math.prod(int(d.dim_value) if d.dim_value > 0 else 1 for d in value.type.tensor_type.shape.dim)


def _tensor_location_problems(model: onnx.ModelProto) -> Iterator[Problem]:
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            yield Problem(
                "external-data",
                f"tensor {tensor.name!r} keeps its data in an external file: the model id covers only the .onnx file",
                "save all tensors inside the file: onnx.save_model(model, path, save_as_external_data=False)",
            )


def _operator_problems(model: onnx.ModelProto) -> Iterator[Problem]:
    imported = {("" if e.domain == "ai.onnx" else e.domain): int(e.version) for e in model.opset_import}
    for domain, version in sorted(imported.items()):
        if domain in STANDARD_DOMAINS and version > _max_opset(domain):
            yield Problem(
                "opset",
                f"the model imports opset {version} of domain {domain or 'ai.onnx'!r}; onnx {onnx.__version__} "
                f"knows up to {_max_opset(domain)}",
                f"export with target_opset <= {_max_opset(domain)} (and one onnxruntime {ort.__version__} supports)",
            )
    local = {(f.domain, f.name) for f in model.functions}
    seen: set[tuple[str, str]] = set()
    for node in _nodes(model):
        domain = "" if node.domain == "ai.onnx" else node.domain
        key = (domain, node.op_type)
        if key in seen or key in local:
            continue
        seen.add(key)
        if domain not in STANDARD_DOMAINS:
            yield Problem(
                "custom-op",
                f"operator {node.op_type!r} comes from domain {node.domain!r}: the node runs only the standard "
                "domains ('', 'ai.onnx', 'ai.onnx.ml')",
                "export without custom operators (no onnxruntime-extensions, no contrib ops)",
            )
        elif not onnx.defs.has(node.op_type, domain):
            yield Problem(
                "unknown-op",
                f"operator {node.op_type!r} is not an ONNX operator of domain {domain or 'ai.onnx'!r}",
                "replace it with standard operators, or use an exporter and opset that emit only standard ones",
            )


def _value_problems(value: onnx.ValueInfoProto, role: str) -> Iterator[Problem]:
    what = f"{role} {value.name!r}"
    if not value.type.HasField("tensor_type"):
        kind = value.type.WhichOneof("value")
        yield Problem(
            "not-tensor",
            f"the {what} is a {kind}, not a tensor (only a ZipMap at the end of the graph is committed, as its "
            "probabilities tensor)",
            "make it a tensor output, or drop it: onnx.utils.extract_model(src, dst, [<inputs>], [<tensor outputs>])",
        )
        return
    tensor = value.type.tensor_type
    elem = onnx.TensorProto.DataType.Name(tensor.elem_type)
    if elem not in SUPPORTED_TYPES:
        yield Problem(
            "dtype",
            f"the {what} is {elem}: the canonical tensor carries {', '.join(sorted(SUPPORTED_TYPES))}",
            "cast it inside the graph to a supported type (a Cast node to float32 or int64)",
        )
    if not tensor.HasField("shape"):
        yield Problem("symbolic-dim", f"the {what} has no shape", f"declare a static one: {_STATIC_SHAPE_FIX}")
        return
    dims = list(tensor.shape.dim)
    symbolic = [
        f"{i} ({d.dim_param!r})" if d.HasField("dim_param") else f"{i} (missing)"
        for i, d in enumerate(dims)
        if i > 0 and not (d.HasField("dim_value") and d.dim_value > 0)  # dimension 0 may be the batch
    ]
    if symbolic:
        yield Problem(
            "symbolic-dim",
            f"dimension {', '.join(symbolic)} of the {what} is not a positive constant: only the first (the batch, "
            "N rows per request) may be symbolic",
            _STATIC_SHAPE_FIX,
        )
    if not dims:
        yield Problem("rank", f"the {what} is a scalar: the registry needs at least one dimension", "reshape it to [1]")
    elif len(dims) > MAX_TENSOR_RANK:
        yield Problem(
            "rank",
            f"the {what} has {len(dims)} dimensions, over the registry's {MAX_TENSOR_RANK}",
            "reshape it to fewer dimensions inside the graph",
        )
    values = math.prod(int(d.dim_value) if d.dim_value > 0 else 1 for d in dims)
    if values > MAX_TENSOR_VALUES:
        yield Problem(
            "tensor-size",
            f"the {what} holds {values} values ({values * codec.ELEMENT_BYTES} bytes encoded), over the hub's "
            f"limit of {MAX_TENSOR_VALUES} values ({MAX_TENSOR_BYTES} bytes)",
            "make the tensor smaller: fewer features, a smaller image, or reduce it inside the graph",
        )


# ------------------------------------------------------------------------------------------------- fidelity


def _fidelity(
    session: ort.InferenceSession,
    samples: npt.ArrayLike | None,
    scales: Sequence[tuple[str, int]],
    generated_rows: int,
    seed: int,
) -> tuple[FidelityReport | None, str | None, Problem | None]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        return None, f"the model has {len(inputs)} inputs; the report needs exactly one", None
    spec = inputs[0]
    if spec.type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
        return None, f"input {spec.name!r} is {spec.type}: the report is for float inputs", None
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}[spec.type]
    # A symbolic dimension (the batch, most often) runs one row at a time: one request's worth.
    shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)
    width = math.prod(shape)
    generated = samples is None
    if samples is None:
        rows = np.random.default_rng(seed).standard_normal((generated_rows, width))
    else:
        try:
            rows = np.asarray(samples, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            return None, "the sample rows are not numbers", Problem("samples", f"sample rows: {exc}", "give numbers")
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows.reshape(len(rows), -1)
        if rows.shape[1] != width or len(rows) == 0:
            problem = Problem(
                "samples",
                f"the sample rows have {rows.shape[1]} values each; input {spec.name!r} {list(spec.shape)} takes "
                f"{width} per row",
                f"give {width} values per row",
            )
            return None, "the sample rows do not fit the input", problem
    try:
        floats = [_run(session, spec.name, row.astype(dtype).reshape(shape)) for row in rows]
    except _ORT_ERRORS as exc:
        message = f"onnxruntime fails on a sample row: {str(exc).strip().splitlines()[0]}"
        return None, message, Problem("run", message, "check the model runs on rows of its input shape")
    if not floats[0]:
        return None, "the model has no tensor outputs to compare", None
    results = tuple(_at_scale(session, spec.name, rows, floats, shape, dtype, name, s) for name, s in scales)
    largest = max(
        (float(np.max(np.abs(out), initial=0.0)) for outs in floats for out in outs if out.dtype.kind == "f"),
        default=0.0,
    )
    return FidelityReport(spec.name, len(rows), generated, results, largest), None, None


def _run(session: ort.InferenceSession, name: str, array: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
    """The model's tensor outputs (a ZipMap's list of dicts is not one)."""
    return [np.asarray(out) for out in session.run(None, {name: array}) if isinstance(out, np.ndarray)]


def _at_scale(
    session: ort.InferenceSession,
    name: str,
    rows: npt.NDArray[np.float64],
    floats: list[list[npt.NDArray[Any]]],
    shape: tuple[int, ...],
    dtype: Any,
    scale_name: str,
    scale: int,
) -> ScaleFidelity:
    differing, max_error = 0, 0.0
    try:
        for row, expected in zip(rows, floats, strict=True):
            # What a node hands the model: the row as it travelled (quantized), decoded, as float32, then the dtype.
            served = codec.decode(codec.encode(row, scale), (len(row),), scale).astype(np.float32).astype(dtype)
            outputs = _run(session, name, served.reshape(shape))
            for out in outputs:
                if out.dtype.kind in "fiu":
                    codec.quantize(out, scale)  # the output travels at the same scale: it must fit too
            if any(not np.array_equal(a, b) for a, b in zip(outputs, expected, strict=True)):
                differing += 1
                max_error = max(max_error, *(_error(a, b) for a, b in zip(outputs, expected, strict=True)))
    except CodecError as exc:
        return ScaleFidelity(scale_name, scale, differing, max_error, unusable=str(exc))
    return ScaleFidelity(scale_name, scale, differing, max_error)


def _error(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    if a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
        return 0.0 if np.array_equal(a, b) else math.inf
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))
