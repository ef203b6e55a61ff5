"""The environment manifest: what a node runs on, in canonical JSON; its keccak is the environment hash posted on
chain and bound into every result commitment."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from eth_hash.auto import keccak

from verinfer._version import __version__
from verinfer.inference.runner import runner_environment

if TYPE_CHECKING:
    from verinfer.inference.runner import OnnxRunner


def environment_manifest(intra_op_threads: int = 1, graph_optimization_level: str = "basic") -> dict[str, Any]:
    """The manifest of a runner with these settings on this machine: verinfer's version plus everything that can
    change an output's bits. It does not depend on the model, so a node computes it before loading any."""
    return {"verinfer": __version__, **runner_environment(intra_op_threads, graph_optimization_level)}


def manifest(runner: OnnxRunner) -> dict[str, Any]:
    """The manifest of a loaded runner (the same as `environment_manifest` with its settings)."""
    return environment_manifest(runner.intra_op_threads, runner.graph_optimization_level)


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same document always gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_hash(document: dict[str, Any]) -> bytes:
    """keccak256 of the canonical JSON."""
    return bytes(keccak(canonical_json(document)))
