"""The model store (fetch, hash-check, cache) and `inspect_model`, the gate a model passes before the node runs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from eth_utils.crypto import keccak
from onnx import TensorProto, helper, numpy_helper

from tests.node.support import gemm_softmax
from verinfer.errors import ModelError
from verinfer.inference.model_store import (
    CustomOperatorError,
    DynamicShapeError,
    ExternalDataError,
    InvalidModelError,
    ModelHashMismatchError,
    ModelSignatureError,
    ModelStore,
    ModelTooLargeError,
    ModelUnreachableError,
    TensorInfo,
    UnsupportedModelError,
    UnsupportedUriError,
    inspect_model,
)

OPSET = helper.make_opsetid("", 17)


def single_node(node: onnx.NodeProto, *, opsets: list[onnx.OperatorSetIdProto] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=opsets or [OPSET])


MODEL = gemm_softmax().SerializeToString()
MODEL_ID = keccak(MODEL)


# ------------------------------------------------------------------------------------------------- inspection


def test_inspect_describes_the_tiny_model() -> None:
    info = inspect_model(MODEL)
    assert info.input == TensorInfo("x", (1, 4), "FLOAT")
    assert info.output == TensorInfo("y", (1, 2), "FLOAT")
    assert info.input.dtype == np.float32
    assert not info.input.dynamic_batch
    assert info.opsets == (("", 17),)


def test_inspect_refuses_an_external_data_initializer() -> None:
    model = gemm_softmax()
    weights = model.graph.initializer[0]
    weights.data_location = TensorProto.EXTERNAL
    weights.external_data.add(key="location", value="weights.bin")
    weights.ClearField("raw_data")
    with pytest.raises(ExternalDataError, match=r"tensor 'W' .*'weights\.bin'.*save_as_external_data=False"):
        inspect_model(model.SerializeToString())


def test_inspect_refuses_external_data_written_by_onnx(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save_model(gemm_softmax(), path, save_as_external_data=True, location="w.bin", size_threshold=0)
    assert (tmp_path / "w.bin").exists()
    with pytest.raises(ExternalDataError):
        inspect_model(path.read_bytes())


def test_inspect_refuses_external_data_in_a_constant_node() -> None:
    value = numpy_helper.from_array(np.ones((1, 4), dtype=np.float32), "c")
    value.data_location = TensorProto.EXTERNAL
    value.external_data.add(key="location", value="/etc/passwd")
    model = single_node(helper.make_node("Constant", [], ["y"], value=value))
    with pytest.raises(ExternalDataError, match="/etc/passwd"):
        inspect_model(model.SerializeToString())


def test_inspect_refuses_a_custom_domain_node() -> None:
    model = single_node(
        helper.make_node("Mystery", ["x"], ["y"], domain="com.example"),
        opsets=[OPSET, helper.make_opsetid("com.example", 1)],
    )
    with pytest.raises(CustomOperatorError, match=r"'Mystery' from domain 'com\.example'"):
        inspect_model(model.SerializeToString())


def test_inspect_finds_a_custom_node_inside_a_subgraph() -> None:
    def branch(name: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Mystery", ["x"], [f"{name}_out"], domain="com.example")],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [1, 4])],
        )

    condition = numpy_helper.from_array(np.array(True), "cond")
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=branch("then"), else_branch=branch("else"))],
        "nested",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[condition],
    )
    model = helper.make_model(graph, opset_imports=[OPSET, helper.make_opsetid("com.example", 1)])
    with pytest.raises(CustomOperatorError, match="Mystery"):
        inspect_model(model.SerializeToString())


@pytest.mark.parametrize(
    ("node", "opsets"),
    [
        (helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx"), [OPSET]),
        (
            helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.5),
            [OPSET, helper.make_opsetid("ai.onnx.ml", 3)],
        ),
    ],
    ids=["ai.onnx", "ai.onnx.ml"],
)
def test_inspect_accepts_the_standard_domains(node: onnx.NodeProto, opsets: list[onnx.OperatorSetIdProto]) -> None:
    assert inspect_model(single_node(node, opsets=opsets).SerializeToString()).input.shape == (1, 4)


def test_inspect_describes_every_input_and_output_in_graph_order() -> None:
    two_in = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "two_in",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    two_out = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["z"])],
        "two_out",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("y", "z")],
    )
    described = [
        inspect_model(helper.make_model(g, opset_imports=[OPSET]).SerializeToString()) for g in (two_in, two_out)
    ]
    assert [p.name for p in described[0].inputs] == ["a", "b"]
    assert [p.name for p in described[1].outputs] == ["y", "z"]
    with pytest.raises(ModelSignatureError, match="2 inputs"):
        described[0].input  # noqa: B018 - one-port callers are told to use the names
    strings = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "strings",
        [helper.make_tensor_value_info("x", TensorProto.STRING, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, [1, 4])],
    )
    with pytest.raises(ModelSignatureError, match="input 'x' is STRING"):
        inspect_model(helper.make_model(strings, opset_imports=[OPSET]).SerializeToString())


def test_initializers_listed_as_inputs_are_not_inputs() -> None:
    model = gemm_softmax()
    model.graph.input.extend(
        helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in model.graph.initializer
    )  # IR < 4 style
    assert inspect_model(model.SerializeToString()).input.name == "x"


@pytest.mark.parametrize(
    ("batch", "message"),
    [("N", r"dimension 0 of the model's input 'x' is symbolic \('N'\)"), (None, "dimension 0 .* is missing")],
)
def test_inspect_refuses_a_dynamic_shape(batch: str | None, message: str) -> None:
    model = gemm_softmax(batch="N")
    if batch is None:
        model.graph.input[0].type.tensor_type.shape.dim[0].ClearField("dim_param")
    with pytest.raises(DynamicShapeError, match=message):
        inspect_model(model.SerializeToString())


def test_inspect_refuses_an_output_without_a_shape() -> None:
    model = gemm_softmax()
    model.graph.output[0].type.tensor_type.ClearField("shape")
    with pytest.raises(DynamicShapeError, match="output 'y' has no shape"):
        inspect_model(model.SerializeToString())


def test_dynamic_batch_is_allowed_only_when_asked_and_only_on_dim_0() -> None:
    info = inspect_model(gemm_softmax(batch="N").SerializeToString(), allow_dynamic_batch=True)
    assert (info.input.shape, info.output.shape) == ((-1, 4), (-1, 2))
    assert info.input.dynamic_batch
    model = gemm_softmax()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "F"
    with pytest.raises(DynamicShapeError, match="dimension 1"):
        inspect_model(model.SerializeToString(), allow_dynamic_batch=True)


@pytest.mark.parametrize("data", [b"\xff\xff\xff garbage", b"", b"\x08\x07"], ids=["garbage", "empty", "no-graph"])
def test_inspect_refuses_what_is_not_onnx(data: bytes) -> None:
    with pytest.raises(InvalidModelError):
        inspect_model(data)


def test_refusals_are_model_errors() -> None:
    refusals = (InvalidModelError, ExternalDataError, CustomOperatorError, ModelSignatureError, DynamicShapeError)
    assert all(issubclass(error, UnsupportedModelError) for error in refusals)
    store_errors = (
        UnsupportedModelError,
        UnsupportedUriError,
        ModelUnreachableError,
        ModelTooLargeError,
        ModelHashMismatchError,
    )
    assert all(issubclass(error, ModelError) for error in store_errors)


# ------------------------------------------------------------------------------------------------ file:// fetch


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source" / "tiny model.onnx"
    path.parent.mkdir()
    path.write_bytes(MODEL)
    return path


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "cache", max_bytes=1 << 20, timeout=2.0)


def cache_listing(store: ModelStore) -> list[str]:
    return sorted(p.name for p in store.cache_dir.iterdir())


def test_fetch_file_uri_verifies_and_caches_by_hash(store: ModelStore, source: Path) -> None:
    path = store.fetch(MODEL_ID, source.as_uri())  # the space is percent-encoded in the URI
    assert path == store.cache_dir / f"{MODEL_ID.hex()}.onnx"
    assert path.read_bytes() == MODEL
    assert cache_listing(store) == [path.name]
    source.unlink()
    assert store.fetch(MODEL_ID, source.as_uri()) == path  # served from the cache


def test_hash_mismatch_names_both_hashes_and_caches_nothing(store: ModelStore, source: Path) -> None:
    wrong_id = keccak(b"some other model")
    with pytest.raises(ModelHashMismatchError) as raised:
        store.fetch(wrong_id, source.as_uri())
    error = raised.value
    assert (error.expected, error.actual) == (wrong_id, MODEL_ID)
    assert f"0x{wrong_id.hex()}" in str(error)
    assert f"0x{MODEL_ID.hex()}" in str(error)
    assert "register this file as model" in str(error)
    assert cache_listing(store) == []


def test_a_corrupted_cache_entry_is_refetched(store: ModelStore, source: Path) -> None:
    path = store.fetch(MODEL_ID, source.as_uri())
    path.write_bytes(MODEL[:-1] + b"\x00")
    assert store.cached(MODEL_ID) is None
    assert not path.exists()
    path.write_bytes(b"tampered")
    assert store.fetch(MODEL_ID, source.as_uri()).read_bytes() == MODEL


def test_a_corrupted_cache_entry_is_never_returned(store: ModelStore, source: Path) -> None:
    path = store.fetch(MODEL_ID, source.as_uri())
    path.write_bytes(b"tampered")
    source.unlink()
    with pytest.raises(ModelUnreachableError):
        store.fetch(MODEL_ID, source.as_uri())
    assert cache_listing(store) == []


@pytest.mark.parametrize("uri", ["ftp://example.com/m.onnx", "ipfs://bafy/m.onnx", "models/m.onnx"])
def test_unsupported_scheme_is_named(store: ModelStore, uri: str) -> None:
    with pytest.raises(UnsupportedUriError, match="use one of file://, http://, https://"):
        store.fetch(MODEL_ID, uri)


def test_schemes_can_be_narrowed(tmp_path: Path, source: Path) -> None:
    store = ModelStore(tmp_path / "cache", 1 << 20, 2.0, schemes=("https",))
    with pytest.raises(UnsupportedUriError, match="'file' scheme"):
        store.fetch(MODEL_ID, source.as_uri())
    with pytest.raises(ModelError, match="cannot fetch URI schemes"):
        ModelStore(tmp_path / "cache", 1 << 20, 2.0, schemes=("gopher",))


def test_file_uri_with_a_host_is_refused(store: ModelStore) -> None:
    with pytest.raises(UnsupportedUriError, match="file:///absolute/path"):
        store.fetch(MODEL_ID, "file://fileserver/models/m.onnx")


def test_missing_file_is_unreachable(store: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(ModelUnreachableError, match="No such file"):
        store.fetch(MODEL_ID, (tmp_path / "absent.onnx").as_uri())


def test_oversized_file_is_refused(tmp_path: Path, source: Path) -> None:
    store = ModelStore(tmp_path / "cache", max_bytes=len(MODEL) - 1, timeout=2.0)
    with pytest.raises(ModelTooLargeError, match=f"over the {len(MODEL) - 1}-byte limit"):
        store.fetch(MODEL_ID, source.as_uri())
    assert cache_listing(store) == []
    assert ModelStore(tmp_path / "cache", max_bytes=len(MODEL), timeout=2.0).fetch(MODEL_ID, source.as_uri())


def test_oversized_file_error_names_the_setting_that_raises_the_limit(tmp_path: Path, source: Path) -> None:
    store = ModelStore(tmp_path / "cache", max_bytes=1, timeout=2.0, limit_name="verinfer verify --max-model-bytes")
    with pytest.raises(ModelTooLargeError, match="raise verinfer verify --max-model-bytes if it is expected"):
        store.fetch(MODEL_ID, source.as_uri())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_bytes": 0}, "max_bytes"), ({"timeout": 0}, "timeouts"), ({"total_timeout": -1}, "timeouts")],
)
def test_store_settings_are_checked(tmp_path: Path, kwargs: dict[str, float], message: str) -> None:
    settings: dict[str, float] = {"max_bytes": 10, "timeout": 1.0, **kwargs}
    with pytest.raises(ModelError, match=message):
        ModelStore(tmp_path, **settings)  # type: ignore[arg-type]


def test_model_id_must_be_32_bytes(store: ModelStore, source: Path) -> None:
    with pytest.raises(ModelError, match="32 bytes"):
        store.fetch(MODEL_ID[:20], source.as_uri())


# --------------------------------------------------------------------------------------------- http(s):// fetch


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static file server on loopback, serving a temporary directory."""
    root = tmp_path_factory.mktemp("www")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_over_http_from_a_loopback_server(store: ModelStore, http_root: tuple[str, Path]) -> None:
    base, root = http_root
    (root / "tiny.onnx").write_bytes(MODEL)
    assert store.fetch(MODEL_ID, f"{base}/tiny.onnx").read_bytes() == MODEL


def test_http_404_is_unreachable(store: ModelStore, http_root: tuple[str, Path]) -> None:
    with pytest.raises(ModelUnreachableError, match="answered 404"):
        store.fetch(MODEL_ID, f"{http_root[0]}/absent.onnx")


def test_http_announced_size_over_the_limit_is_refused(tmp_path: Path, http_root: tuple[str, Path]) -> None:
    base, root = http_root
    (root / "big.onnx").write_bytes(MODEL)
    store = ModelStore(tmp_path / "cache", max_bytes=100, timeout=2.0)
    with pytest.raises(ModelTooLargeError, match=f"announces {len(MODEL)} bytes"):
        store.fetch(MODEL_ID, f"{base}/big.onnx")


def mock_store(tmp_path: Path, handler: httpx.MockTransport, **kwargs: float) -> ModelStore:
    settings: dict[str, float] = {"max_bytes": 1 << 20, "timeout": 2.0, **kwargs}
    return ModelStore(tmp_path / "cache", transport=handler, **settings)  # type: ignore[arg-type]


def test_size_limit_holds_while_streaming_without_a_length(tmp_path: Path) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:  # a server that never stops: the store must cut it off
            sent.append(1)
            yield b"\x00" * 4096

    store = mock_store(
        tmp_path, httpx.MockTransport(lambda request: httpx.Response(200, content=endless())), max_bytes=10_000
    )
    with pytest.raises(ModelTooLargeError, match="over the 10000-byte limit"):
        store.fetch(MODEL_ID, "https://models.example/m.onnx")
    assert len(sent) == 3
    assert cache_listing(store) == []


def test_redirects_are_followed(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/m.onnx":
            return httpx.Response(302, headers={"location": "https://cdn.example/blob/123"})
        return httpx.Response(200, content=MODEL)

    assert mock_store(tmp_path, httpx.MockTransport(handler)).fetch(MODEL_ID, "https://models.example/m.onnx")


@pytest.mark.parametrize(
    ("error", "message"),
    [(httpx.ReadTimeout("slow"), "did not answer within 2s"), (httpx.ConnectError("refused"), "cannot download")],
)
def test_network_failures_are_unreachable(tmp_path: Path, error: httpx.HTTPError, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(ModelUnreachableError, match=message):
        mock_store(tmp_path, httpx.MockTransport(handler)).fetch(MODEL_ID, "https://models.example/m.onnx")


def test_a_slow_drip_download_hits_the_total_timeout(tmp_path: Path) -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(50):
            time.sleep(0.01)
            yield b"\x00"

    store = mock_store(
        tmp_path, httpx.MockTransport(lambda request: httpx.Response(200, content=drip())), total_timeout=0.05
    )
    with pytest.raises(ModelUnreachableError, match=r"took over 0\.05s"):
        store.fetch(MODEL_ID, "https://models.example/m.onnx")


def test_http_hash_mismatch_is_refused(tmp_path: Path) -> None:
    store = mock_store(tmp_path, httpx.MockTransport(lambda request: httpx.Response(200, content=b"not it")))
    with pytest.raises(ModelHashMismatchError, match=keccak(b"not it").hex()):
        store.fetch(MODEL_ID, "https://models.example/m.onnx")
    assert cache_listing(store) == []


def test_fetch_first_falls_back_to_a_mirror_and_reads_mirrors_only_when_needed(
    store: ModelStore, tmp_path: Path
) -> None:
    good = tmp_path / "good.onnx"
    good.write_bytes(MODEL)
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(MODEL + b"\x00")
    read: list[str] = []

    def uris(*candidates: str) -> Iterator[str]:
        for uri in candidates:
            read.append(uri)
            yield uri

    missing = (tmp_path / "gone.onnx").as_uri()
    assert store.fetch_first(MODEL_ID, uris(missing, wrong.as_uri(), good.as_uri())).read_bytes() == MODEL
    assert read == [missing, wrong.as_uri(), good.as_uri()]
    read.clear()
    store.fetch_first(MODEL_ID, uris(good.as_uri(), missing))  # cached now: not one mirror is read
    assert read == [good.as_uri()]


def test_fetch_first_names_every_uri_it_tried(store: ModelStore, tmp_path: Path) -> None:
    missing = (tmp_path / "gone.onnx").as_uri()
    with pytest.raises(ModelUnreachableError):
        store.fetch_first(MODEL_ID, [missing])  # one URI: its own error, as `fetch` raises it
    with pytest.raises(ModelError, match=r"no URI of model 0x[0-9a-f]{64} serves it \(2 tried\): .*gone.*ipfs") as info:
        store.fetch_first(MODEL_ID, [missing, "ipfs://bafy"])
    assert isinstance(info.value.__cause__, ModelUnreachableError)
    with pytest.raises(ModelError, match="has no URI"):
        store.fetch_first(MODEL_ID, [])
