"""Text generation on this machine: the demo language model's tokens/s and the time to verify an answer by
regenerating it, per thread count and allowed optimisation level, plus whether every setting gave the same ids.

    .venv/bin/python bench/text.py [--steps 600] [--repeats 3]

Builds the demo bundle (verinfer.demo.text_model) in a temporary directory, prints a Markdown table and writes it
to bench/results/text.md. Gas per answer needs the hub's variable-length outputs (issue 17 item 2), not here yet.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from verinfer.demo.text_model import ANSWER_PROMPTS, train, write_bundle
from verinfer.text.bundle import load_bundle
from verinfer.text.generate import load_generator
from verinfer.text.settings import ALLOWED_LEVELS

RESULTS = Path(__file__).parent / "results" / "text.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trained = train(args.steps)
        write_bundle(tmp, trained)
        size = (Path(tmp) / "decoder.onnx").stat().st_size
        bundle = load_bundle(tmp)
        rows, reference = [], None
        for threads in (1, 2):
            for level in ALLOWED_LEVELS:
                generator = load_generator(bundle, intra_op_threads=threads, graph_optimization_level=level)
                best, answers = float("inf"), []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    answers = [generator.generate(p) for p in ANSWER_PROMPTS]
                    best = min(best, time.perf_counter() - started)
                tokens = sum(len(a.token_ids) for a in answers)
                ids = [a.token_ids for a in answers]
                reference = reference or ids
                rows.append(
                    f"| {threads} | {level} | {tokens / best:,.0f} | {1000 * best / len(answers):.1f} "
                    f"| {tokens / len(answers):.1f} | {'yes' if ids == reference else 'NO'} |"
                )
    lines = [
        f"Demo language model: {size:,} bytes, trained {args.steps} steps in {trained.seconds:.1f} s "
        f"(next-byte accuracy {trained.accuracy:.3f}); {len(ANSWER_PROMPTS)} prompts, best of {args.repeats}; "
        f"{platform.processor() or platform.machine()}, onnxruntime CPU.",
        "",
        "| threads | level | tokens/s | verify (regenerate) ms/answer | tokens/answer | same ids |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
