"""examples/pytorch/export_mlp.py (docs/pytorch.md) writes ONNX files that `verinfer model check` passes and that
give the torch model's outputs in onnxruntime, byte for byte the same on a second run.

Skipped where torch is not installed, as in the project's venv and CI (torch is no dependency of the project: its
PyPI wheel pulls about 3 GB of CUDA libraries). To run it, use an interpreter with torch and the project, e.g. a
separate venv with `pip install torch onnxscript` and `pip install -e .`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from verinfer.inference.check import check_model

torch = pytest.importorskip("torch", reason="torch is not a project dependency; see the module docstring")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pytorch" / "export_mlp.py"
MODELS = ("breast_cancer_mlp.onnx", "digits_cnn.onnx")


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_mlp", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    models: list[Any] = _example().export_all(tmp_path_factory.mktemp("torchscript"))
    return models


def _torch_outputs(module: Any, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with torch.no_grad():
        outputs: np.ndarray[Any, Any] = module(torch.from_numpy(rows)).numpy()
    return outputs


def test_writes_both_models_and_their_sample_rows(exported: list[Any]) -> None:
    assert [e.path.name for e in exported] == list(MODELS)
    for e in exported:
        assert e.accuracy > 0.9, f"{e.path.name} learned little: {e.accuracy}"
        assert e.sample.read_text().count("\n") == 21, "a header line and 20 rows"
        assert sorted(p.name for p in e.path.parent.iterdir() if p.name.startswith(e.path.name)) == [e.path.name]


def test_model_check_finds_no_problems_and_recommends_1e6(exported: list[Any]) -> None:
    for e in exported:
        check = check_model(e.path, np.loadtxt(e.sample, delimiter=",", skiprows=1))  # as --input-sample reads it
        assert check.problems == (), [p.message for p in check.problems]
        assert check.fidelity is not None
        assert not check.fidelity.generated
        recommended = check.fidelity.recommended
        assert recommended is not None
        assert (recommended.scale, recommended.exact) == (10**6, True), check.fidelity


def test_onnxruntime_gives_the_torch_outputs_on_a_batch(exported: list[Any]) -> None:
    for e in exported:
        session = ort.InferenceSession(str(e.path), providers=["CPUExecutionProvider"])
        (spec,) = session.get_inputs()
        assert spec.shape[0] == "batch"
        rows = e.rows[:5]  # five rows in one call: the batch dimension is symbolic
        (served,) = session.run(None, {spec.name: rows})
        assert served.dtype == np.float32
        assert served.shape == (5, session.get_outputs()[0].shape[1])
        np.testing.assert_allclose(served, _torch_outputs(e.module, rows), rtol=0, atol=1e-6)


def test_a_second_run_writes_the_same_bytes(exported: list[Any], tmp_path: Path) -> None:
    again = _example().export_all(tmp_path)
    for first, second in zip(exported, again, strict=True):
        assert first.path.read_bytes() == second.path.read_bytes(), f"{first.path.name} is not reproducible"


def test_dynamo_exporter_writes_models_that_pass_the_check(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    for e in _example().export_all(tmp_path, exporter="dynamo"):
        check = check_model(e.path, np.loadtxt(e.sample, delimiter=",", skiprows=1))
        assert check.problems == (), [p.message for p in check.problems]
        session = ort.InferenceSession(str(e.path), providers=["CPUExecutionProvider"])
        (served,) = session.run(None, {session.get_inputs()[0].name: e.rows[:5]})
        np.testing.assert_allclose(served, _torch_outputs(e.module, e.rows[:5]), rtol=0, atol=1e-6)
