"""The model author's guide's scikit-learn example runs as printed, and writes a model the node accepts and serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_utils.crypto import keccak

from verinfer.inference import codec
from verinfer.inference.model_store import inspect_model
from verinfer.inference.runner import OnnxRunner

PAGE = Path(__file__).resolve().parents[3] / "docs" / "model-authors.md"
SCALE = 1_000_000


def _example_code() -> str:
    text = PAGE.read_text()
    match = re.search(
        r"<!-- example:sklearn [^\n]*-->\n```python\n(.*?)```\n<!-- end example:sklearn -->", text, re.DOTALL
    )
    assert match is not None, f"{PAGE} has no sklearn example between its markers"
    return match.group(1)


def test_sklearn_example_writes_a_model_the_node_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(_example_code(), str(PAGE), "exec"), namespace)  # its own asserts compare with scikit-learn

    path = tmp_path / "iris_logreg.onnx"
    data = path.read_bytes()
    info = inspect_model(data)  # what registration checks: one static input and output, standard operators
    assert (info.input.shape, info.output.shape) == ((1, 4), (1, 3))

    # As the node serves a request: canonical bytes in, float32 through onnxruntime, canonical bytes out.
    runner = OnnxRunner(path, expected_id=keccak(data))
    x = np.asarray(namespace["x"], dtype=np.float64)
    clf: Any = namespace["clf"]
    mean, std = np.asarray(namespace["mean"]), np.asarray(namespace["std"])
    for row in x[::7]:
        request = codec.encode(row[None, :], SCALE)
        output = codec.encode(runner.run_batch(codec.decode(request, (1, 4), SCALE).astype(np.float32)), SCALE)
        probabilities = codec.decode(output, (1, 3), SCALE)[0]
        expected = clf.predict_proba(((row - mean) / std)[None, :])[0]
        assert np.allclose(probabilities, expected, atol=2e-5)
        assert abs(probabilities.sum() - 1.0) < 1e-5


def test_sklearn_example_is_byte_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        exec(compile(_example_code(), str(PAGE), "exec"), {"__name__": "docs_example"})
        ids.append(keccak((tmp_path / run / "iris_logreg.onnx").read_bytes()))
    assert ids[0] == ids[1], "the guide promises the same graph gives the same bytes, hence the same model id"
