"""Canonical int64 tensors <-> the public instances of an EZKL proof. Twin of `contracts/lib/ZkInstances.sol`.

An EZKL proof's public instances are BN254 scalar-field elements: the flattened input tensor, then the flattened
output tensor. A signed fixed-point integer v is the element v when v >= 0 and p - |v| when v < 0. A ZK model is
registered with scale 2^k, k being the circuit's input and output scale, so the canonical int64 values on chain are
exactly the circuit's integers: the hub maps them one to one, with no rescaling.
"""

from __future__ import annotations

from collections.abc import Sequence

from verinfer.inference.codec import INT64_MAX, INT64_MIN, decode_ints
from verinfer.zk.errors import ProofInvalid, ZkInputInvalid

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""The BN254 scalar field modulus p."""

_HALF = (FIELD_MODULUS - 1) // 2
_FELT_BYTES = 32


def to_field(value: int) -> int:
    """The field element of a signed int64 value (v, or p - |v| when negative)."""
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise ZkInputInvalid(f"a canonical tensor element is an int64, got {value!r}")
    return value % FIELD_MODULUS


def from_field(element: int) -> int:
    """The signed integer a field element stands for: elements above (p - 1) / 2 are negative."""
    if isinstance(element, bool) or not isinstance(element, int) or not 0 <= element < FIELD_MODULUS:
        raise ProofInvalid(f"{element!r} is not a BN254 scalar-field element (0 <= x < p)")
    return element - FIELD_MODULUS if element > _HALF else element


def felt_from_hex(text: str) -> int:
    """A field element from ezkl's JSON form: 32 bytes as little-endian hex, without a 0x prefix."""
    raw = text.removeprefix("0x")
    try:
        data = bytes.fromhex(raw)
    except ValueError as exc:
        raise ProofInvalid(f"field element {text!r} is not hex") from exc
    if len(data) != _FELT_BYTES:
        raise ProofInvalid(f"field element {text!r} has {len(data)} bytes, expected {_FELT_BYTES}")
    element = int.from_bytes(data, "little")
    if element >= FIELD_MODULUS:
        raise ProofInvalid(f"field element {text!r} is not below the BN254 scalar field modulus")
    return element


def instances_for(input_data: bytes, output_data: bytes) -> list[int]:
    """The public instances the hub builds for canonical `input_data` and `output_data` (`ZkInstances.fromTensors`)."""
    values = [int(v) for v in decode_ints(input_data)] + [int(v) for v in decode_ints(output_data)]
    return [to_field(v) for v in values]


def split_signed(instances: Sequence[int], n_inputs: int) -> tuple[list[int], list[int]]:
    """The signed input and output values behind a proof's instances (the first `n_inputs` are the input)."""
    if not 0 <= n_inputs <= len(instances):
        raise ProofInvalid(f"a proof with {len(instances)} instances cannot hold {n_inputs} inputs")
    signed = [from_field(e) for e in instances]
    for index, value in enumerate(signed):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ProofInvalid(f"instance {index} = {value} does not fit the int64 canonical encoding")
    return signed[:n_inputs], signed[n_inputs:]
