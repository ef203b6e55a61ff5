"""Running one ezkl step: its exceptions and a False result become `CircuitStepFailed` with the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from verinfer.zk.errors import CircuitStepFailed

T = TypeVar("T")

EZKL_ERRORS = (RuntimeError, ValueError, OSError)
"""What ezkl's bindings raise (pyo3 maps its errors to RuntimeError; file trouble is OSError)."""


def run_step(step: str, action: Callable[[], T], fix: str) -> T:
    """`action()`, with an ezkl failure (an exception or a False result) raised as `CircuitStepFailed`."""
    try:
        result = action()
    except EZKL_ERRORS as exc:
        raise CircuitStepFailed(step, str(exc), fix) from exc
    if result is False:
        raise CircuitStepFailed(step, "ezkl returned False", fix)
    return result


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """A JSON object ezkl wrote."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CircuitStepFailed("read " + path.name, str(exc), fix) from exc
    if not isinstance(data, dict):
        raise CircuitStepFailed("read " + path.name, "not a JSON object", fix)
    return data
