"""The demo text classifier: "is this governance proposal spam?", a string in, a spam probability out.

TF-IDF + logistic regression trained with scikit-learn on generated proposals, then written as an ONNX graph of
standard operators only (the node refuses contrib domains, and skl2onnx's converter uses com.microsoft's Tokenizer):
StringNormalizer (lower case, "C" locale: ASCII only, and no locale package needed) -> StringSplit on whitespace ->
TfIdfVectorizer (term counts over the vocabulary) -> x idf -> L2 normalisation -> linear layer -> sigmoid. Input
`text` [n] strings, output `spam_probability` [n, 1].

    python -m verinfer.demo.text_classifier OUT.onnx
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 20  # StringSplit
TOKEN_PATTERN = r"(?u)[^\s]+"  # what StringSplit does with no delimiter: runs of whitespace separate tokens

_ACTIONS = ("raise", "lower", "set", "extend", "pause", "resume", "fund", "audit", "renew", "cap")
_SUBJECTS = (
    "the reserve factor of the lending pool",
    "the oracle heartbeat",
    "the grants budget for next quarter",
    "the liquidation bonus",
    "the timelock delay",
    "the node stake minimum",
    "the treasury diversification plan",
    "the fee switch on the hub",
)
_REASONS = (
    "as discussed in the forum",
    "after the risk review",
    "to match the new market conditions",
    "following the security audit",
    "per the working group report",
)
_SPAM = (
    "free airdrop claim your tokens now",
    "send eth to this address and get double back",
    "guaranteed profit join the presale today",
    "click the link to connect your wallet for rewards",
    "limited offer mint now before it is gone",
    "dm me for a private sale with huge bonus",
    "urgent verify your wallet to avoid losing funds",
)
_SPAM_TAILS = ("!!!", "100x", "act fast", "no risk", "only today", "trust me")


def proposals(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """n generated proposals, about half spam (label 1)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        if rng.random() < 0.5:
            number = int(rng.integers(1, 40))
            text = f"{rng.choice(_ACTIONS)} {rng.choice(_SUBJECTS)} to {number} percent {rng.choice(_REASONS)}"
            label = 0
        else:
            text = f"{rng.choice(_SPAM)} {rng.choice(_SPAM_TAILS)}"
            label = 1
        texts.append(text.upper() if rng.random() < 0.1 else text)
        labels.append(label)
    return texts, labels


@dataclass(frozen=True)
class Classifier:
    vocabulary: tuple[str, ...]
    idf: np.ndarray[Any, np.dtype[np.float32]]
    coef: np.ndarray[Any, np.dtype[np.float32]]
    intercept: float
    pipeline: Any
    """The fitted scikit-learn pipeline, for comparison."""


def train(n: int = 600, seed: int = 0) -> Classifier:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    texts, labels = proposals(n, seed)
    pipeline = Pipeline(
        [("tfidf", TfidfVectorizer(token_pattern=TOKEN_PATTERN)), ("lr", LogisticRegression(C=10.0))]
    ).fit(texts, labels)
    tfidf, lr = pipeline.named_steps["tfidf"], pipeline.named_steps["lr"]
    vocabulary = tuple(sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.__getitem__))
    return Classifier(
        vocabulary,
        tfidf.idf_.astype(np.float32),
        lr.coef_[0].astype(np.float32),
        float(lr.intercept_[0]),
        pipeline,
    )


def build_graph(model: Classifier) -> onnx.ModelProto:
    size = len(model.vocabulary)
    inits = [
        numpy_helper.from_array(model.idf.reshape(1, size), "idf"),
        numpy_helper.from_array(model.coef.reshape(size, 1), "coef"),
        numpy_helper.from_array(np.asarray([model.intercept], np.float32), "intercept"),
        numpy_helper.from_array(np.asarray([1], np.int64), "axis1"),
        numpy_helper.from_array(np.asarray(1e-12, np.float32), "eps"),
    ]
    nodes = [
        helper.make_node(
            "StringNormalizer", ["text"], ["lower"], case_change_action="LOWER", is_case_sensitive=1, locale="C"
        ),
        helper.make_node("StringSplit", ["lower"], ["tokens", "token_counts"]),
        helper.make_node(
            "TfIdfVectorizer",
            ["tokens"],
            ["tf"],
            mode="TF",
            min_gram_length=1,
            max_gram_length=1,
            max_skip_count=0,
            ngram_counts=[0],
            ngram_indexes=list(range(size)),
            pool_strings=list(model.vocabulary),
        ),
        helper.make_node("Mul", ["tf", "idf"], ["tfidf"]),
        helper.make_node("ReduceL2", ["tfidf", "axis1"], ["norm"], keepdims=1),
        helper.make_node("Max", ["norm", "eps"], ["safe_norm"]),  # an empty text stays all zeros, as in sklearn
        helper.make_node("Div", ["tfidf", "safe_norm"], ["features"]),
        helper.make_node("MatMul", ["features", "coef"], ["score_lin"]),
        helper.make_node("Add", ["score_lin", "intercept"], ["score"]),
        helper.make_node("Sigmoid", ["score"], ["spam_probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "verinfer-proposal-spam",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("spam_probability", TensorProto.FLOAT, ["n", 1])],
        inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="verinfer")
    onnx_model.ir_version = 9
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    classifier = train()
    onnx.save(build_graph(classifier), args.out)
    print(f"wrote {args.out}: {len(classifier.vocabulary)} terms, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
