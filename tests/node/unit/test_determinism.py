"""Demo models build to the same bytes every time, and their canonical outputs do not depend on how onnxruntime is
threaded or how far it optimises the graph: the matrix threads {1, 2, 4} x every optimisation level, each compared
bit for bit with the threads=1 / disabled baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from eth_hash.auto import keccak

from verinfer.demo.models import DemoModel, build_demo_models
from verinfer.inference import codec
from verinfer.inference.model_store import inspect_model
from verinfer.inference.runner import OPTIMIZATION_LEVELS, OnnxRunner

DEMO_MODELS = ("credit_risk", "iris", "diabetes_regressor")
THREADS = (1, 2, 4)
GENERATED_ROWS = 300
BASELINE = (1, "disabled")

# The credit model's id is what the lending example and its users know it by; this build must keep producing it.
CREDIT_RISK_ID = "d5f7942b5c29b355"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DemoModel]:
    return {model.name: model for model in build_demo_models(tmp_path_factory.mktemp("demo-models"))}


def inputs_for(model: DemoModel) -> npt.NDArray[np.float32]:
    """The model's sample rows plus `GENERATED_ROWS` rows drawn around them (wider than the data, to reach the
    tails of the softmax and the regressor's range)."""
    rng = np.random.default_rng(2024)
    samples = np.asarray(model.samples, dtype=np.float64)
    generated = rng.normal(samples.mean(axis=0), 2.0 * samples.std(axis=0) + 1e-3, (GENERATED_ROWS, samples.shape[1]))
    return np.concatenate([samples, generated]).astype(np.float32)


def canonical(model: DemoModel, threads: int, level: str, rows: npt.NDArray[np.float32]) -> bytes:
    return codec.encode(OnnxRunner(model.path, threads, level).run_batch(rows), model.scale)


def test_build_demo_models_builds_every_model(models: dict[str, DemoModel]) -> None:
    assert tuple(models) == DEMO_MODELS
    for model in models.values():
        info = inspect_model(model.path.read_bytes())  # what the node and Client.register_model check
        assert (info.input.shape, info.output.shape) == (model.input_shape, model.output_shape)


def test_builds_are_byte_identical(models: dict[str, DemoModel], tmp_path: Path) -> None:
    again = {model.name: model for model in build_demo_models(tmp_path)}
    for name, model in models.items():
        assert keccak(again[name].path.read_bytes()) == keccak(model.path.read_bytes()), name


def test_credit_model_keeps_its_id(models: dict[str, DemoModel]) -> None:
    assert keccak(models["credit_risk"].path.read_bytes()).hex().startswith(CREDIT_RISK_ID)


def test_iris_classifies_the_bundled_data(models: dict[str, DemoModel]) -> None:
    from sklearn.datasets import load_iris

    iris = models["iris"]
    probabilities = OnnxRunner(iris.path).run_batch(iris.samples)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == load_iris().target))
    assert accuracy >= 0.95
    assert probabilities.max() < 1.0  # not saturated: the canonical encoding has digits to compare


def test_regressor_tracks_the_target(models: dict[str, DemoModel]) -> None:
    from sklearn.datasets import load_diabetes

    regressor = models["diabetes_regressor"]
    predicted = OnnxRunner(regressor.path).run_batch(regressor.samples)[:, 0]
    target = load_diabetes().target[: len(predicted)]
    assert np.corrcoef(predicted, target)[0, 1] > 0.6


@pytest.fixture(scope="module")
def baselines(models: dict[str, DemoModel]) -> dict[str, tuple[npt.NDArray[np.float32], bytes]]:
    return {name: (rows := inputs_for(m), canonical(m, *BASELINE, rows)) for name, m in models.items()}


def test_baselines_are_not_trivial(baselines: dict[str, tuple[npt.NDArray[np.float32], bytes]]) -> None:
    for name, (rows, encoded) in baselines.items():
        values = codec.decode_ints(encoded)
        assert len(values) % len(rows) == 0, name
        assert len(np.unique(values)) > len(rows) // 2, f"{name}: too few distinct outputs to show anything"


@pytest.mark.parametrize("level", tuple(OPTIMIZATION_LEVELS))
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", DEMO_MODELS)
def test_canonical_outputs_match_the_baseline(
    name: str,
    threads: int,
    level: str,
    models: dict[str, DemoModel],
    baselines: dict[str, tuple[npt.NDArray[np.float32], bytes]],
) -> None:
    rows, expected = baselines[name]
    actual = canonical(models[name], threads, level, rows)
    if actual != expected:
        got, want = codec.decode_ints(actual), codec.decode_ints(expected)
        first = int(np.argmax(got != want))
        pytest.fail(f"{name} threads={threads} level={level}: element {first} is {got[first]}, baseline {want[first]}")
