"""Python twins of contracts/lib/Commitments.sol: the hashes that bind requests and results.

Each function computes exactly what its Solidity namesake does (a differential test feeds both the same vectors).
The hub stores a hash with its lowest byte replaced by the request's status; `stored_form` gives what
`commitmentOf` returns for a hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

from verinfer.types import RequestParams

REQUEST_PARAMS_ABI = "(bytes32,bytes32,address,uint256,uint64,uint32,uint32,uint8,uint8,bool,uint256)"
"""The ABI type of `RequestParams` (checked against the build output by a unit test)."""


def request_hash(request_id: int, params: RequestParams) -> bytes:
    """keccak256(abi.encode(requestId, params)): the hash the hub keeps while a request is open."""
    return keccak(encode(["uint256", REQUEST_PARAMS_ABI], [request_id, params.as_abi()]))


def result(
    request_id: int,
    model_id: bytes,
    input_hash: bytes,
    output_hash: bytes,
    env_hash: bytes,
    node: ChecksumAddress | str,
) -> bytes:
    """The result commitment: binds request, model weights, input, output, the node's environment and the node."""
    return keccak(
        encode(
            ["uint256", "bytes32", "bytes32", "bytes32", "bytes32", "address"],
            [request_id, model_id, input_hash, output_hash, env_hash, node],
        )
    )


def vote(output_hash: bytes, salt: bytes, node: ChecksumAddress | str) -> bytes:
    """A consensus vote's commit hash: keccak256(abi.encode(outputHash, salt, node))."""
    return keccak(encode(["bytes32", "bytes32", "address"], [output_hash, salt, node]))


def consensus(request_id: int, output_hash: bytes, node_commitments: Sequence[bytes]) -> bytes:
    """The commitment of a consensus result: the agreed output bound to each agreeing node's result commitment."""
    return keccak(encode(["uint256", "bytes32", "bytes32[]"], [request_id, output_hash, list(node_commitments)]))


def stored_params_form(params_hash: bytes) -> bytes:
    """A request's parameter hash as `commitmentOf` returns it while the request is open or refunded: the lowest byte
    (where the hub keeps the status) zeroed."""
    return params_hash[:-1] + b"\x00"


def stored_form(commitment: bytes) -> bytes:
    """A result `commitment` as `commitmentOf` returns it: its top 128 bits, the rest zeroed (the hub's result slot
    keeps the request parameters' hash prefix, the result's age and the status below them)."""
    return commitment[:16] + bytes(16)
