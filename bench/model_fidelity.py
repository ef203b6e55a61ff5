"""Fidelity of served models: how many rows of a data set get other outputs from a node than from the float model,
at each input scale, for the model kinds people export (tree ensembles above all).

    .venv/bin/python bench/model_fidelity.py

A node hands the model the input as it travelled: rounded to the model's fixed-point scale, decoded, as float32.
A tree splits on thresholds, so rounding that crosses one changes the answer; `verinfer model check` counts the rows
where it does and recommends the smallest exact scale (`verinfer.inference.check`). Every model here is trained
locally on a data set scikit-learn ships (diabetes: regressors, breast cancer: classifiers) and exported the way
its library documents, with a fixed [1, n] input; all rows of the data set are checked. Prints a Markdown table and
writes it to bench/results/model_fidelity.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import numpy.typing as npt
import onnx
import xgboost
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from verinfer.inference.check import ScaleFidelity, check_model

OUT = Path(__file__).resolve().parent / "results" / "model_fidelity.md"
COLUMNS = ("1e6", "1e9", "2^35", "2^40")
SEED = 0

Data = tuple[npt.NDArray[np.float64], npt.NDArray[Any]]
Build = Callable[[Data], onnx.ModelProto]


def _ml_types(features: int) -> list[tuple[str, Any]]:
    return [("input", MlFloat([1, features]))]


def _skl(model: Any, data: Data, **options: Any) -> onnx.ModelProto:
    x, y = data
    model.fit(x, y)
    exported: onnx.ModelProto = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([1, x.shape[1]]))],
        options={id(model): options} if options else None,
    )
    return exported


def xgb_regressor(data: Data) -> onnx.ModelProto:
    x, y = data
    model = xgboost.XGBRegressor(n_estimators=100, max_depth=4, random_state=SEED).fit(x, y)
    exported: onnx.ModelProto = convert_xgboost(model, initial_types=_ml_types(x.shape[1]))
    return exported


def xgb_classifier(data: Data) -> onnx.ModelProto:
    x, y = data
    model = xgboost.XGBClassifier(n_estimators=100, max_depth=4, random_state=SEED).fit(x, y)
    exported: onnx.ModelProto = convert_xgboost(model, initial_types=_ml_types(x.shape[1]))
    return exported


def lgbm_regressor(data: Data) -> onnx.ModelProto:
    x, y = data
    model = lightgbm.LGBMRegressor(n_estimators=100, random_state=SEED, verbose=-1).fit(x, y)
    exported: onnx.ModelProto = convert_lightgbm(model, initial_types=_ml_types(x.shape[1]))
    return exported


def lgbm_classifier(data: Data) -> onnx.ModelProto:
    x, y = data
    model = lightgbm.LGBMClassifier(n_estimators=100, random_state=SEED, verbose=-1).fit(x, y)
    exported: onnx.ModelProto = convert_lightgbm(model, initial_types=_ml_types(x.shape[1]), zipmap=False)
    return exported


KINDS: tuple[tuple[str, str, Build], ...] = (
    ("XGBoost regressor", "diabetes", xgb_regressor),
    ("XGBoost classifier", "breast cancer", xgb_classifier),
    ("LightGBM regressor", "diabetes", lgbm_regressor),
    ("LightGBM classifier", "breast cancer", lgbm_classifier),
    ("RandomForest regressor", "diabetes", lambda d: _skl(RandomForestRegressor(50, random_state=SEED), d)),
    (
        "RandomForest classifier",
        "breast cancer",
        lambda d: _skl(RandomForestClassifier(50, random_state=SEED), d, zipmap=False),
    ),
    ("GradientBoosting regressor", "diabetes", lambda d: _skl(GradientBoostingRegressor(random_state=SEED), d)),
    ("linear regression", "diabetes", lambda d: _skl(LinearRegression(), d)),
    ("logistic regression", "breast cancer", lambda d: _skl(LogisticRegression(max_iter=5000), d, zipmap=False)),
)


def _cell(result: ScaleFidelity | None) -> str:
    if result is None:
        return "-"
    if result.unusable is not None:
        return "does not fit int64"
    return "0" if result.exact else f"{result.rows_differing} ({result.max_error:.3g})"


def main() -> None:
    data: dict[str, Data] = {
        "diabetes": load_diabetes(return_X_y=True),
        "breast cancer": load_breast_cancer(return_X_y=True),
    }
    lines = [
        "# Served vs float model: rows whose outputs differ, by input scale",
        "",
        "Written by `python bench/model_fidelity.py`. Each cell: rows (of all the data set's rows) whose served",
        "outputs are not identical to the float model's, and in brackets the largest absolute difference over every",
        "output (a classifier's label and probabilities). Recommended: the smallest scale `verinfer model check`",
        "finds exact on every row (candidates 1e6, 1e9, 2^35, 2^40, 2^44, 2^48).",
        "",
        "The data matters as much as the model: the breast cancer features are written with few decimals, so 99.96 %",
        "of them are the same float32 after rounding at 1e6, while the diabetes features (standardised, full float64",
        "precision) all move. Check a model with rows like the ones it will serve.",
        "",
        "Output scale: the largest power of two at which one float32 step of the largest output is at most one",
        "canonical unit (`model check`'s limit; above it two runtimes' last-bit differences become canonical ones).",
        "Where the recommended input scale exceeds it, register each port at its own (the model card):",
        "`--port-scale INPUT=<recommended> --port-scale OUTPUT=<output scale>`.",
        "",
        f"| model | data (rows) | {' | '.join(COLUMNS)} | recommended | largest output | output scale |",
        f"| --- | --- |{' ---: |' * len(COLUMNS)} --- | ---: | ---: |",
    ]
    for name, dataset, build in KINDS:
        rows = data[dataset][0]
        checked = check_model(build(data[dataset]).SerializeToString(), rows)
        if checked.fidelity is None:
            raise SystemExit(f"{name}: no fidelity report: {checked.fidelity_skipped}; {checked.problems}")
        fidelity = checked.fidelity
        best = fidelity.recommended
        names = {s.name: s for s in fidelity.scales}
        recommended = "none" if best is None else f"{best.name}" + ("" if best.exact else f": {_cell(best)}")
        cells = " | ".join(_cell(names.get(column)) for column in COLUMNS)
        limit = fidelity.output_scale_limit
        output = "-" if limit is None else f"2^{limit.bit_length() - 1}"
        largest = f"{fidelity.largest_output:.4g}"
        lines.append(f"| {name} | {dataset} ({len(rows)}) | {cells} | {recommended} | {largest} | {output} |")
        print(lines[-1], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {OUT}")


if __name__ == "__main__":
    main()
