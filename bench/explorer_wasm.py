"""Browser (onnxruntime-web, WASM, in Debian's chromium) against native onnxruntime on the demo models: 1,000 rows
each through the node's canonical path (canonical input -> float32 -> model -> canonical output), counting rows
whose canonical outputs are equal, differ within float32 tolerance (every element within 2^-16 of its value plus
one unit of the encoding: the explorer's rule), or differ beyond it.

It also tests whether an exact browser path could be had for the Gemm-only regressor: the native result is
compared with a float64 emulation of a single-precision Gemm with fused multiply-adds (each product exact in
float64, one rounding per step to float32), in the two accumulation orders MLAS could use, and the WASM result
with the unfused emulation.

    python bench/explorer_wasm.py              # writes bench/results/explorer_wasm.md

Needs the explorer's bundle (`npm --prefix js run build:explorer`) and /usr/bin/chromium (scripts/setup.sh).
"""

from __future__ import annotations

import functools
import http.server
import mimetypes
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from verinfer.demo.models import build_demo_models
from verinfer.explorer.browser import CHROMIUM, CHROMIUM_ARGS
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "node" / "verinfer" / "explorer" / "static"
OUT = ROOT / "bench" / "results" / "explorer_wasm.md"
ROWS = 1_000
SCALE = 1_000_000
TOLERANCE = 2.0**-16

F32 = np.float32


def rows_for(samples: npt.NDArray[Any], seed: int = 0) -> npt.NDArray[np.float64]:
    """1,000 inputs: the model's sample rows, cycled, each moved by noise of a tenth of the features' spread."""
    rng = np.random.default_rng(seed)
    base = np.asarray(samples, dtype=np.float64)
    picked = base[rng.integers(0, len(base), ROWS)]
    moved: npt.NDArray[np.float64] = picked + rng.normal(0.0, 0.1, picked.shape) * base.std(axis=0)
    return moved


def native(path: Path, inputs: list[bytes], shape: tuple[int, ...]) -> list[bytes]:
    runner = OnnxRunner(path)  # the node's canonical settings
    return [codec.encode(runner.run_batch(codec.decode(i, shape, SCALE).astype(np.float32)), SCALE) for i in inputs]


def classify(a: bytes, b: bytes) -> str:
    x, y = codec.decode_ints(a).astype(np.float64), codec.decode_ints(b).astype(np.float64)
    if np.array_equal(x, y):
        return "equal"
    within = np.abs(x - y) <= 1 + np.maximum(np.abs(x), np.abs(y)) * TOLERANCE
    return "within" if bool(within.all()) else "beyond"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def browser_outputs(
    jobs: list[tuple[str, list[bytes], tuple[int, ...]]], hook: str = "runRows"
) -> list[list[bytes] | None]:
    """Each job (model URL path, inputs, input shape) through the explorer page's own code in chromium: its
    onnxruntime-web (`runRows`) or its emulation of native Gemm (`emulateRows`, None for a graph it does not
    emulate)."""
    from playwright.sync_api import sync_playwright

    mimetypes.add_type("application/wasm", ".wasm")
    handler = functools.partial(_Quiet, directory=str(STATIC.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            page = browser.new_page()
            page.goto(f"{base}/static/index.html")
            page.wait_for_function("() => window.verinferExplorer !== undefined")
            results: list[list[bytes] | None] = []
            for url, inputs, shape in jobs:
                hexes = page.evaluate(
                    f"([u, i, s, k]) => window.verinferExplorer.{hook}(u, i, s, k)",
                    [base + url, ["0x" + i.hex() for i in inputs], list(shape), str(SCALE)],
                )
                results.append(None if hexes is None else [bytes.fromhex(h[2:]) for h in hexes])
            browser.close()
    finally:
        server.shutdown()
    return results


# ---------------------------------------------------------------------------------------------------------------------
# Can the browser reproduce native Gemm exactly? Emulations of a float32 x·W + b.
# ---------------------------------------------------------------------------------------------------------------------


def _fma(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    # a*b is exact in float64 (24 + 24 bits); the sum rounds once in float64, then to float32: a double rounding
    # that differs from a true fused multiply-add only when the float64 sum lands exactly on a float32 tie.
    return F32(float(a) * float(b) + float(c))


def _plain(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    return F32(F32(a * b) + c)


def gemm(step: Callable[[np.float32, np.float32, np.float32], np.float32], bias_first: bool) -> Callable[..., F32]:
    def run(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32], b: np.float32) -> np.float32:
        acc = b if bias_first else F32(0)
        for xi, wi in zip(x, w, strict=True):
            acc = step(xi, wi, acc)
        return acc if bias_first else F32(acc + b)

    return run


def exact_path(path: Path, inputs: list[bytes], natives: list[bytes], wasm: list[bytes]) -> list[tuple[str, int, int]]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    w = weights["linear_W"].astype(np.float32)[:, 0]
    b = F32(weights["linear_b"].astype(np.float32)[0])
    found = []
    for name, fn in (
        ("FMA, bias added last", gemm(_fma, bias_first=False)),
        ("FMA, bias first", gemm(_fma, bias_first=True)),
        ("no FMA, bias added last", gemm(_plain, bias_first=False)),
        ("no FMA, bias first", gemm(_plain, bias_first=True)),
    ):
        emulated = [
            codec.encode(np.array([[fn(codec.decode(i, (1, len(w)), SCALE).astype(np.float32)[0], w, b)]]), SCALE)
            for i in inputs
        ]
        found.append(
            (
                name,
                sum(e == n for e, n in zip(emulated, natives, strict=True)),
                sum(e == m for e, m in zip(emulated, wasm, strict=True)),
            )
        )
    return found


def main() -> None:
    if not (STATIC / "explorer.js").is_file():
        sys.exit("no explorer bundle: run `npm --prefix js run build:explorer` first")
    work = Path(tempfile.mkdtemp(prefix="verinfer-wasm-bench-"))
    models = build_demo_models(work / "models")
    jobs, natives = [], []
    for model in models:
        inputs = [codec.encode(r, SCALE) for r in rows_for(model.samples)]
        natives.append(native(model.path, inputs, model.input_shape))
        target = STATIC / f"bench-{model.name}.onnx"  # served next to the page for the run, removed after
        target.write_bytes(model.path.read_bytes())
        jobs.append((f"/static/{target.name}", inputs, model.input_shape))
    try:
        ran = browser_outputs(jobs)
        emulated = browser_outputs(jobs, hook="emulateRows")
    finally:
        for model in models:
            (STATIC / f"bench-{model.name}.onnx").unlink(missing_ok=True)

    wasm = [r for r in ran if r is not None]
    lines = [
        "# Browser (onnxruntime-web WASM, chromium) vs native onnxruntime: canonical outputs, 1,000 rows per model",
        "",
        "Written by `python bench/explorer_wasm.py`. Within tolerance: every element within 2^-16 of its value plus",
        "one unit of the encoding (scale 10^6), the explorer's rule.",
        "",
        "The last column: rows where the page's JavaScript emulation of native Gemm (fused multiply-adds;",
        "js/explorer/src/gemm.ts), which it runs when WASM differs on graphs of Gemm and Relu only, equals native.",
        "",
        "| model | rows | equal | within tolerance | beyond | max difference (units) | emulated Gemm = native |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, nat, web, emu in zip(models, natives, wasm, emulated, strict=True):
        kinds = [classify(n, m) for n, m in zip(nat, web, strict=True)]
        worst = max(
            int(np.abs(codec.decode_ints(n) - codec.decode_ints(m)).max()) for n, m in zip(nat, web, strict=True)
        )
        lines.append(
            f"| {model.name} | {ROWS} | {kinds.count('equal')} ({kinds.count('equal') / ROWS:.1%}) "
            f"| {kinds.count('within')} ({kinds.count('within') / ROWS:.1%}) | {kinds.count('beyond')} | {worst} "
            f"| {'not emulated (Softmax)' if emu is None else sum(e == n for e, n in zip(emu, nat, strict=True))} |"
        )
    regressor = next(i for i, m in enumerate(models) if m.name == "diabetes_regressor")
    inputs = jobs[regressor][1]
    lines += [
        "",
        "## An exact browser path for Gemm? (diabetes_regressor: x·W + b, 10 features)",
        "",
        "Rows (of 1,000) whose canonical output a float64 emulation of float32 Gemm reproduces exactly:",
        "",
        "| emulation | = native | = WASM |",
        "| --- | ---: | ---: |",
    ]
    for name, same_native, same_wasm in exact_path(models[regressor].path, inputs, natives[regressor], wasm[regressor]):
        lines.append(f"| {name} | {same_native} | {same_wasm} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
