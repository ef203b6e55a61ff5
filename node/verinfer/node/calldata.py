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
from verinfer.node.request import PARAMS_BYTES
from verinfer.types import RequestParams


class HubCalldata:
    """Encoders for `submitResult(s)`, `commitResult`, `revealResult`, `finalizeConsensus` and `deliverFinal`."""

    def __init__(self) -> None:
        abi = load_artifact("InferenceHub").abi
        self._entries = {
            name: find_entry(abi, "function", name)
            for name in (
                "submitResults",
                "submitZkResult",
                "commitResult",
                "revealResult",
                "finalizeConsensus",
                "deliverFinal",
            )
        }
        self._types = {name: [abi_type(p) for p in entry["inputs"]] for name, entry in self._entries.items()}
        self._selectors = {name: selector(entry) for name, entry in self._entries.items()}

    def _encode(self, name: str, *args: Any) -> bytes:
        return self._selectors[name] + encode(self._types[name], list(args))

    def submit_results(self, items: Sequence[tuple[int, bytes, bytes]]) -> bytes:
        """`submitResults(Submission[])` from (request id, encoded params, output) items, laid out by hand (eth_abi
        takes ~0.2 ms an item; this, ~10 µs): array offset, length, one offset per item, then each item: requestId,
        the 10 static words of its params (`verinfer.node.request.encode_params`, as the journal holds them), the
        offset of its output (13 words in), the output's length and its bytes padded to 32."""
        bodies = []
        for request_id, params, output in items:
            if len(params) != PARAMS_BYTES:
                raise ValueError(f"request {request_id}: encoded params are {len(params)} bytes, not {PARAMS_BYTES}")
            padded = output + bytes(-len(output) % 32)
            # The output's offset within the item: after the request id, the params and this offset word.
            head = 32 + PARAMS_BYTES + 32
            bodies.append(b"".join((_word(request_id), params, _word(head), _word(len(output)), padded)))
        offsets, position = [], 32 * len(bodies)
        for body in bodies:
            offsets.append(_word(position))
            position += len(body)
        return b"".join((self._selectors["submitResults"], _word(32), _word(len(bodies)), *offsets, *bodies))

    def submit_zk_result(
        self, request_id: int, params: RequestParams, input_data: bytes, output: bytes, proof: bytes
    ) -> bytes:
        return self._encode("submitZkResult", request_id, params.as_abi(), input_data, output, proof)

    def commit_result(self, request_id: int, params: RequestParams, commit_hash: bytes, seats: int) -> bytes:
        return self._encode("commitResult", request_id, params.as_abi(), commit_hash, seats)

    def reveal_result(self, request_id: int, params: RequestParams, output: bytes, salt: bytes) -> bytes:
        return self._encode("revealResult", request_id, params.as_abi(), output, salt)

    def finalize_consensus(self, request_id: int, params: RequestParams, output: bytes) -> bytes:
        return self._encode("finalizeConsensus", request_id, params.as_abi(), output)

    def deliver_final(self, items: Sequence[tuple[int, RequestParams, bytes, bytes, str]]) -> bytes:
        """`deliverFinal(FinalDelivery[])` from (request id, params, output, env hash, node) items."""
        return self._encode(
            "deliverFinal", [(rid, p.as_abi(), output, env, node) for rid, p, output, env, node in items]
        )


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")
