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
from verinfer.inference.runner import PROVIDER
from verinfer.inference.runner import session_options as runner_session_options

ALLOWED_LEVELS = ("disabled", "basic")
DEFAULT_LEVEL = "basic"
DEFAULT_THREADS = 1


def session_options(intra_op_threads: int = DEFAULT_THREADS, level: str = DEFAULT_LEVEL) -> ort.SessionOptions:
    """The runner's options (verinfer.inference.runner), at a level text generation allows."""
    if level not in ALLOWED_LEVELS:
        raise ConfigError(
            f"graph_optimization_level {level!r} is not allowed for text generation; use one of "
            f"{', '.join(ALLOWED_LEVELS)} (docs/text.md says why)"
        )
    return runner_session_options(intra_op_threads, level)


def make_session(
    model: bytes, intra_op_threads: int = DEFAULT_THREADS, level: str = DEFAULT_LEVEL
) -> ort.InferenceSession:
    return ort.InferenceSession(model, session_options(intra_op_threads, level), providers=[PROVIDER])
