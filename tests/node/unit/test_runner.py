"""The onnxruntime runner: deterministic settings, batching, bit-identical outputs across threads and optimisation."""

from __future__ import annotations

import itertools
import json
import platform
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from eth_utils.crypto import keccak
from onnx import helper, numpy_helper

from tests.node.support import gemm_softmax
from verinfer.errors import ConfigError, ModelError
from verinfer.inference.model_store import CustomOperatorError, DynamicShapeError, ModelHashMismatchError
from verinfer.inference.runner import OPTIMIZATION_LEVELS, InputShapeError, OnnxRunner, cpu_description


def reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    weights, bias = (numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer)
    logits = x.astype(np.float64) @ weights + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def save(tmp_path: Path, model: onnx.ModelProto, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def rows(n: int, features: int = 4, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, features)).astype(np.float32)


def bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return save(tmp_path, gemm_softmax())


# ------------------------------------------------------------------------------------------------ running


def test_runs_the_tiny_model(tiny: Path) -> None:
    runner = OnnxRunner(tiny)
    x = rows(5)
    y = runner.run_batch(x)
    assert y.shape == (5, 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference(gemm_softmax(), x), rtol=1e-5)


def test_fixed_batch_of_one_runs_row_by_row_with_the_same_bits(tiny: Path) -> None:
    runner = OnnxRunner(tiny)
    x = rows(7)
    batched = runner.run_batch(x)
    assert bits(batched) == b"".join(bits(runner.run_batch(x[i : i + 1])) for i in range(7))


def test_dynamic_batch_runs_in_one_call_with_the_same_bits_as_row_by_row(tmp_path: Path) -> None:
    model = gemm_softmax(batch="N", features=64, classes=16)
    runner = OnnxRunner(save(tmp_path, model))
    assert runner.info.input.shape == (-1, 64)
    x = rows(32, features=64)
    calls: list[int] = []
    run = runner._run

    def counted(array: np.ndarray) -> np.ndarray:
        calls.append(len(array))
        return run(array)

    runner._run = counted  # type: ignore[method-assign]
    batched = runner.run_batch(x)
    assert calls == [32]
    # Batching is an optimisation only if it never moves a bit: a verifier re-runs one request at a time.
    assert bits(batched) == b"".join(bits(run(x[i : i + 1])) for i in range(32))


def test_fixed_batch_above_one_takes_exactly_that_many_rows(tmp_path: Path) -> None:
    runner = OnnxRunner(save(tmp_path, gemm_softmax(batch=2)))
    assert runner.run_batch(rows(2)).shape == (2, 2)
    with pytest.raises(InputShapeError, match="fixed batch of 2 rows, got 3"):
        runner.run_batch(rows(3))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3, 5), np.float32),
        np.zeros((4,), np.float32),
        np.zeros((0, 4), np.float32),
        np.zeros((1, 1, 4), np.float32),
    ],
    ids=["features", "no-batch-dim", "empty", "rank"],
)
def test_rows_of_the_wrong_shape_are_refused(tiny: Path, bad: np.ndarray) -> None:
    with pytest.raises(InputShapeError, match=r"takes rows shaped \(n, 4\)"):
        OnnxRunner(tiny).run_batch(bad)


def test_inputs_are_cast_within_their_kind_only(tiny: Path) -> None:
    runner = OnnxRunner(tiny)
    x = rows(3)
    assert bits(runner.run_batch(x.astype(np.float64))) == bits(runner.run_batch(x))
    with pytest.raises(InputShapeError, match="takes float32 values, got complex128"):
        runner.run_batch(x.astype(np.complex128))


# ------------------------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize(
    ("batch", "features", "classes"), [(1, 4, 2), ("N", 256, 64)], ids=["tiny-fixed-batch", "wider-dynamic-batch"]
)
def test_outputs_are_bit_identical_across_threads_and_optimisation_levels(
    tmp_path: Path, batch: int | str, features: int, classes: int
) -> None:
    path = save(tmp_path, gemm_softmax(batch=batch, features=features, classes=classes))
    x = rows(16, features=features)
    outputs = {
        (threads, level): bits(OnnxRunner(path, intra_op_threads=threads, graph_optimization_level=level).run_batch(x))
        for threads, level in itertools.product((1, 2, 4), ("disabled", "basic", "extended", "all"))
    }
    assert len(outputs) == 12
    assert len(set(outputs.values())) == 1, {k: keccak(v).hex()[:12] for k, v in outputs.items()}


def test_session_uses_the_deterministic_settings(tiny: Path) -> None:
    runner = OnnxRunner(tiny, intra_op_threads=2, graph_optimization_level="extended")
    options = runner._session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert options.use_deterministic_compute
    assert runner._session.get_providers() == ["CPUExecutionProvider"]


# ------------------------------------------------------------------------------------------------ environment


def test_environment_reports_what_can_move_bits(tiny: Path) -> None:
    env = OnnxRunner(tiny, intra_op_threads=2, graph_optimization_level="all").environment()
    assert env["onnxruntime"] == ort.__version__
    assert env["provider"] == "CPUExecutionProvider"
    assert (env["intra_op_threads"], env["inter_op_threads"], env["execution_mode"]) == (2, 1, "sequential")
    assert env["graph_optimization_level"] == "all"
    assert env["deterministic_compute"] is True
    assert env["numpy"] == np.__version__
    assert env["python"] == platform.python_version()
    assert env["machine"] == platform.machine()
    assert env["cpu"]
    json.dumps(env, sort_keys=True)  # manifest material: plain JSON values


def test_cpu_description_lists_only_simd_flags() -> None:
    name, flags = cpu_description()
    assert name
    assert list(flags) == sorted(flags)
    assert not set(flags) - {
        "sse2",
        "ssse3",
        "sse4_1",
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512dq",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx_vnni",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
        "asimd",
        "asimdhp",
        "asimddp",
        "fphp",
        "sve",
        "sve2",
        "i8mm",
        "bf16",
    }


# ----------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intra_op_threads": 0}, "intra_op_threads"),
        ({"intra_op_threads": True}, "intra_op_threads"),
        ({"graph_optimization_level": "fast"}, "disabled, basic, extended, all"),
    ],
)
def test_settings_are_checked(tiny: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OnnxRunner(tiny, **kwargs)  # type: ignore[arg-type]


def test_optimization_levels_name_every_onnxruntime_level_we_offer() -> None:
    assert list(OPTIMIZATION_LEVELS) == ["disabled", "basic", "extended", "all"]


def test_model_id_is_the_file_hash_and_can_be_required(tiny: Path) -> None:
    model_id = keccak(tiny.read_bytes())
    assert OnnxRunner(tiny, expected_id=model_id).model_id == model_id
    with pytest.raises(ModelHashMismatchError):
        OnnxRunner(tiny, expected_id=keccak(b"another model"))


def test_refuses_what_inspection_refuses(tmp_path: Path) -> None:
    custom = gemm_softmax()
    custom.graph.node[1].domain = "com.example"
    custom.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(CustomOperatorError):
        OnnxRunner(save(tmp_path, custom, "custom.onnx"))
    dynamic_features = gemm_softmax()
    dynamic_features.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "F"
    with pytest.raises(DynamicShapeError):
        OnnxRunner(save(tmp_path, dynamic_features, "dynamic.onnx"))


def test_missing_file_and_unloadable_model_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read the model file"):
        OnnxRunner(tmp_path / "absent.onnx")
    broken = gemm_softmax()
    broken.graph.node[0].input[1] = "missing_weights"
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        OnnxRunner(save(tmp_path, broken, "broken.onnx"))
