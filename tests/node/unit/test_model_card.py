"""The model card in the registry entry: one canonical form, checked against the file, and what it changes on the
wire (a scale per port, uncommitted outputs) and in the sandbox (per-model limits, within the node's)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.node.unit.test_signature import mixed
from verinfer.errors import ModelCardError, ModelError
from verinfer.inference import codec, signature
from verinfer.inference.card import MAX_CARD_BYTES, CardLimits, ModelCard, PortCard, card_for
from verinfer.inference.model_store import ModelInfo, inspect_model
from verinfer.inference.runner import OnnxRunner
from verinfer.inference.sandbox import SandboxLimits
from verinfer.node.compute import LoadedModel, model_limits
from verinfer.types import Mode, ModelSpec

SCALE = 1_000_000
FINE = 2**40


def _info() -> ModelInfo:
    return inspect_model(mixed().SerializeToString(), allow_dynamic_batch=True)


def _spec(card: ModelCard, layout: signature.Layout) -> ModelSpec:
    return ModelSpec(
        "file:///m.onnx",
        layout.input_shape,
        layout.output_shape,
        SCALE,
        10**15,
        Mode.mask([Mode.SINGLE]),
        card=card.to_bytes(),
    )


def test_card_round_trips_in_one_canonical_form() -> None:
    card = card_for(
        _info(),
        scales={"features": FINE, "joined": 2**15},
        committed=["joined"],
        limits=CardLimits(timeout_ms=2_000, memory_mb=256),
    )
    data = card.to_bytes()
    assert data == (
        b'{"inputs":[{"dtype":"float32","name":"features","scale":"1099511627776","shape":[-1,2]},'
        b'{"dtype":"int64","name":"counts","shape":[-1,2]}],"limits":{"memory_mb":256,"timeout_ms":2000},'
        b'"outputs":[{"dtype":"float32","name":"joined","scale":"32768","shape":[-1,4]},'
        b'{"commit":false,"dtype":"bool","name":"more","shape":[-1,2]}],"v":1}'
    )
    assert ModelCard.from_bytes(data) == card
    assert ModelCard.from_bytes(b"") == ModelCard()
    assert ModelCard().to_bytes() == b""


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"v": 1}', "canonical"),  # a space: another spelling of the same card
        (b'{"v":1,"limits":{"memory_mb":64}}', "canonical"),  # keys out of order
        (b'{"limits":{"memory_mb":64},"limits":{"memory_mb":2048},"v":1}', "canonical"),  # duplicate key
        (b'{"outputs":[{"commit":true,"dtype":"bool","name":"y","shape":[1]}],"v":1}', "canonical"),  # a default
        (b'{"v":2}', "version"),
        (b'{"owner":"me","v":1}', "unknown fields"),
        (b'{"inputs":[{"dtype":"int64","name":"x","scale":"10","shape":[1]}],"v":1}', "travels exactly"),
        (b'{"inputs":[{"dtype":"float32","name":"x","scale":10,"shape":[1]}],"v":1}', "decimal string"),
        (b'{"outputs":[{"dtype":"float32","labels":["a"],"name":"y","shape":[1,2]}],"v":1}', "one label per"),
        (b'{"outputs":[{"commit":false,"dtype":"bool","name":"y","shape":[1]}],"v":1}', "commits no output"),
        (b'{"limits":{"memory_mb":1},"v":1}', "memory_mb"),
        (b'{"inputs":[{"dtype":"float32","name":"x","shape":[2,-1]}],"v":1}', "the batch, first only"),
        (b'{"inputs":[{"dtype":"string","name":"x","shape":[1]}],"v":1}', "no canonical encoding"),
        (b'{"v":NaN}', "not UTF-8 JSON"),
        (b"\xff", "not UTF-8 JSON"),
        (b"[1]", "JSON object"),
        (b" " * (MAX_CARD_BYTES + 1), "at most"),
    ],
)
def test_card_refuses_every_other_form(data: bytes, problem: str) -> None:
    with pytest.raises(ModelCardError, match=problem):
        ModelCard.from_bytes(data)


def test_card_that_names_other_ports_than_the_file_is_refused() -> None:
    """A publisher cannot make nodes read one graph two ways: the card must list the graph's ports as they are."""
    info = _info()
    renamed = ModelCard(inputs=(PortCard("counts", "int64", (-1, 2)), PortCard("features", "float32", (-1, 2))))
    retyped = ModelCard(outputs=(PortCard("joined", "float64", (-1, 4)), PortCard("more", "bool", (-1, 2))))
    reshaped = ModelCard(outputs=(PortCard("joined", "float32", (-1, 2, 2)), PortCard("more", "bool", (-1, 2))))
    with pytest.raises(ModelCardError, match="are not the graph's"):
        signature.Layout.plain(info, 1, SCALE, renamed)
    with pytest.raises(ModelCardError, match="the card says float64, the graph float32"):
        signature.Layout.plain(info, 1, SCALE, retyped)
    with pytest.raises(ModelCardError, match=r"shape \[-1, 2, 2\]"):
        signature.Layout.plain(info, 1, SCALE, reshaped)
    with pytest.raises(ModelCardError, match="does not have"):
        card_for(info, scales={"nope": 2})


def test_each_float_port_travels_at_its_own_scale() -> None:
    info = _info()
    card = card_for(info, scales={"features": FINE, "joined": 2**15})
    layout = signature.Layout.plain(info, 1, SCALE, card)
    x = np.array([[0.1234567891, -2.5]])
    data = signature.encode_inputs({"features": x, "counts": [[3, 4]]}, layout)
    assert codec.decode_ints(data).tolist()[:2] == codec.quantize(x, FINE).reshape(-1).tolist()
    assert codec.decode_ints(data).tolist()[2:] == [3, 4]  # integers stay exact, unscaled
    fed = signature.feeds(data, layout)
    assert np.array_equal(fed["features"], (codec.quantize(x, FINE) / FINE).astype(np.float32))
    joined = np.array([[0.5, 3.0, 1.0, 2.0]], dtype=np.float32)
    out = signature.encode_outputs([joined, np.array([[True, False]])], layout)
    assert codec.decode_ints(out).tolist()[:4] == [2**14, 3 * 2**15, 2**15, 2 * 2**15]
    assert np.array_equal(signature.decode_outputs(out, layout)["joined"], joined)


def test_uncommitted_output_is_neither_carried_nor_compared() -> None:
    info = _info()
    layout = signature.Layout.plain(info, 3, SCALE, card_for(info, committed=["more"]))
    assert layout.output_shape == (3, 2)
    assert [p.name for p in layout.outputs] == ["more"]
    joined = np.zeros((3, 4), dtype=np.float32)
    more = np.array([[True, False], [False, False], [True, True]])
    out = signature.encode_outputs([joined, more], layout)
    assert len(out) == 6 * codec.ELEMENT_BYTES
    assert signature.encode_outputs([joined + 7, more], layout) == out  # the uncommitted output changes nothing
    assert set(signature.decode_outputs(out, layout)) == {"more"}


def test_entry_alone_encodes_and_decodes_when_the_card_lists_the_ports() -> None:
    """A dApp, the explorer and the JS kit need no model file to lay out a request or read a result."""
    info = _info()
    card = card_for(info, scales={"features": FINE}, labels={})
    from_file = signature.Layout.plain(info, 2, SCALE, card)
    spec = _spec(card, from_file)
    from_entry = signature.Layout.of_entry(spec)
    assert from_entry is not None
    assert from_entry.rows == 2
    values: dict[str, list[list[float]]] = {"features": [[0.5, 1.5], [2.5, 3.5]], "counts": [[1, 2], [3, 4]]}
    assert signature.encode_inputs(values, from_entry) == signature.encode_inputs(values, from_file)
    assert signature.Layout.of_entry(ModelSpec("u", (1,), (1,), SCALE, 0, 1)) is None  # no card: the file says


def test_labels_name_positions_and_values() -> None:
    info = _info()
    card = card_for(info, labels={"joined": ["a", "b", "c", "d"]})
    assert signature.Layout.plain(info, 1, SCALE, card).labels("joined") == ("a", "b", "c", "d")
    label = PortCard("label", "int64", (-1,), labels=("setosa", "versicolor"))
    assert label.label_of(1) == "versicolor"
    assert label.label_of(2) is None
    with pytest.raises(ModelCardError, match="one label per position"):
        card_for(info, labels={"joined": ["a"]})


def test_card_limits_hold_within_the_nodes_bounds() -> None:
    bounds = SandboxLimits(timeout_s=10.0, memory_bytes=1 << 30)
    info = _info()
    layout = signature.Layout.plain(info, 1, SCALE)
    tight = _spec(card_for(info, limits=CardLimits(timeout_ms=1_500, memory_mb=64)), layout)
    assert model_limits(b"\x01", tight, bounds) == SandboxLimits(timeout_s=1.5, memory_bytes=64 << 20)
    assert model_limits(b"\x01", _spec(ModelCard(), layout), bounds) == bounds  # silent: the node's own
    greedy = _spec(card_for(info, limits=CardLimits(memory_mb=4_096)), layout)
    with pytest.raises(ModelError, match="asks for 4096 MB per request, this node allows 1024 MB: raise sandbox"):
        model_limits(b"\x01", greedy, bounds)
    slow = _spec(card_for(info, limits=CardLimits(timeout_ms=60_000)), layout)
    with pytest.raises(ModelError, match="asks for 60s per request, this node allows 10s"):
        model_limits(b"\x01", slow, bounds)


def test_node_computes_only_the_committed_outputs_at_their_scales(tmp_path: Path) -> None:
    path = tmp_path / "mixed.onnx"
    path.write_bytes(mixed().SerializeToString())
    runner = OnnxRunner(path)
    card = card_for(runner.info, scales={"joined": 2**20}, committed=["joined"])
    spec = _spec(card, signature.Layout.plain(runner.info, 1, SCALE, card))
    loaded = LoadedModel(b"\x01", spec, runner)
    request = signature.encode_inputs({"features": [[0.25, 0.5]], "counts": [[1, 2]]}, loaded.layout)
    (output,) = loaded.compute([request])
    assert isinstance(output, bytes)
    assert codec.decode_ints(output).tolist() == [2**18, 2**19, 2**20, 2 * 2**20]
    hostile = ModelSpec(**{**spec.__dict__, "card": ModelCard(outputs=(PortCard("y", "float32", (1,)),)).to_bytes()})
    with pytest.raises(ModelCardError, match="does not describe its file"):
        LoadedModel(b"\x01", hostile, runner).compute([request])


def test_flattened_rows_fit_a_multidimensional_input() -> None:
    """A CSV line is one row flattened: 2 lines of 64 values are two 1x8x8 images."""
    from verinfer.sdk.client import _shaped

    rows = np.arange(128, dtype=np.float64).reshape(2, 64)
    assert _shaped(rows, (2, 1, 8, 8)).shape == (2, 1, 8, 8)
    with pytest.raises(ModelError, match=r"do not fit the model's input \(2, 1, 8, 8\)"):
        _shaped(rows[:, :63], (2, 1, 8, 8))


def test_zk_model_keeps_one_scale() -> None:
    """A circuit's public instances are the canonical integers at the entry's scale: no port may have its own."""
    info = _info()
    card = card_for(info, scales={"features": FINE})
    layout = signature.Layout.plain(info, 1, SCALE, card)
    zk = replace(_spec(card, layout), modes=Mode.mask([Mode.SINGLE, Mode.ZK]))
    with pytest.raises(ModelCardError, match="ZK model's circuit computes at the entry's one scale"):
        signature.Layout.of(info, zk)
    assert signature.Layout.of(info, replace(zk, card=card_for(info).to_bytes())).rows == 1  # a card without scales
