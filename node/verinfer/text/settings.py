"""The onnxruntime settings text generation runs with, in one place.

Generation commits token ids, and a token id is the argmax of a logit row: an optimisation that reorders a float
sum can move a near-tie. Allowed are "disabled" and "basic": on the test decoders their logits are bit-identical to
each other across threads 1/2/4 (tests/node/unit/test_text_generation.py). "extended" and "all" are refused for
text: their fusions (MatMul + Add into Gemm/FusedMatMul, attention and layout rewrites) change the logits' low bits
(measured: every margin differed from "basic"), so two nodes at different levels could disagree at a near-tie.
"""

from __future__ import annotations

import onnxruntime as ort

from verinfer.errors import ConfigError
from verinfer.inference.runner import OPTIMIZATION_LEVELS, PROVIDER

ALLOWED_LEVELS = ("disabled", "basic")
DEFAULT_LEVEL = "basic"
DEFAULT_THREADS = 1


def session_options(intra_op_threads: int = DEFAULT_THREADS, level: str = DEFAULT_LEVEL) -> ort.SessionOptions:
    if isinstance(intra_op_threads, bool) or not isinstance(intra_op_threads, int) or intra_op_threads < 1:
        raise ConfigError(f"intra_op_threads must be a positive integer, got {intra_op_threads!r}")
    if level not in ALLOWED_LEVELS:
        raise ConfigError(
            f"graph_optimization_level {level!r} is not allowed for text generation; use one of "
            f"{', '.join(ALLOWED_LEVELS)} (docs/text.md says why)"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = OPTIMIZATION_LEVELS[level]
    if hasattr(options, "use_deterministic_compute"):
        options.use_deterministic_compute = True
    options.add_session_config_entry("session.set_denormal_as_zero", "0")
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def make_session(
    model: bytes, intra_op_threads: int = DEFAULT_THREADS, level: str = DEFAULT_LEVEL
) -> ort.InferenceSession:
    return ort.InferenceSession(model, session_options(intra_op_threads, level), providers=[PROVIDER])
