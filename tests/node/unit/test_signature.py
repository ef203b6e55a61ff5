"""The canonical layout of a model's signature: one float input and output keep their bytes, several ports are
concatenated in graph order, integers and bools travel exactly, a trailing ZipMap is committed as its tensor, and a
batch dimension carries the entry's N rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.node.support import gemm_softmax
from verinfer.errors import CodecError
from verinfer.inference import codec, signature
from verinfer.inference.model_store import ModelInfo, inspect_model
from verinfer.inference.runner import OnnxRunner
from verinfer.node.compute import LoadedModel
from verinfer.types import Mode, ModelSpec

SCALE = 1_000_000
OPSET = [helper.make_opsetid("", 17)]


def _info(model: onnx.ModelProto) -> ModelInfo:
    return inspect_model(model.SerializeToString(), allow_dynamic_batch=True)


def mixed() -> onnx.ModelProto:
    """Two inputs (float, int64) and two outputs (float, bool)."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["counts"], ["c"], to=TensorProto.FLOAT),
            helper.make_node("Concat", ["features", "c"], ["joined"], axis=1),
            helper.make_node("Greater", ["c", "features"], ["more"]),
        ],
        "mixed",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("counts", TensorProto.INT64, ["N", 2]),
        ],
        [
            helper.make_tensor_value_info("joined", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("more", TensorProto.BOOL, ["N", 2]),
        ],
    )
    return helper.make_model(graph, opset_imports=OPSET)


def test_one_float_input_and_output_keep_the_codec_bytes() -> None:
    info = _info(gemm_softmax())
    x = np.random.default_rng(0).normal(size=(1, 4))
    data = codec.encode(x, SCALE)
    (fed,) = signature.feeds(data, signature.Layout.plain(info, 1, SCALE)).values()
    assert fed.dtype == np.float32
    assert np.array_equal(fed, codec.decode(data, (1, 4), SCALE).astype(np.float32))
    assert signature.encode_inputs({"x": x}, signature.Layout.plain(info, 1, SCALE)) == data
    y = np.array([[0.25, 0.75]], dtype=np.float32)
    assert signature.encode_outputs([y], signature.Layout.plain(info, 1, SCALE)) == codec.encode(y, SCALE)
    assert signature.entry_shape(info.inputs, 1) == (1, 4)


def test_ports_are_concatenated_in_graph_order_and_integers_travel_exactly() -> None:
    info = _info(mixed())
    assert signature.entry_shape(info.inputs, 3) == (3, 4)
    assert signature.entry_shape(info.outputs, 3) == (3, 6)
    data = signature.encode_inputs(
        {"counts": [[1, 2]], "features": [[0.5, 3.0]]}, signature.Layout.plain(info, 1, SCALE)
    )
    assert codec.decode_ints(data).tolist() == [500_000, 3_000_000, 1, 2]  # features scaled, then counts as they are
    feeds = signature.feeds(data, signature.Layout.plain(info, 1, SCALE))
    assert feeds["counts"].dtype == np.int64
    assert feeds["counts"].tolist() == [[1, 2]]
    out = signature.encode_outputs(
        [np.array([[0.5, 3, 1, 2]], np.float32), np.array([[True, False]])], signature.Layout.plain(info, 1, SCALE)
    )
    named = signature.decode_outputs(out, signature.Layout.plain(info, 1, SCALE))
    assert named["joined"].tolist() == [[0.5, 3.0, 1.0, 2.0]]
    assert named["more"].dtype == np.bool_
    assert named["more"].tolist() == [[True, False]]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"features": [[0.5, 3.0]], "counts": [[1.5, 2]]}, "whole numbers"),
        ({"features": [[0.5, 3.0]]}, "missing"),
        ({"features": [[0.5, 3.0, 1.0]], "counts": [[1, 2]]}, "takes 2 values"),
    ],
    ids=["fraction-for-int", "missing", "size"],
)
def test_named_inputs_are_refused_when_they_do_not_fit(values: dict[str, list[list[float]]], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        signature.encode_inputs(values, signature.Layout.plain(_info(mixed()), 1, SCALE))


def test_an_input_outside_its_dtype_is_malformed() -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["pixels"], ["y"], to=TensorProto.FLOAT)],
        "u8",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    info = _info(helper.make_model(graph, opset_imports=OPSET))
    with pytest.raises(CodecError, match=r"UINT8 values in \[0, 255\]"):
        signature.feeds(codec.encode_ints([1, 256]), signature.Layout.plain(info, 1, SCALE))


def test_a_trailing_zipmap_is_committed_as_its_probabilities(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    model = to_onnx(LogisticRegression().fit(x, (x[:, 0] > 0).astype(np.int64)), x[:1])
    data = model.SerializeToString()
    info = inspect_model(data, allow_dynamic_batch=True)
    assert info.zipmaps == ("output_probability",)
    assert [(p.name, p.elem_type, p.shape) for p in info.outputs] == [
        ("output_label", "INT64", (-1,)),
        ("output_probability", "FLOAT", (-1, 2)),
    ]
    assert inspect_model(data, allow_dynamic_batch=True).serving == info.serving  # the same rewrite every time
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(data)
    label, probabilities = OnnxRunner(path).run_batch({"X": x[:2]})
    assert label.shape == (2,)
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_a_batch_dimension_carries_the_entry_rows_and_batches_requests(tmp_path: Path) -> None:
    path = tmp_path / "batch.onnx"
    onnx.save(gemm_softmax(batch="N"), path)
    spec = ModelSpec(path.as_uri(), (3, 4), (3, 2), SCALE, 1, Mode.mask([Mode.SINGLE]))
    loaded = LoadedModel(b"\x00" * 32, spec, OnnxRunner(path))
    rng = np.random.default_rng(1)
    inputs = [codec.encode(rng.normal(size=(3, 4)), SCALE) for _ in range(4)]
    batched = loaded.compute(inputs)
    assert batched == [loaded.compute([one])[0] for one in inputs]
    assert all(isinstance(out, bytes) and len(out) == 3 * 2 * codec.ELEMENT_BYTES for out in batched)
