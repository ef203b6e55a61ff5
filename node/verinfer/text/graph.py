"""A small decoder-only graph written with onnx.helper: token and position embeddings, attention layers with a KV
cache, and an MLP head. The demo language model and the tests build their models with it (no downloads, no torch).

Inputs and outputs use onnxruntime-genai's names, so the generator treats it like any decoder exported that way:
`input_ids` [batch, seq] int64 and per layer `past_key_values.{i}.key|value` [batch, heads, past, head_dim] in,
`logits` [batch, seq, vocab] and `present.{i}.key|value` out. The causal mask is computed in the graph from the
past length, so a prompt can be fed whole and then one token per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = npt.NDArray[np.float32]
OPSET = 17


@dataclass(frozen=True)
class Layer:
    wq: F32  # [d, heads * qk_dim]
    wk: F32  # [d, heads * qk_dim]
    wv: F32  # [d, heads * v_dim]
    wo: F32  # [heads * v_dim, d]
    heads: int


@dataclass(frozen=True)
class DecoderWeights:
    tok_emb: F32  # [vocab, d]
    pos_emb: F32  # [context, d]
    layers: tuple[Layer, ...]
    w1: F32  # [d, hidden]
    b1: F32  # [hidden]
    w2: F32  # [hidden, vocab]
    b2: F32  # [vocab]

    @property
    def vocab(self) -> int:
        return int(self.tok_emb.shape[0])

    @property
    def context(self) -> int:
        return int(self.pos_emb.shape[0])


def random_weights(
    seed: int = 0, vocab: int = 256, d: int = 32, layers: int = 2, heads: int = 2, hidden: int = 64, context: int = 64
) -> DecoderWeights:
    """An untrained decoder: enough for the generator and determinism tests."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 1.0) -> F32:
        out: F32 = (rng.standard_normal(shape) * scale / np.sqrt(shape[0])).astype(np.float32)
        return out

    hd = d // heads
    return DecoderWeights(
        tok_emb=w(vocab, d, scale=np.sqrt(vocab)),
        pos_emb=w(context, d, scale=0.5 * np.sqrt(context)),
        layers=tuple(
            Layer(w(d, heads * hd), w(d, heads * hd), w(d, heads * hd), w(heads * hd, d), heads) for _ in range(layers)
        ),
        w1=w(d, hidden),
        b1=np.zeros(hidden, np.float32),
        w2=w(hidden, vocab, scale=4.0),
        b2=np.zeros(vocab, np.float32),
    )


def _dims(layer: Layer) -> tuple[int, int]:
    return layer.wq.shape[1] // layer.heads, layer.wv.shape[1] // layer.heads


def build_decoder(weights: DecoderWeights, *, use_cache: bool = True) -> onnx.ModelProto:
    """The ONNX graph of `weights`; without `use_cache` it has no past/present tensors and recomputes the sequence."""
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", weights.vocab])]

    def const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    const("tok_emb", weights.tok_emb)
    const("pos_emb", weights.pos_emb)
    const("zero_i", 0, np.int64)
    const("one_i", 1, np.int64)
    const("two_i", 2, np.int64)
    const("axis0", [0], np.int64)
    const("axis1", [1], np.int64)
    const("neg_big", -1e9)
    const("zero_f", 0.0)
    seq_len = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), "one_i"], "seq_len", axis=0)
    if use_cache:
        past_shape = node("Shape", ["past_key_values.0.key"], "past_shape")
        past_len = node("Gather", [past_shape, "two_i"], "past_len", axis=0)
    else:
        past_len = "zero_i"
    total = node("Add", [past_len, seq_len], "total_len")
    positions = node("Range", [past_len, total, "one_i"], "positions")
    key_positions = node("Range", ["zero_i", total, "one_i"], "key_positions")
    allowed = node(
        "LessOrEqual",
        [node("Unsqueeze", [key_positions, "axis0"], "kpos_row"), node("Unsqueeze", [positions, "axis1"], "qpos_col")],
        "allowed",
    )
    mask = node("Where", [allowed, "zero_f", "neg_big"], "mask")
    x = node(
        "Add",
        [node("Gather", ["tok_emb", "input_ids"], "tok"), node("Gather", ["pos_emb", positions], "pos")],
        "x0",
    )
    for i, layer in enumerate(weights.layers):
        qk, vd = _dims(layer)
        h = layer.heads
        for name, mat in (("wq", layer.wq), ("wk", layer.wk), ("wv", layer.wv), ("wo", layer.wo)):
            const(f"l{i}.{name}", mat)
        const(f"l{i}.qk_shape", [0, 0, h, qk], np.int64)
        const(f"l{i}.v_shape", [0, 0, h, vd], np.int64)
        const(f"l{i}.out_shape", [0, 0, h * vd], np.int64)
        const(f"l{i}.scale", 1.0 / np.sqrt(qk))

        def heads_of(t: str, shape: str, name: str) -> str:
            reshaped = node("Reshape", [t, shape], f"{name}_r")
            return node("Transpose", [reshaped], name, perm=[0, 2, 1, 3])

        q = heads_of(node("MatMul", [x, f"l{i}.wq"], f"l{i}.q_flat"), f"l{i}.qk_shape", f"l{i}.q")
        k = heads_of(node("MatMul", [x, f"l{i}.wk"], f"l{i}.k_flat"), f"l{i}.qk_shape", f"l{i}.k_new")
        v = heads_of(node("MatMul", [x, f"l{i}.wv"], f"l{i}.v_flat"), f"l{i}.v_shape", f"l{i}.v_new")
        if use_cache:
            for part, dim in (("key", qk), ("value", vd)):
                inputs.append(
                    helper.make_tensor_value_info(
                        f"past_key_values.{i}.{part}", TensorProto.FLOAT, ["batch", h, "past", dim]
                    )
                )
                outputs.append(
                    helper.make_tensor_value_info(f"present.{i}.{part}", TensorProto.FLOAT, ["batch", h, "total", dim])
                )
            k = node("Concat", [f"past_key_values.{i}.key", k], f"present.{i}.key", axis=2)
            v = node("Concat", [f"past_key_values.{i}.value", v], f"present.{i}.value", axis=2)
        kt = node("Transpose", [k], f"l{i}.kt", perm=[0, 1, 3, 2])
        scores = node("Mul", [node("MatMul", [q, kt], f"l{i}.qk"), f"l{i}.scale"], f"l{i}.scores")
        probs = node("Softmax", [node("Add", [scores, mask], f"l{i}.masked")], f"l{i}.probs", axis=-1)
        attended = node("Transpose", [node("MatMul", [probs, v], f"l{i}.att")], f"l{i}.att_t", perm=[0, 2, 1, 3])
        merged = node("Reshape", [attended, f"l{i}.out_shape"], f"l{i}.merged")
        x = node("Add", [x, node("MatMul", [merged, f"l{i}.wo"], f"l{i}.proj")], f"x{i + 1}")
    const("w1", weights.w1)
    const("b1", weights.b1)
    const("w2", weights.w2)
    const("b2", weights.b2)
    hidden = node("Relu", [node("Add", [node("MatMul", [x, "w1"], "h_lin"), "b1"], "h_pre")], "h")
    node("Add", [node("MatMul", [hidden, "w2"], "logits_lin"), "b2"], "logits")
    graph = helper.make_graph(nodes, "verinfer-decoder", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="verinfer.text")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def residual(weights: DecoderWeights, ids: npt.NDArray[np.int64]) -> F32:
    """The numpy forward of the attention layers for one sequence: the [seq, d] stream the MLP head reads
    (the demo trains the head on it; the tests compare it with onnxruntime)."""
    n = len(ids)
    x = weights.tok_emb[ids] + weights.pos_emb[np.arange(n)]
    causal = np.where(np.arange(n)[None, :] <= np.arange(n)[:, None], 0.0, -1e9).astype(np.float32)
    for layer in weights.layers:
        qk, vd = _dims(layer)
        h = layer.heads
        q = (x @ layer.wq).reshape(n, h, qk).transpose(1, 0, 2)
        k = (x @ layer.wk).reshape(n, h, qk).transpose(1, 0, 2)
        v = (x @ layer.wv).reshape(n, h, vd).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(qk)) + causal
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        x = x + (probs @ v).transpose(1, 0, 2).reshape(n, h * vd) @ layer.wo
    return x.astype(np.float32)


def head_logits(weights: DecoderWeights, stream: F32) -> F32:
    hidden = np.maximum(stream @ weights.w1 + weights.b1, 0)
    logits: F32 = (hidden @ weights.w2 + weights.b2).astype(np.float32)
    return logits
