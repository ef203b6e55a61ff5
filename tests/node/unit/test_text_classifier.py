"""The demo spam classifier: a string in, run locally on onnxruntime with standard operators only."""

from __future__ import annotations

import numpy as np

from verinfer.demo.text_classifier import build_graph, proposals, train
from verinfer.inference.model_store import STANDARD_DOMAINS
from verinfer.text.settings import make_session


def test_text_classifier_runs_locally_and_matches_sklearn() -> None:
    classifier = train()
    model = build_graph(classifier)
    assert {node.domain for node in model.graph.node} <= STANDARD_DOMAINS
    session = make_session(model.SerializeToString())
    texts, labels = proposals(200, seed=99)  # held out
    (probability,) = session.run(None, {"text": np.asarray(texts, dtype=object)})
    assert probability.shape == (200, 1)
    expected = classifier.pipeline.predict_proba(texts)[:, 1]
    np.testing.assert_allclose(probability[:, 0], expected, atol=1e-5)
    assert ((probability[:, 0] > 0.5) == np.asarray(labels, bool)).mean() > 0.97
    spam, fine = session.run(
        None,
        {
            "text": np.asarray(
                [
                    "FREE AIRDROP claim your tokens now!!!",
                    "raise the timelock delay to 3 percent after the risk review",
                ],
                dtype=object,
            )
        },
    )[0][:, 0]
    assert spam > 0.9 > 0.1 > fine
    # The same bits at every thread count and allowed level.
    for threads in (1, 2):
        for level in ("disabled", "basic"):
            other = make_session(model.SerializeToString(), threads, level)
            (again,) = other.run(None, {"text": np.asarray(texts, dtype=object)})
            assert np.array_equal(again, probability)
