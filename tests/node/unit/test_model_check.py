"""`verinfer model check` and the checks `model register` runs first: every problem at once, each with its fix, and
the fidelity report that finds the input scale at which a tree model serves the float model's answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from tests.node.support import gemm_softmax
from verinfer.chain.anvil import free_port
from verinfer.cli import app
from verinfer.inference import codec, signature
from verinfer.inference.card import card_for
from verinfer.inference.check import CANDIDATE_SCALES, check_model, check_uri
from verinfer.inference.runner import OnnxRunner
from verinfer.types import MAX_TENSOR_BYTES, MAX_TENSOR_RANK, MAX_TENSOR_VALUES

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()
KEY = "0x" + "11" * 32


def bad_model() -> onnx.ModelProto:
    """One graph with seven problems: an unknown operator, a custom-domain one, a second input of strings, a symbolic
    feature dimension, a uint64 output, an output over the hub's value limit, a tensor kept in an external file.
    (Several inputs and outputs, int64 and bool, and a symbolic batch dimension are served: no problem.)"""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])
    ids = helper.make_tensor_value_info("ids", TensorProto.STRING, [1, 4])
    flag = helper.make_tensor_value_info("flag", TensorProto.UINT64, [1, 4])
    wide = helper.make_tensor_value_info("wide", TensorProto.FLOAT, [1, MAX_TENSOR_VALUES + 1])
    weights = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    weights.data_location = TensorProto.EXTERNAL
    entry = weights.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    nodes = [
        helper.make_node("NoSuchOp", ["x"], ["y"]),
        helper.make_node("Fancy", ["y"], ["z"], domain="com.example"),
        helper.make_node("Cast", ["ids"], ["flag"], to=TensorProto.UINT64),
        helper.make_node("Tile", ["z", "reps"], ["wide"]),
    ]
    reps = numpy_helper.from_array(np.array([1, 2049], dtype=np.int64), "reps")
    graph = helper.make_graph(nodes, "bad", [x, ids], [flag, wide], initializer=[weights, reps])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_model_check_reports_all_problems() -> None:
    checked = check_model(bad_model().SerializeToString(), max_model_bytes=64)
    codes = [problem.code for problem in checked.problems]
    for code in ("file-size", "external-data", "unknown-op", "custom-op", "dtype"):
        assert code in codes, checked.problems
    assert "inputs" not in codes  # several of each are served
    assert "outputs" not in codes
    assert codes.count("dtype") == 2  # the string input and the uint64 output
    assert "symbolic-dim" in codes
    assert "tensor-size" in codes
    assert "load" in codes  # onnxruntime refuses it too, and says why
    messages = " | ".join(p.message for p in checked.problems)
    for name in ("'NoSuchOp'", "'Fancy'", "'ids'", "'flag'", "'features'", f"{MAX_TENSOR_VALUES + 1} values"):
        assert name in messages
    assert all(problem.fix for problem in checked.problems)
    assert not checked.ok
    assert checked.fidelity is None
    assert checked.fidelity_skipped == "onnxruntime cannot load the model"


def test_model_check_command_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(bad_model().SerializeToString())
    result = runner.invoke(app, ["model", "check", str(path), "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert {"unknown-op", "custom-op", "dtype", "symbolic-dim"} <= {p["code"] for p in document["problems"]}
    assert all(p["fix"] for p in document["problems"])


def test_a_clean_model_has_no_problems_and_a_fidelity_report() -> None:
    checked = check_model(gemm_softmax().SerializeToString(), generated_rows=20)
    assert checked.ok, checked.problems
    assert checked.fidelity is not None
    assert checked.fidelity.generated
    assert checked.fidelity.rows == 20
    assert [s.scale for s in checked.fidelity.scales] == [s for _, s in CANDIDATE_SCALES]
    assert checked.fidelity.recommended is not None


def test_sample_rows_must_fit_the_input() -> None:
    checked = check_model(gemm_softmax().SerializeToString(), [[1.0, 2.0, 3.0]])
    assert [p.code for p in checked.problems] == ["samples"]
    assert "4 per row" in checked.problems[0].message


def test_opset_beyond_onnx_is_a_problem() -> None:
    model = gemm_softmax()
    model.opset_import[0].version = 99
    codes = [p.code for p in check_model(model.SerializeToString()).problems]
    assert "opset" in codes
    assert "load" in codes


def test_limits_mirror_the_registry() -> None:
    source = (ROOT / "contracts" / "ModelRegistry.sol").read_text()
    assert re.search(rf"MAX_TENSOR_BYTES = {MAX_TENSOR_BYTES:_};", source)
    assert re.search(rf"MAX_RANK = {MAX_TENSOR_RANK};", source)


# ------------------------------------------------------------------------------------------------- the URI


def test_uri_must_serve_the_same_bytes(tmp_path: Path) -> None:
    data = gemm_softmax().SerializeToString()
    model_id = check_model(data, generated_rows=1).model_id
    good = tmp_path / "model.onnx"
    good.write_bytes(data)
    other = tmp_path / "other.onnx"
    other.write_bytes(gemm_softmax(seed=2).SerializeToString())
    assert check_uri(model_id, good.as_uri()) == []
    assert [p.code for p in check_uri(model_id, other.as_uri())] == ["uri-bytes"]
    assert [p.code for p in check_uri(model_id, (tmp_path / "absent.onnx").as_uri())] == ["uri-unreachable"]
    assert [p.code for p in check_uri(model_id, "ipfs://bafy")] == ["uri-scheme"]
    assert [p.code for p in check_uri(model_id, f"http://127.0.0.1:{free_port()}/m.onnx", timeout=2)] == [
        "uri-unreachable"
    ]


def test_register_refuses_with_the_full_report_unless_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(bad_model().SerializeToString())
    rpc = f"http://127.0.0.1:{free_port()}"
    args = ["model", "register", str(path), "--uri", "ipfs://bafy", "--price", "1", "--private-key", KEY]
    refused = runner.invoke(app, [*args, "--rpc-url", rpc])
    assert refused.exit_code == 1
    assert "problem [unknown-op]" in refused.stderr
    assert "problem [uri-scheme]" in refused.stderr
    assert "--skip-checks" in refused.stderr.splitlines()[-1]
    skipped = runner.invoke(app, [*args, "--rpc-url", rpc, "--skip-checks"])
    assert skipped.exit_code == 1
    assert "problem [" not in skipped.stderr  # on to the chain, which is not there
    assert "no JSON-RPC endpoint answering" in skipped.stderr


# ------------------------------------------------------------------------------------------------- fidelity


@pytest.fixture(scope="module")
def xgboost_diabetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """An XGBoost regressor on scikit-learn's bundled diabetes data, exported by onnxmltools as people do."""
    xgboost = pytest.importorskip("xgboost")
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.datasets import load_diabetes

    features, target = load_diabetes(return_X_y=True)
    model = xgboost.XGBRegressor(n_estimators=60, max_depth=4, random_state=0).fit(features, target)
    exported = convert_xgboost(model, initial_types=[("input", FloatTensorType([1, features.shape[1]]))])
    path = tmp_path_factory.mktemp("xgb") / "xgb.onnx"
    path.write_bytes(exported.SerializeToString())
    return path, features


def served(runner_: OnnxRunner, rows: np.ndarray, scale: int) -> np.ndarray:
    """What a node answers: each row as it travelled (quantized at `scale`), decoded, as float32."""
    wire = [codec.decode(codec.encode(row[None, :], scale), (1, rows.shape[1]), scale) for row in rows]
    return runner_.run_batch(np.concatenate(wire).astype(np.float32))


def test_tree_model_exact_at_recommended_scale(xgboost_diabetes: tuple[Path, np.ndarray]) -> None:
    path, features = xgboost_diabetes
    checked = check_model(path, features)
    assert checked.ok, checked.problems
    assert checked.fidelity is not None
    best = checked.fidelity.recommended
    assert best is not None
    assert best.exact
    assert best.scale > 10**6
    at_default = checked.fidelity.at(10**6)
    assert at_default is not None
    assert at_default.rows_differing > 0

    model = OnnxRunner(path)  # the node's runner, not the checker's session
    float_model = model.run_batch(features.astype(np.float32))
    assert np.array_equal(served(model, features, best.scale), float_model)
    at_1e6 = served(model, features, 10**6)
    assert not np.array_equal(at_1e6, float_model)
    assert int(np.sum(np.any(at_1e6 != float_model, axis=1))) == at_default.rows_differing

    # Registered as `model check` says, each port at its own scale (the card): the input at the recommended one, the
    # output at what float32 carries. The served, committed output is the float model's, rounded to that scale.
    limit = checked.fidelity.output_scale_limit
    assert limit is not None
    assert limit < best.scale  # one scale for both could not be right
    (port_in,), (port_out,) = model.info.inputs, model.info.outputs
    assert (port_in.name, port_out.name) == ("input", "variable")  # as the docs name them
    card = card_for(model.info, scales={port_in.name: best.scale, port_out.name: limit})
    layout = signature.Layout.plain(model.info, 1, 10**6, card)
    for row, want in zip(features, float_model, strict=True):
        wire = signature.encode_inputs({port_in.name: row[None, :]}, layout)
        output = signature.encode_outputs(model.run_batch(signature.feeds(wire, layout)), layout)
        got = signature.decode_outputs(output, layout)[port_out.name]
        assert np.array_equal(got.reshape(-1), np.round(want.astype(np.float64) * limit) / limit)


def test_model_check_command_recommends_the_scale(xgboost_diabetes: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, features = xgboost_diabetes
    sample = tmp_path / "rows.csv"
    sample.write_text(",".join(f"f{i}" for i in range(features.shape[1])) + "\n")  # a header row
    with sample.open("a") as handle:
        np.savetxt(handle, features[:100], delimiter=",")
    result = runner.invoke(app, ["model", "check", str(path), "--input-sample", str(sample), "--json"])
    assert result.exit_code == 0, result.output
    fidelity = json.loads(result.stdout)["fidelity"]
    assert fidelity["rows"] == 100
    assert fidelity["generated"] is False
    assert fidelity["recommended"]["exact"] is True
    assert fidelity["scales"][0]["rowsDiffering"] > 0
    assert fidelity["outputScaleLimit"] == 2**15  # while the input wants 2^40: the text output says so
    text = runner.invoke(app, ["model", "check", str(path), "--input-sample", str(sample)])
    assert "float32 carries a scale of at most 32768" in text.stdout, text.stdout
    assert "the outputs at most 32768" in text.stdout, text.stdout


def test_output_scale_float32_can_carry(xgboost_diabetes: tuple[Path, np.ndarray]) -> None:
    """The diabetes regressor's outputs reach a few hundred, where one float32 step is 2^-15: at most 2^15 can carry
    them, far below the 2^40 the input wants, so the CLI says the two disagree."""
    path, features = xgboost_diabetes
    checked = check_model(path, features[:100])
    assert checked.fidelity is not None
    largest = checked.fidelity.largest_output
    assert 256 <= largest < 512, largest  # the data set's targets run 25-346
    assert checked.fidelity.output_scale_limit == 2**15
    step = float(np.spacing(np.float32(largest)))
    assert step * 2**15 <= 1 < step * 2**16  # one float32 step is one canonical unit at the limit, two above it
