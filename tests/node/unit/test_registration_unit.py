"""The registration commitment's Python side: its ABI type is the compiler's, and it binds every value."""

from __future__ import annotations

from verinfer.chain.abi import abi_type
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.registration import MODEL_SPEC_ABI, ZERO_HASH, new_salt, registration_commitment
from verinfer.types import Mode, ModelSpec

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PUBLISHER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MODEL = bytes.fromhex("11" * 32)
SPEC = ModelSpec("file:///m.onnx", (1, 4), (1, 2), 1_000_000, 10**15, Mode.mask([Mode.SINGLE]))


def test_model_spec_abi_matches_the_build_output() -> None:
    entry = next(e for e in load_artifact("ModelRegistry").abi if e.get("name") == "registerModel")
    spec = next(p for p in entry["inputs"] if p["internalType"] == "struct ModelSpec")
    assert abi_type(spec) == MODEL_SPEC_ABI


def test_commitment_binds_every_value() -> None:
    salt = new_salt()
    base = registration_commitment(31337, REGISTRY, MODEL, SPEC, ZERO_HASH, PUBLISHER, salt)
    variants = [
        registration_commitment(1, REGISTRY, MODEL, SPEC, ZERO_HASH, PUBLISHER, salt),
        registration_commitment(31337, OTHER, MODEL, SPEC, ZERO_HASH, PUBLISHER, salt),
        registration_commitment(31337, REGISTRY, bytes(32), SPEC, ZERO_HASH, PUBLISHER, salt),
        registration_commitment(31337, REGISTRY, MODEL, SPEC, b"\x01" * 32, PUBLISHER, salt),
        registration_commitment(31337, REGISTRY, MODEL, SPEC, ZERO_HASH, OTHER, salt),
        registration_commitment(31337, REGISTRY, MODEL, SPEC, ZERO_HASH, PUBLISHER, new_salt()),
        registration_commitment(
            31337,
            REGISTRY,
            MODEL,
            ModelSpec("file:///m.onnx", (1, 4), (1, 2), 1_000_000, 1, 1),
            ZERO_HASH,
            PUBLISHER,
            salt,
        ),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_salts_are_fresh() -> None:
    assert len({new_salt() for _ in range(64)}) == 64
    assert all(len(new_salt()) == 32 for _ in range(4))
