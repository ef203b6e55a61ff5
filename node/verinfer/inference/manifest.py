"""The environment manifest: what a node runs on, in canonical JSON; its keccak is the environment hash posted on
chain and bound into every result commitment."""

from __future__ import annotations

import json
from typing import Any

from eth_hash.auto import keccak

from verinfer import __version__
from verinfer.inference.runner import OnnxRunner


def manifest(runner: OnnxRunner) -> dict[str, Any]:
    """The manifest of a runner: verinfer's version plus everything in it that can change an output's bits."""
    return {"verinfer": __version__, **runner.environment()}


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same document always gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_hash(document: dict[str, Any]) -> bytes:
    """keccak256 of the canonical JSON."""
    return bytes(keccak(canonical_json(document)))
