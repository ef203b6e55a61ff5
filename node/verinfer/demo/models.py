"""Demo models, trained on generated data and written as plain ONNX graphs.

The credit-risk model is a logistic regression exported as Gemm + Softmax (ops every runtime and ezkl handle),
so its id — keccak256 of the file — is reproducible from this script alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

CREDIT_FEATURES = ("income", "debt_ratio", "late_payments", "years_employed")
OPSET = 17


@dataclass(frozen=True)
class DemoModel:
    """A built model file and what the demo needs to use it."""

    name: str
    path: Path
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    samples: np.ndarray  # a few rows of the generated data, standardized like the training set


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
