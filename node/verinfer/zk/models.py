"""ZK-friendly model graphs: plain ONNX of ops ezkl proves cheaply (Gemm, ReLU). Used by the fixture script, the
bench and the tests; a model owner can start from them."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def mlp(features: int = 16, hidden: int = 8, outputs: int = 2, seed: int = 0) -> onnx.ModelProto:
    """y = relu(x·W1 + b1)·W2 + b2 with seeded random weights, input shape [1, features], output [1, outputs]."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((features, hidden)) / np.sqrt(features)).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(hidden)).astype(np.float32)
    w2 = (rng.standard_normal((hidden, outputs)) / np.sqrt(hidden)).astype(np.float32)
    b2 = (0.1 * rng.standard_normal(outputs)).astype(np.float32)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["x", "W1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("Gemm", ["a", "W2", "b2"], ["y"]),
        ],
        name=f"mlp_{features}_{hidden}_{outputs}",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, features])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
        initializer=[
            numpy_helper.from_array(w1, "W1"),
            numpy_helper.from_array(b1, "b1"),
            numpy_helper.from_array(w2, "W2"),
            numpy_helper.from_array(b2, "b2"),
        ],
    )
    model = helper.make_model(graph, producer_name="verinfer-zk", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def calibration_rows(features: int, rows: int = 32, seed: int = 1) -> np.ndarray:
    """Standard-normal inputs (the range the graphs above are calibrated for)."""
    return np.random.default_rng(seed).standard_normal((rows, features))
