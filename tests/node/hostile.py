"""Hostile ONNX models, built here with onnx.helper: what a malicious registrant can publish for a node to run."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def loop_model(iterations: int = 10**9, features: int = 4) -> onnx.ModelProto:
    """x[1, features] -> x + iterations: a `Loop` that adds 1 to its carried value `iterations` times."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1, features]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1, features]),
        ],
        [numpy_helper.from_array(np.ones((1, features), np.float32), "one")],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body)],
        "forever",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, features])],
        [
            numpy_helper.from_array(np.array(iterations, np.int64), "trip"),
            numpy_helper.from_array(np.array(True), "cond"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def tile_model(features: int = 4) -> onnx.ModelProto:
    """x[1, features] -> [1, 2]: a ones tensor tiled x[0] by x[1] times, summed. Small inputs are harmless; an input
    of (20000, 20000) asks for 1.6 GB."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "flat"], ["xf"]),
            helper.make_node("Slice", ["xf", "start", "stop"], ["r"]),
            helper.make_node("Abs", ["r"], ["ra"]),
            helper.make_node("Cast", ["ra"], ["repeats"], to=TensorProto.INT64),
            helper.make_node("Tile", ["block", "repeats"], ["big"]),
            helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "pair"], ["y"]),
        ],
        "tile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [
            numpy_helper.from_array(np.array([features], np.int64), "flat"),
            numpy_helper.from_array(np.array([0], np.int64), "start"),
            numpy_helper.from_array(np.array([2], np.int64), "stop"),
            numpy_helper.from_array(np.ones((1, 1), np.float32), "block"),
            numpy_helper.from_array(np.ones((1, 2), np.float32), "pair"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def looping_text_classifier(iterations: int = 10**9) -> onnx.ModelProto:
    """A "text classifier" (one string input) whose score is a `Loop` of `iterations` additions: registered as a text
    model, it would hold a node forever if text models ran in the node's process."""
    body = loop_model(iterations, features=1).graph.node[0].attribute[0].g
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "cond", "start"], ["score"], body=body)],
        "forever_text",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 1])],
        [
            numpy_helper.from_array(np.array(iterations, np.int64), "trip"),
            numpy_helper.from_array(np.array(True), "cond"),
            numpy_helper.from_array(np.zeros((1, 1), np.float32), "start"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
