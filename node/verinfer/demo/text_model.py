"""The demo language model, built here from nothing downloaded: `python -m verinfer.demo.text_model OUT_DIR`.

A byte-level decoder (verinfer.text.graph) that completes the Zen of Python (shipped with Python as `this`) and
answers a few questions about verinfer. Without torch or any autodiff here, its attention is designed, not learned:
head j of its one attention layer looks back exactly j positions (one-hot positions in the keys, a shifted copy
in the queries, scores 30 apart), so the residual stream holds the last LOOKBACK + 1 bytes, and only the MLP head is
trained, in numpy (Adam on cross-entropy, full batch, seconds on 2 cores). It is a real attention graph
with a KV cache all the same: the node runs it like any decoder, and that is what the demo needs to show.
The bundle written is decoder.onnx + verinfer-text.json + verinfer-bundle.json; the binary is not shipped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx

from verinfer.text.bundle import write_manifest
from verinfer.text.graph import DecoderWeights, Layer, build_decoder, residual

VOCAB = 256
EMBED = 24
CONTEXT = 96
LOOKBACK = 15
HIDDEN = 256
SCORE = 30.0
NEWLINE = 10

QUESTIONS = (
    "Q: What is verinfer? A: verifiable AI inference on EVM chains.",
    "Q: What does a node commit? A: the token ids and the text.",
    "Q: How is an answer checked? A: by regenerating it token by token.",
    "Q: Which decoding is used? A: greedy, the top token at each step.",
    "Q: What is a near-tie? A: two top logits closer than the margin.",
    "Q: Who runs the model? A: the nodes, on onnxruntime.",
    "Q: What names a bundle? A: the keccak256 of its manifest.",
)
# Prompts the demo and the benchmark ask (prefixes of corpus lines).
ANSWER_PROMPTS = (
    "Beautiful is",
    "Explicit is",
    "Errors should",
    "Now is",
    "Namespaces are",
    "Q: What is verinfer? A:",
    "Q: What does a node commit? A:",
    "Q: How is an answer checked? A:",
    "Q: What names a bundle? A:",
)


def zen_of_python() -> list[str]:
    with contextlib.redirect_stdout(io.StringIO()):
        import this  # prints the Zen on first import

    text = "".join(this.d.get(c, c) for c in this.s)
    return [line for line in text.splitlines()[2:] if line]


def corpus() -> list[str]:
    lines = [*zen_of_python(), *QUESTIONS]
    too_long = [line for line in lines if len(line.encode()) + 1 > CONTEXT]
    if too_long:
        raise ValueError(f"lines longer than the {CONTEXT}-byte context: {too_long}")
    return lines


def designed_weights(seed: int = 0) -> DecoderWeights:
    """Everything but the MLP head (zeros until trained)."""
    rng = np.random.default_rng(seed)
    d = EMBED + CONTEXT + LOOKBACK * EMBED
    embed = rng.standard_normal((VOCAB, EMBED)).astype(np.float32)
    embed /= np.linalg.norm(embed, axis=1, keepdims=True)
    tok = np.zeros((VOCAB, d), np.float32)
    tok[:, :EMBED] = embed
    pos = np.zeros((CONTEXT, d), np.float32)
    pos[np.arange(CONTEXT), EMBED + np.arange(CONTEXT)] = 1.0
    wq = np.zeros((d, LOOKBACK * CONTEXT), np.float32)
    wk = np.zeros_like(wq)
    wv = np.zeros((d, LOOKBACK * EMBED), np.float32)
    wo = np.zeros((LOOKBACK * EMBED, d), np.float32)
    for h in range(LOOKBACK):
        back = h + 1
        for p in range(CONTEXT):
            wk[EMBED + p, h * CONTEXT + p] = 1.0
            if p >= back:  # earlier positions find no match and average what there is, in training as in the node
                wq[EMBED + p, h * CONTEXT + p - back] = SCORE * np.sqrt(CONTEXT)
        wv[np.arange(EMBED), h * EMBED + np.arange(EMBED)] = 1.0
        wo[h * EMBED + np.arange(EMBED), EMBED + CONTEXT + h * EMBED + np.arange(EMBED)] = 1.0
    return DecoderWeights(
        tok_emb=tok,
        pos_emb=pos,
        layers=(Layer(wq, wk, wv, wo, heads=LOOKBACK),),
        w1=np.zeros((d, HIDDEN), np.float32),
        b1=np.zeros(HIDDEN, np.float32),
        w2=np.zeros((HIDDEN, VOCAB), np.float32),
        b2=np.zeros(VOCAB, np.float32),
    )


@dataclass(frozen=True)
class Trained:
    weights: DecoderWeights
    seconds: float
    loss: float
    accuracy: float
    """Next-byte accuracy on the corpus, teacher-forced."""


def _examples(weights: DecoderWeights, lines: list[str]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    features, targets = [], []
    for line in lines:
        ids = np.frombuffer(line.encode() + b"\n", np.uint8).astype(np.int64)
        features.append(residual(weights, ids[:-1]))
        targets.append(ids[1:])
    return np.concatenate(features), np.concatenate(targets)


def train(steps: int = 200, seed: int = 0, lr: float = 1e-2) -> Trained:
    started = time.monotonic()
    base = designed_weights(seed)
    x, y = _examples(base, corpus())
    rng = np.random.default_rng(seed + 1)
    d = x.shape[1]
    params = {
        "w1": (rng.standard_normal((d, HIDDEN)) * np.sqrt(2 / d)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": (rng.standard_normal((HIDDEN, VOCAB)) * np.sqrt(1 / HIDDEN)).astype(np.float32),
        "b2": np.zeros(VOCAB, np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    n = len(y)
    loss = 0.0
    for step in range(1, steps + 1):
        pre = x @ params["w1"] + params["b1"]
        hidden = np.maximum(pre, 0)
        logits = hidden @ params["w2"] + params["b2"]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = float(-np.log(probs[np.arange(n), y] + 1e-12).mean())
        grad_logits = probs
        grad_logits[np.arange(n), y] -= 1
        grad_logits /= n
        grad_hidden = (grad_logits @ params["w2"].T) * (pre > 0)
        grads = {
            "w2": hidden.T @ grad_logits,
            "b2": grad_logits.sum(axis=0),
            "w1": x.T @ grad_hidden,
            "b1": grad_hidden.sum(axis=0),
        }
        for key, grad in grads.items():
            m, v = moments[key]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad * grad
            update = lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
            params[key] = (params[key] - update).astype(np.float32)
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0)
    accuracy = float(((hidden @ params["w2"] + params["b2"]).argmax(axis=1) == y).mean())
    weights = DecoderWeights(base.tok_emb, base.pos_emb, base.layers, **params)
    return Trained(weights, time.monotonic() - started, loss, accuracy)


def write_bundle(out_dir: Path | str, trained: Trained) -> bytes:
    """Writes the bundle; returns its id."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(build_decoder(trained.weights), out / "decoder.onnx")
    config = {"stop_token_ids": [NEWLINE], "max_new_tokens": 64, "context_length": CONTEXT, "near_tie_margin": 1e-3}
    (out / "verinfer-text.json").write_text(json.dumps(config, sort_keys=True) + "\n")
    return write_manifest(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    trained = train(args.steps)
    bundle_id = write_bundle(args.out_dir, trained)
    size = (args.out_dir / "decoder.onnx").stat().st_size
    print(
        f"trained {args.steps} steps in {trained.seconds:.1f}s: loss {trained.loss:.4f}, "
        f"next-byte accuracy {trained.accuracy:.3f}; decoder.onnx {size} bytes; bundle 0x{bundle_id.hex()}"
    )


if __name__ == "__main__":
    main()
