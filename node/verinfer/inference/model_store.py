"""Model files by id: fetched from the URI the registry holds, checked against the id, cached on disk.

A model id is keccak256 of the ONNX file's bytes, so the id alone says whether a file is the registered model.
Nothing is cached or handed out unless its hash equals the id, and a cached file is hashed again every time it is
read. `inspect_model` then decides whether the node will run a model at all: self-contained (no external data),
standard operators only, tensor inputs and outputs of static shape but for a batch dimension (a trailing skl2onnx
ZipMap is replaced by the probabilities tensor it wraps; see `verinfer.inference.signature`).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx
import numpy as np
import onnx
from eth_hash.auto import keccak
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]  # stubs optional

from verinfer.errors import ModelError
from verinfer.inference.signature import SUPPORTED_TYPES

CHUNK_BYTES = 1 << 16
SCHEMES = ("file", "http", "https")
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


class UnsupportedUriError(ModelError):
    """A model URI uses a scheme the store does not fetch."""


class ModelUnreachableError(ModelError):
    """A model's bytes could not be read: missing file, network error, timeout, non-200 answer."""


class ModelTooLargeError(ModelError):
    """A model file is bigger than the store's limit."""


class ModelHashMismatchError(ModelError):
    """The bytes at a URI are not the model the id names."""

    def __init__(self, expected: bytes, actual: bytes, uri: str) -> None:
        self.expected = expected
        self.actual = actual
        self.uri = uri
        super().__init__(
            f"the file at {uri} is not model 0x{expected.hex()}: its keccak256 is 0x{actual.hex()}. "
            "A model id is keccak256 of the exact ONNX file; point the registry entry at that file, "
            f"or register this file as model 0x{actual.hex()}"
        )


class UnsupportedModelError(ModelError):
    """The node refuses to run this model (the subclass says why)."""


class InvalidModelError(UnsupportedModelError):
    """The bytes are not a valid ONNX model."""


class ExternalDataError(UnsupportedModelError):
    """A tensor keeps its data in a separate file: the model id would not cover those bytes."""


class CustomOperatorError(UnsupportedModelError):
    """A node uses an operator outside the standard ONNX domains."""


class ModelSignatureError(UnsupportedModelError):
    """An input or output is not a tensor of a supported element type, or a caller needs exactly one."""


class DynamicShapeError(UnsupportedModelError):
    """An input or output dimension is symbolic or missing."""


def _model_id(model_id: bytes) -> bytes:
    if not isinstance(model_id, bytes | bytearray) or len(model_id) != 32:
        raise ModelError(f"a model id is 32 bytes (keccak256 of the file), got {model_id!r}")
    return bytes(model_id)


@dataclass
class _Sink:
    """Counts, hashes and writes bytes as they arrive, refusing to go past the size limit."""

    out: IO[bytes]
    limit: int
    source: str
    limit_name: str
    size: int = 0
    hasher: Any = field(default_factory=lambda: keccak.new(b""))

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise ModelTooLargeError(
                f"the model at {self.source} is over the {self.limit}-byte limit: "
                f"raise {self.limit_name} if it is expected"
            )
        self.hasher.update(chunk)
        try:
            self.out.write(chunk)
        except OSError as exc:
            raise ModelError(f"cannot write the model from {self.source} into the cache: {exc}") from exc


class ModelStore:
    """Fetches model files into `cache_dir`, named by id. `timeout` bounds every network read (and the connect, unless
    `connect_timeout` is given), `total_timeout` a whole download, and `min_bytes_per_s` its average rate once
    `timeout` has passed (a host that trickles a byte at a time is abandoned, not waited on for the total);
    `schemes` limits which URIs it follows (drop "file" on a node that should never read local paths named on
    chain); `limit_name` is the setting that raises `max_bytes`, as the user spells it, for the too-large error."""

    def __init__(
        self,
        cache_dir: Path | str,
        max_bytes: int,
        timeout: float,
        *,
        total_timeout: float = 600.0,
        connect_timeout: float | None = None,
        min_bytes_per_s: int = 0,
        schemes: Collection[str] = SCHEMES,
        transport: httpx.BaseTransport | None = None,
        limit_name: str = "max_bytes",
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ModelError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        if not timeout > 0 or not total_timeout > 0:
            raise ModelError(f"timeouts must be positive, got timeout={timeout!r}, total_timeout={total_timeout!r}")
        unknown = set(schemes) - set(SCHEMES)
        if unknown:
            raise ModelError(f"cannot fetch URI schemes {sorted(unknown)}; supported: {', '.join(SCHEMES)}")
        self.cache_dir = Path(cache_dir)
        self.max_bytes = max_bytes
        self.limit_name = limit_name
        self.timeout = float(timeout)
        self.total_timeout = float(total_timeout)
        self.connect_timeout = float(connect_timeout) if connect_timeout else self.timeout
        self.min_bytes_per_s = int(min_bytes_per_s)
        self.schemes = frozenset(schemes)
        self._transport = transport
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the model cache {self.cache_dir}: {exc}") from exc

    def path_for(self, model_id: bytes) -> Path:
        """Where the model lives in the cache (whether or not it is there)."""
        return self.cache_dir / f"{_model_id(model_id).hex()}.onnx"

    def cached(self, model_id: bytes) -> Path | None:
        """The cached file if it is there and still hashes to the id; a corrupt entry is deleted."""
        path = self.path_for(model_id)
        try:
            with path.open("rb") as file:
                hasher = keccak.new(b"")
                while chunk := file.read(CHUNK_BYTES):
                    hasher.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelError(f"cannot read the cached model {path}: {exc}") from exc
        if hasher.digest() == bytes(model_id):
            return path
        path.unlink(missing_ok=True)
        return None

    def fetch(self, model_id: bytes, uri: str) -> Path:
        """The path of the verified model file: from the cache, or fetched from `uri`, checked and cached."""
        model_id = _model_id(model_id)
        hit = self.cached(model_id)
        if hit is not None:
            return hit
        scheme = urlsplit(uri).scheme.lower()
        if scheme not in self.schemes:
            what = f"the {scheme!r} scheme is" if scheme else "a URI without a scheme is"
            raise UnsupportedUriError(
                f"cannot fetch model 0x{model_id.hex()} from {uri!r}: {what} not supported; "
                f"use one of {', '.join(sorted(f'{s}://' for s in self.schemes))}"
            )
        with self._staging(model_id) as staging:
            sink = _Sink(staging, self.max_bytes, uri, self.limit_name)
            if scheme == "file":
                self._read_file(uri, sink)
            else:
                self._download(uri, sink)
            actual = bytes(sink.hasher.digest())
            if actual != model_id:
                raise ModelHashMismatchError(model_id, actual, uri)
        return self.path_for(model_id)

    def fetch_first(self, model_id: bytes, uris: Iterable[str]) -> Path:
        """`fetch` from the first of `uris` that serves the file (the entry's URI, then its mirrors: the hash is the
        id, so any of them is as good). `uris` is consumed lazily: mirrors are read only if the first URI fails.
        The first URI's error class is raised if none serves it, its message naming every URI tried."""
        failures: list[tuple[str, ModelError]] = []
        for uri in uris:
            try:
                return self.fetch(model_id, uri)
            except ModelError as exc:
                failures.append((uri, exc))
        if not failures:
            raise ModelError(f"model 0x{_model_id(model_id).hex()} has no URI to fetch it from")
        first = failures[0][1]
        if len(failures) == 1:
            raise first
        tried = "; ".join(f"{uri}: {exc}" for uri, exc in failures)
        error = ModelError(f"no URI of model 0x{_model_id(model_id).hex()} serves it ({len(failures)} tried): {tried}")
        error.__cause__ = first
        raise error

    def bundle_dir(self, bundle_id: bytes) -> Path:
        """Where a bundle's files live in the cache (whether or not they are there)."""
        return self.cache_dir / f"{_model_id(bundle_id).hex()}.bundle"

    def fetch_to(self, uri: str, target: Path, limit: int) -> tuple[int, bytes]:
        """Writes the bytes at `uri` into `target` (at most `limit` of them, with this store's schemes, timeouts and
        rate floor); returns their size and keccak256 for the caller to check. Bundles fetch their files with it."""
        scheme = urlsplit(uri).scheme.lower()
        if scheme not in self.schemes:
            raise UnsupportedUriError(
                f"cannot fetch {uri!r}: the {scheme!r} scheme is not supported; "
                f"use one of {', '.join(sorted(f'{s}://' for s in self.schemes))}"
            )
        try:
            with target.open("wb") as out:
                sink = _Sink(out, limit, uri, self.limit_name)
                if scheme == "file":
                    self._read_file(uri, sink)
                else:
                    self._download(uri, sink)
        except OSError as exc:
            raise ModelError(f"cannot write {uri} into {target}: {exc}") from exc
        return sink.size, bytes(sink.hasher.digest())

    @contextmanager
    def _staging(self, model_id: bytes) -> Iterator[IO[bytes]]:
        """A temp file in the cache directory, renamed onto the cache entry only if the block completes."""
        final = self.path_for(model_id)
        try:
            fd, name = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{final.stem[:16]}.", suffix=".part")
        except OSError as exc:
            raise ModelError(f"cannot write into the model cache {self.cache_dir}: {exc}") from exc
        staged = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            staged.replace(final)
            _fsync_dir(self.cache_dir)
        except OSError as exc:
            raise ModelError(f"cannot write model 0x{model_id.hex()} into the cache {self.cache_dir}: {exc}") from exc
        finally:
            staged.unlink(missing_ok=True)

    def _read_file(self, uri: str, sink: _Sink) -> None:
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedUriError(f"{uri!r} names host {parts.netloc!r}: a file URI must be file:///absolute/path")
        path = Path(url2pathname(unquote(parts.path)))
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size > sink.limit:
                    raise ModelTooLargeError(
                        f"{path} is {size} bytes, over the {sink.limit}-byte limit: "
                        f"raise {sink.limit_name} if it is expected"
                    )
                while chunk := file.read(CHUNK_BYTES):
                    sink.write(chunk)
        except OSError as exc:
            raise ModelUnreachableError(f"cannot read the model file {path} ({uri}): {exc.strerror or exc}") from exc

    def _download(self, uri: str, sink: _Sink) -> None:
        started = time.monotonic()
        deadline = started + self.total_timeout
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            with (
                httpx.Client(timeout=timeout, transport=self._transport, follow_redirects=True) as client,
                # identity: a compressed body could expand far past the limit inside a single decoded chunk
                client.stream("GET", uri, headers={"accept-encoding": "identity"}) as response,
            ):
                if response.status_code != httpx.codes.OK:
                    raise ModelUnreachableError(f"GET {uri} answered {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > sink.limit:
                    raise ModelTooLargeError(
                        f"{uri} announces {declared} bytes, over the {sink.limit}-byte limit: "
                        f"raise {sink.limit_name} if it is expected"
                    )
                for chunk in response.iter_bytes():  # as received: the limit holds per network read
                    sink.write(chunk)
                    now = time.monotonic()
                    if now > deadline:
                        raise ModelUnreachableError(
                            f"downloading {uri} took over {self.total_timeout:g}s (got {sink.size} bytes so far)"
                        )
                    elapsed = now - started
                    if elapsed > self.timeout and sink.size < self.min_bytes_per_s * elapsed:
                        raise ModelUnreachableError(
                            f"downloading {uri} is too slow: {sink.size} bytes in {elapsed:.0f}s, under the minimum "
                            f"of {self.min_bytes_per_s} bytes/s (fetch_min_bytes_per_s)"
                        )
        except httpx.TimeoutException as exc:
            raise ModelUnreachableError(f"{uri} did not answer within {self.timeout:g}s: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise ModelUnreachableError(f"cannot download {uri}: {exc!r}") from exc


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX; Windows has no directory fds).
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output. `shape` holds -1 for a symbolic batch dimension (only with allow_dynamic_batch)."""

    name: str
    shape: tuple[int, ...]
    elem_type: str
    """The ONNX element type's name: "FLOAT", "INT64", …"""

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(getattr(onnx.TensorProto, self.elem_type)))

    @property
    def dynamic_batch(self) -> bool:
        return bool(self.shape) and self.shape[0] == -1


@dataclass(frozen=True)
class ModelInfo:
    """What a model takes and gives, from its graph: its inputs and its committed outputs, in graph order."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ir_version: int
    opsets: tuple[tuple[str, int], ...]
    """(domain, version) of each imported operator set; "" is the default ONNX domain."""
    serving: bytes = field(default=b"", repr=False, compare=False)
    """The graph onnxruntime loads: the file's bytes, or them with a trailing ZipMap replaced by its tensor (empty
    after `signature_only`)."""
    zipmaps: tuple[str, ...] = ()
    """Outputs that were a ZipMap's sequence of maps and are committed as its probabilities tensor."""

    def signature_only(self) -> ModelInfo:
        """This description without the graph's bytes, to keep beside a loaded session (a model can be 512 MiB)."""
        return replace(self, serving=b"")

    @property
    def input(self) -> TensorInfo:
        return _only(self.inputs, "input")

    @property
    def output(self) -> TensorInfo:
        return _only(self.outputs, "output")


def _only(ports: tuple[TensorInfo, ...], role: str) -> TensorInfo:
    if len(ports) != 1:
        raise ModelSignatureError(
            f"the model has {len(ports)} {role}s {[p.name for p in ports]}: address them by name "
            "(verinfer.inference.signature)"
        )
    return ports[0]


def inspect_model(data: bytes, *, allow_dynamic_batch: bool = False) -> ModelInfo:
    """Parses an ONNX file and refuses, with a named error, what the node will not run; otherwise describes it.

    `allow_dynamic_batch` accepts a symbolic first dimension (the runner batches on it, a request carrying the
    entry's N rows); everything else must be static.
    """
    try:
        model = onnx.load_model_from_string(bytes(data))
    except DecodeError as exc:
        raise InvalidModelError(f"not an ONNX model: {exc}") from exc
    # Protobuf parses almost anything; a model has at least an IR version and a graph with a node. Deeper validity is
    # onnxruntime's to judge when it loads the model (onnx.checker would also refuse nodes in the explicit "ai.onnx"
    # domain, which onnxruntime runs).
    if model.ir_version <= 0 or not model.graph.node:
        raise InvalidModelError("not an ONNX model: no IR version or no graph nodes")
    _refuse_external_data(model)
    _refuse_custom_operators(model)
    zipmaps = strip_zipmaps(model)
    initializers = {t.name for t in model.graph.initializer} | {t.values.name for t in model.graph.sparse_initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    outputs = list(model.graph.output)
    if not inputs or not outputs:
        raise ModelSignatureError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs: it needs both")
    return ModelInfo(
        inputs=tuple(_tensor_info(value, "input", allow_dynamic_batch) for value in inputs),
        outputs=tuple(_tensor_info(value, "output", allow_dynamic_batch) for value in outputs),
        ir_version=int(model.ir_version),
        opsets=tuple((entry.domain, int(entry.version)) for entry in model.opset_import),
        serving=model.SerializeToString() if zipmaps else bytes(data),
        zipmaps=zipmaps,
    )


def strip_zipmaps(model: onnx.ModelProto) -> tuple[str, ...]:
    """Replaces each ZipMap whose sequence of maps is a graph output by an Identity of its probabilities tensor, in
    place, keeping the output's name and position; returns the names of the outputs it changed.

    skl2onnx and onnxmltools end classifiers with one by default. Its maps hold the very floats of its input
    tensor, keyed by the class labels the ZipMap node lists, so committing the tensor loses nothing but the keys
    (which the graph still names), and the rewrite depends on the file alone: the node and `verify` make the same.
    """
    graph = model.graph
    position = {value.name: index for index, value in enumerate(graph.output)}
    consumed = {name for node in graph.node for name in node.input}
    changed: list[str] = []
    for index, node in enumerate(graph.node):
        if node.op_type != "ZipMap" or node.domain != "ai.onnx.ml" or len(node.output) != 1:
            continue
        name = node.output[0]
        if name not in position or name in consumed:
            continue
        labels = next((len(a.ints) or len(a.strings) for a in node.attribute if a.name.startswith("classlabels")), 0)
        first = _first_input_dim(graph)
        value = onnx.helper.make_tensor_value_info(
            name, onnx.TensorProto.FLOAT, [first, labels] if labels else [first, None]
        )
        graph.node[index].CopyFrom(onnx.helper.make_node("Identity", [node.input[0]], [name], name=node.name))
        graph.output[position[name]].CopyFrom(value)
        changed.append(name)
    return tuple(changed)


def _first_input_dim(graph: onnx.GraphProto) -> int | str:
    """The first input's batch dimension: its value when static, else a symbolic one."""
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim if value.type.HasField("tensor_type") else []
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            return int(dims[0].dim_value)
        break
    return "N"


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """`graph` and every subgraph nested in its nodes' attributes (If, Loop, Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graphs(subgraph)


def _nodes(model: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    for graph in _graphs(model.graph):
        yield from graph.node
    for function in model.functions:
        for node in function.node:
            yield node
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    for graph in _graphs(attribute.g):
                        yield from graph.node


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in the model: initializers (dense and sparse) and tensor-valued node attributes."""
    for graph in _graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in _nodes(model):
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for sparse in attribute.sparse_tensors:
                yield from (sparse.values, sparse.indices)


def _refuse_external_data(model: onnx.ModelProto) -> None:
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "?")
            raise ExternalDataError(
                f"tensor {tensor.name!r} keeps its data in an external file ({location!r}); the model id covers only "
                "the .onnx file, so the node refuses it: save the model with all tensors inside the file "
                "(onnx.save_model(model, path, save_as_external_data=False))"
            )


def _refuse_custom_operators(model: onnx.ModelProto) -> None:
    for node in _nodes(model):
        if node.domain not in STANDARD_DOMAINS:
            raise CustomOperatorError(
                f"node {node.name or node.op_type!r} uses operator {node.op_type!r} from domain {node.domain!r}: the "
                "node runs only standard operators (domains '', 'ai.onnx', 'ai.onnx.ml')"
            )


def _tensor_info(value: onnx.ValueInfoProto, role: str, allow_dynamic_batch: bool) -> TensorInfo:
    if not value.type.HasField("tensor_type"):
        kind = value.type.WhichOneof("value")
        raise ModelSignatureError(f"the model's {role} {value.name!r} is a {kind}, not a tensor")
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type == onnx.TensorProto.UNDEFINED:
        raise ModelSignatureError(f"the model's {role} {value.name!r} has no element type")
    elem_type = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
    if elem_type not in SUPPORTED_TYPES:
        raise ModelSignatureError(
            f"the model's {role} {value.name!r} is {elem_type}: the canonical tensor carries "
            f"{', '.join(sorted(SUPPORTED_TYPES))}"
        )
    if not tensor_type.HasField("shape"):
        raise DynamicShapeError(f"the model's {role} {value.name!r} has no shape: declare a static one")
    dims: list[int] = []
    for index, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        elif index == 0 and allow_dynamic_batch and not dim.HasField("dim_value"):
            dims.append(-1)
        else:
            what = (
                f"symbolic ({dim.dim_param!r})"
                if dim.HasField("dim_param")
                else (f"{dim.dim_value}" if dim.HasField("dim_value") else "missing")
            )
            raise DynamicShapeError(
                f"dimension {index} of the model's {role} {value.name!r} is {what}: every dimension must be a "
                "positive constant"
            )
    return TensorInfo(value.name, tuple(dims), elem_type)
