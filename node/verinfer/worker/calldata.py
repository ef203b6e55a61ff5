"""Calldata for the hub functions a node calls, encoded with eth_abi from the build output's ABI.

web3's contract-function machinery validates and normalises every argument on every call, which costs
milliseconds for a 256-item `submitResults`; the node encodes the same bytes directly (a unit test checks they are
identical to web3's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode

from verinfer.chain.abi import abi_type, find_entry, selector
from verinfer.chain.artifacts import load_artifact
from verinfer.types import RequestParams


class HubCalldata:
    """Encoders for `submitResult(s)`, `commitResult`, `revealResult` and `finalizeConsensus`."""

    def __init__(self) -> None:
        abi = load_artifact("InferenceHub").abi
        self._entries = {
            name: find_entry(abi, "function", name)
            for name in ("submitResults", "commitResult", "revealResult", "finalizeConsensus", "statusOf")
        }
        self._types = {name: [abi_type(p) for p in entry["inputs"]] for name, entry in self._entries.items()}
        self._selectors = {name: selector(entry) for name, entry in self._entries.items()}

    def _encode(self, name: str, *args: Any) -> bytes:
        return self._selectors[name] + encode(self._types[name], list(args))

    def submit_results(self, items: Sequence[tuple[int, RequestParams, bytes]]) -> bytes:
        return self._encode("submitResults", [(rid, params.as_abi(), output) for rid, params, output in items])

    def commit_result(self, request_id: int, params: RequestParams, commit_hash: bytes) -> bytes:
        return self._encode("commitResult", request_id, params.as_abi(), commit_hash)

    def reveal_result(self, request_id: int, params: RequestParams, output: bytes, salt: bytes) -> bytes:
        return self._encode("revealResult", request_id, params.as_abi(), output, salt)

    def finalize_consensus(self, request_id: int, params: RequestParams, output: bytes) -> bytes:
        return self._encode("finalizeConsensus", request_id, params.as_abi(), output)
