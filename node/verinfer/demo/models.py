"""Demo models, trained on generated or sklearn-bundled data (nothing downloads) and written as plain ONNX graphs.

    models = build_demo_models(Path("models"))   # credit_risk.onnx, iris.onnx, diabetes_regressor.onnx

Every model uses only Gemm, Relu and Softmax (ops every runtime and ezkl handle), with a static [1, n] input, so
the node accepts it. Builds are deterministic: fixed seeds, a fixed opset and IR version, no timestamps, so a
model's id — keccak256 of the file — is reproducible from this script alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

CREDIT_FEATURES = ("income", "debt_ratio", "late_payments", "years_employed")
OPSET = 17
DEFAULT_SCALE = 1_000_000


@dataclass(frozen=True)
class DemoModel:
    """A built model file and what the demo needs to use it."""

    name: str
    path: Path
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    samples: np.ndarray  # a few rows of the generated data, standardized like the training set
    scale: int = DEFAULT_SCALE  # the fixed-point scale to register it with
    scales: Mapping[str, int] = field(default_factory=dict)
    """Ports registered at their own scale (the entry's card), by name."""
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """The card's labels, by output name."""


def _credit_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=2_000,
        n_features=len(CREDIT_FEATURES),
        n_informative=3,
        n_redundant=1,
        class_sep=1.2,
        random_state=seed,
    )
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), y


def credit_risk_graph(weights: np.ndarray, bias: float) -> onnx.ModelProto:
    """probabilities = softmax([0, x·w + b]): column 1 is the probability of default."""
    n = weights.shape[0]
    b_matrix = np.zeros((n, 2), dtype=np.float32)
    b_matrix[:, 1] = weights
    c_vector = np.array([0.0, bias], dtype=np.float32)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["features", "W", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name="credit_risk",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, n])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, b_matrix.shape, b_matrix.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, c_vector.shape, c_vector.tolist()),
        ],
    )
    model = helper.make_model(graph, producer_name="verinfer-demo", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build_credit_model(out_dir: Path) -> DemoModel:
    """Trains the credit-risk classifier on generated applicants and writes `credit_risk.onnx`."""
    from sklearn.linear_model import LogisticRegression

    x, y = _credit_data()
    clf = LogisticRegression(max_iter=1_000).fit(x, y)
    model = credit_risk_graph(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "credit_risk.onnx"
    path.write_bytes(model.SerializeToString())
    return DemoModel("credit_risk", path, (1, len(CREDIT_FEATURES)), (1, 2), x[:200])


def credit_risk_logit_graph(weights: np.ndarray, bias: float) -> onnx.ModelProto:
    """logit = x·w + b, one Gemm: the credit model in the form a ZK circuit proves cheaply; P(default) =
    sigmoid(logit), computed by whoever reads the result."""
    n = weights.shape[0]
    graph = helper.make_graph(
        nodes=[helper.make_node("Gemm", ["features", "W", "b"], ["logit"])],
        name="credit_risk_zk",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, n])],
        outputs=[helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, 1])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, (n, 1), weights.astype(np.float32).tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, (1,), [bias]),
        ],
    )
    model = helper.make_model(graph, producer_name="verinfer-demo", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build_credit_zk_model(out_dir: Path) -> DemoModel:
    """The credit-risk classifier's weights as a ZK-friendly graph (`credit_risk_zk.onnx`, output: the logit)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _credit_data()
    clf = LogisticRegression(max_iter=1_000).fit(x, y)
    model = credit_risk_logit_graph(_on_grid(clf.coef_[0]), float(_on_grid([clf.intercept_[0]])[0]))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "credit_risk_zk.onnx"
    path.write_bytes(model.SerializeToString())
    return DemoModel("credit_risk_zk", path, (1, len(CREDIT_FEATURES)), (1, 1), x[:200], scale=2**10)


# ---------------------------------------------------------------------------------------------------------------------
# Iris classifier and diabetes regressor
# ---------------------------------------------------------------------------------------------------------------------

IRIS_FEATURES = ("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
IRIS_HIDDEN = 8
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
WEIGHT_GRID = 2.0**-16
"""Trained weights are rounded to this grid (exact in float32) before export: a last-bit difference in a BLAS or
solver on another machine then rarely moves a weight, so the file and its id are reproducible beyond this machine."""


def _on_grid(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    return (np.round(np.asarray(values, dtype=np.float64) / WEIGHT_GRID) * WEIGHT_GRID).astype(np.float32)


def _dense(name: str, weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(weights, f"{name}_W"), numpy_helper.from_array(bias, f"{name}_b")]


def _save(model: onnx.ModelProto, path: Path) -> None:
    """Checks the graph and writes it; `helper.make_model` stamps no time or host, so equal graphs give equal bytes."""
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


def iris_graph(
    first: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    second: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> onnx.ModelProto:
    """probabilities = softmax(relu(x·W1 + b1)·W2 + b2) over the three species, x in centimetres."""
    n_in, n_out = first[0].shape[0], second[0].shape[1]
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["measurements", "hidden_W", "hidden_b"], ["hidden_pre"]),
            helper.make_node("Relu", ["hidden_pre"], ["hidden"]),
            helper.make_node("Gemm", ["hidden", "out_W", "out_b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name="iris",
        inputs=[helper.make_tensor_value_info("measurements", TensorProto.FLOAT, [1, n_in])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, n_out])],
        initializer=[*_dense("hidden", *first), *_dense("out", *second)],
    )
    return helper.make_model(graph, producer_name="verinfer-demo", opset_imports=[helper.make_opsetid("", OPSET)])


def build_iris_model(out_dir: Path) -> DemoModel:
    """Trains a one-hidden-layer MLP on sklearn's bundled iris data and writes `iris.onnx`.

    The input standardisation is folded into the first layer, so the model takes raw measurements in centimetres.
    """
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    x, y = load_iris(return_X_y=True)
    mean, std = x.mean(axis=0), x.std(axis=0)
    # alpha=1.0: regularised enough that probabilities are not saturated at exactly 0 and 1 (98 % accuracy either way).
    clf = MLPClassifier(hidden_layer_sizes=(IRIS_HIDDEN,), solver="lbfgs", alpha=1.0, max_iter=2_000, random_state=3)
    clf.fit((x - mean) / std, y)
    w1, w2 = clf.coefs_
    b1, b2 = clf.intercepts_
    # relu(((x - mean) / std)·W1 + b1) = relu(x·(W1 / std) + (b1 - (mean / std)·W1))
    folded = (_on_grid(w1 / std[:, None]), _on_grid(b1 - (mean / std) @ w1))
    model = iris_graph(folded, (_on_grid(w2), _on_grid(b2)))
    path = out_dir / "iris.onnx"
    _save(model, path)
    samples = x.astype(np.float32)
    labels = {"probabilities": IRIS_CLASSES}
    return DemoModel("iris", path, (1, len(IRIS_FEATURES)), (1, len(IRIS_CLASSES)), samples, labels=labels)


def regressor_graph(weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]) -> onnx.ModelProto:
    """prediction = x·W + b: one Gemm, one output value."""
    graph = helper.make_graph(
        nodes=[helper.make_node("Gemm", ["features", "linear_W", "linear_b"], ["prediction"])],
        name="diabetes_progression",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, weights.shape[0]])],
        outputs=[helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [1, 1])],
        initializer=_dense("linear", weights, bias),
    )
    return helper.make_model(graph, producer_name="verinfer-demo", opset_imports=[helper.make_opsetid("", OPSET)])


def build_regressor_model(out_dir: Path) -> DemoModel:
    """Fits a ridge regression on sklearn's bundled diabetes data (disease progression after one year, from ten
    standardised baseline measurements) and writes `diabetes_regressor.onnx`."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    x, y = load_diabetes(return_X_y=True)
    reg = Ridge(alpha=0.1).fit(x, y)
    model = regressor_graph(_on_grid(reg.coef_[:, None]), _on_grid([reg.intercept_]))
    path = out_dir / "diabetes_regressor.onnx"
    _save(model, path)
    # The standardised features have many decimals: at 2^40 each float32 travels exactly (at 1e6, 431 of 442 rows
    # change). The predictions reach 346, where one float32 step is 2^-15: a finer output scale would turn any
    # last-bit difference between two runtimes into a canonical one (bench/model_fidelity.py).
    scales = {"features": 2**40, "prediction": 2**15}
    samples = x[:200].astype(np.float32)
    return DemoModel("diabetes_regressor", path, (1, len(DIABETES_FEATURES)), (1, 1), samples, scales=scales)


def build_demo_models(out_dir: Path) -> list[DemoModel]:
    """Builds every demo model into `out_dir`: credit risk (the lending example's), iris, diabetes regressor."""
    return [build_credit_model(out_dir), build_iris_model(out_dir), build_regressor_model(out_dir)]
