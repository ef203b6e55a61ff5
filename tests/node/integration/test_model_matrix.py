"""The models people export, as exported: each kind is built here, small, checked, registered unmodified, served by
a real node on anvil (one devnet, one node, one request per model) and verified by re-execution. The matrix of
outcomes is printed (model kind -> register / serve / verify)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.node.integration.nodeworld import PRICE, node_world, running
from tests.node.support import gemm_softmax
from verinfer.inference.check import CANDIDATE_SCALES, check_model
from verinfer.inference.model_store import ModelInfo
from verinfer.inference.signature import FLOAT_TYPES, port_shape, rows_of
from verinfer.node.service import NodeService
from verinfer.types import Mode

pytestmark = pytest.mark.integration

OPSET = [helper.make_opsetid("", 17)]
BATCH_ROWS = 3


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[], onnx.ModelProto]
    rows: int = 1


def _data(classes: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((120, 4)).astype(np.float32)
    target = features[:, 0] + 0.5 * features[:, 1] > 0 if classes else features @ np.array([1.0, -2.0, 0.5, 3.0])
    return features, target.astype(np.int64 if classes else np.float32)


def zipmap_classifier() -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = _data(classes=True)
    return _exported(to_onnx(LogisticRegression().fit(x, y), x[:1]))  # the default export: label + ZipMap probabilities


def pipeline() -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = _data(classes=True)
    x[:, 3] = np.round(np.abs(x[:, 3]))  # a categorical column: 0, 1, 2, 3
    columns = ColumnTransformer(
        [("scale", StandardScaler(), [0, 1, 2]), ("encode", OneHotEncoder(handle_unknown="ignore"), [3])]
    )
    return _exported(to_onnx(make_pipeline(columns, LogisticRegression()).fit(x, y), x[:1]))


def random_forest() -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestRegressor

    x, y = _data(classes=False)
    return _exported(to_onnx(RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(x, y), x[:1]))


def gradient_boosting() -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _data(classes=True)
    return _exported(to_onnx(GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y), x[:1]))


def _exported(model: Any) -> onnx.ModelProto:
    assert isinstance(model, onnx.ModelProto)
    return model


def _onnxmltools_input() -> list[tuple[str, Any]]:
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("input", FloatTensorType([None, 4]))]


def lightgbm_classifier() -> onnx.ModelProto:
    import lightgbm
    from onnxmltools.convert import convert_lightgbm

    x, y = _data(classes=True)
    model = lightgbm.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(x, y)
    return _exported(convert_lightgbm(model, initial_types=_onnxmltools_input()))


def lightgbm_regressor() -> onnx.ModelProto:
    import lightgbm
    from onnxmltools.convert import convert_lightgbm

    x, y = _data(classes=False)
    model = lightgbm.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1).fit(x, y)
    return _exported(convert_lightgbm(model, initial_types=_onnxmltools_input()))


def xgboost_classifier() -> onnx.ModelProto:
    import xgboost
    from onnxmltools.convert import convert_xgboost

    x, y = _data(classes=True)
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
    return _exported(convert_xgboost(model, initial_types=_onnxmltools_input()))


def xgboost_regressor() -> onnx.ModelProto:
    import xgboost
    from onnxmltools.convert import convert_xgboost

    x, y = _data(classes=False)
    model = xgboost.XGBRegressor(n_estimators=3, max_depth=2).fit(x, y)
    return _exported(convert_xgboost(model, initial_types=_onnxmltools_input()))


def _graph(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializer: Sequence[onnx.TensorProto] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "matrix", inputs, outputs, initializer=list(initializer))
    return helper.make_model(graph, opset_imports=OPSET)


def _weights(name: str, values: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def int64_input() -> onnx.ModelProto:
    return _graph(
        [helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT), helper.make_node("Mul", ["f", "w"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [_weights("w", [0.5, -1.25, 2.0])],
    )


def uint8_input() -> onnx.ModelProto:
    return _graph(
        [helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT), helper.make_node("Div", ["f", "d"], ["y"])],
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [_weights("d", 255.0)],
    )


def two_inputs() -> onnx.ModelProto:
    return _graph(
        [
            helper.make_node("Cast", ["counts"], ["c"], to=TensorProto.FLOAT),
            helper.make_node("Concat", ["features", "c"], ["y"], axis=1),
        ],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 3]),
            helper.make_tensor_value_info("counts", TensorProto.INT64, [1, 2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
    )


def two_outputs() -> onnx.ModelProto:
    return _graph(
        [helper.make_node("Relu", ["x"], ["positive"]), helper.make_node("ArgMax", ["x"], ["best"], axis=1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [
            helper.make_tensor_value_info("positive", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("best", TensorProto.INT64, [1, 1]),
        ],
    )


def bool_output() -> onnx.ModelProto:
    return _graph(
        [helper.make_node("Greater", ["x", "zero"], ["above"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("above", TensorProto.BOOL, [1, 4])],
        [_weights("zero", 0.0)],
    )


def small_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    return _graph(
        [
            helper.make_node("Conv", ["image", "k"], ["conv"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["pool"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 6, 6])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [
            _weights("k", rng.standard_normal((2, 1, 3, 3))),
            _weights("w", rng.standard_normal((18, 3))),
            _weights("b", [0.1, 0.0, -0.1]),
        ],
    )


KINDS = (
    Kind("skl2onnx ZipMap classifier", zipmap_classifier),
    Kind("pipeline scaler+encoder", pipeline),
    Kind("random forest", random_forest),
    Kind("gradient boosting", gradient_boosting),
    Kind("LightGBM classifier", lightgbm_classifier),
    Kind("LightGBM regressor", lightgbm_regressor),
    Kind("XGBoost classifier", xgboost_classifier),
    Kind("XGBoost regressor", xgboost_regressor),
    Kind("int64 input", int64_input),
    Kind("uint8 input", uint8_input),
    Kind("two inputs", two_inputs),
    Kind("two outputs", two_outputs),
    Kind("bool output", bool_output),
    Kind(f"batch dimension ({BATCH_ROWS} rows)", lambda: gemm_softmax(batch="N"), rows=BATCH_ROWS),
    Kind("small CNN (onnx.helper)", small_cnn),
)


def sample(info: ModelInfo, rows: int, seed: int) -> dict[str, np.ndarray]:
    """One request's named inputs, each in its own dtype."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for port in info.inputs:
        shape = port_shape(port, rows)
        if port.elem_type in FLOAT_TYPES:
            values[port.name] = np.round(rng.standard_normal(shape), 3)
        else:
            values[port.name] = rng.integers(0, 4 if port.name != "pixels" else 256, size=shape).astype(port.dtype)
    return values


def test_model_matrix_end_to_end(tmp_path: Path, forge_build: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' and trainers' own deprecation notes
        built = {kind.name: kind.build() for kind in KINDS}
    matrix: dict[str, list[str]] = {kind.name: ["-", "-", "-"] for kind in KINDS}
    with node_world(tmp_path) as world:
        ids: dict[str, bytes] = {}
        for index, kind in enumerate(KINDS):
            path = tmp_path / f"kind{index}.onnx"
            onnx.save_model(built[kind.name], path)  # as exported: the file is what is registered
            checked = check_model(path, generated_rows=2, scales=CANDIDATE_SCALES[:1])
            try:
                ids[kind.name] = world.client.register_model(path, path.as_uri(), PRICE, [Mode.SINGLE], rows=kind.rows)
                matrix[kind.name][0] = "ok" if checked.ok else f"ok, check: {[p.code for p in checked.problems]}"
            except Exception as exc:  # the matrix records every outcome, then asserts
                matrix[kind.name][0] = f"FAIL {exc}"
        with running(NodeService(world.config(0))):
            handles = {}
            for index, (name, model_id) in enumerate(ids.items()):
                info = world.client.signature(model_id)
                rows = rows_of(info, world.client.model(model_id).input_shape)
                handles[name] = world.client.request(model_id, sample(info, rows, index))
            for name, handle in handles.items():
                try:
                    result = handle.result(timeout=90)
                    assert result.outputs is not None
                    matrix[name][1] = "ok " + ", ".join(
                        f"{key}:{value.dtype}{list(value.shape)}" for key, value in result.outputs.items()
                    )
                except Exception as exc:  # as above
                    matrix[name][1] = f"FAIL {exc}"
                    continue
                report = world.client.verify(handle.request_id)
                matrix[name][2] = "match" if report.matches else f"MISMATCH {report.failed}"
    print("\nmodel kind | register | serve | verify")
    for name, (registered, served, verified) in matrix.items():
        print(f"{name} | {registered} | {served} | {verified}")
    assert all(row[0] == "ok" and row[1].startswith("ok") and row[2] == "match" for row in matrix.values()), matrix
