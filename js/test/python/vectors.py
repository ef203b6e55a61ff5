"""Prints the vectors of the JS differential test as JSON: canonical encodings, commitments, and every demo model's
canonical outputs, all computed by the Python package (`verinfer.inference`, `verinfer.chain.commitments`,
`verinfer.zk.instances`).

    .venv/bin/python js/test/python/vectors.py <models dir>

Integers that do not fit a float64 (scales, int64 elements, fees) are decimal strings; bytes are 0x-hex.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from eth_hash.auto import keccak

from verinfer.chain import commitments
from verinfer.demo.models import build_credit_zk_model, build_demo_models
from verinfer.errors import CodecError
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.types import Mode, ModelId, RequestParams, checksum
from verinfer.zk.instances import instances_for

SAMPLES_PER_MODEL = 5


def hex_(data: bytes) -> str:
    return "0x" + data.hex()


def codec_vectors() -> list[dict[str, Any]]:
    rng = np.random.default_rng(16)
    ties = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 1e-6 * 0.5, 4503599627370495.5, -4503599627370497.0]
    reals = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1 / 3, -2 / 3, 123.456, 1e-9, 9.2e12, -9.2e12, 5e-324]
    cases: list[tuple[list[float], int]] = [
        (ties, 1),
        ([t / 1000 for t in ties], 1000),
        (reals, 1_000_000),
        (reals, 2**10),
        ([x / 7 for x in range(-20, 21)], 10**6),
        (rng.normal(0, 3, 64).tolist(), 10**6),
        (rng.normal(0, 1e6, 32).tolist(), 2**20),
        (rng.uniform(-1, 1, 32).astype(np.float32).astype(np.float64).tolist(), 10**6),
        ([0.25, -0.25, 1e-3, 0.0], 2**64 - 1),
        ([9.223372036854775e18, -9.223372036854776e18], 1),
    ]
    out = []
    for values, scale in cases:
        encoded = codec.encode(np.asarray(values, dtype=np.float64), scale)
        decoded = codec.decode(encoded, [len(values)], scale)
        out.append({"values": values, "scale": str(scale), "encoded": hex_(encoded), "decoded": decoded.tolist()})
    for values, scale in [([0.5], 2**64 - 1), ([2.0**63], 1), ([-(2.0**63) * 1.000001], 1), ([1e300], 10**6)]:
        try:
            codec.encode(np.asarray(values, dtype=np.float64), scale)
        except CodecError:
            out.append({"values": values, "scale": str(scale), "rejected": True})
        else:
            raise AssertionError(f"the Python codec took {values} at scale {scale}")
    ints = [0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 123456789]
    out.append({"ints": [str(i) for i in ints], "encoded": hex_(codec.encode_ints(ints))})
    return out


def commitment_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    nodes = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]
    for i in range(4):
        request_id = [1, 2, 255, 2**200 + 7][i]
        model_id = keccak(b"model %d" % i)
        input_bytes = codec.encode([0.5 * i, -1.25, 3.0], 10**6)
        output = codec.encode([0.125 * i, 0.875], 10**6)
        env = keccak(b"env %d" % i)
        salt = keccak(b"salt %d" % i)
        params = RequestParams(
            model_id=ModelId(model_id),
            input_hash=keccak(input_bytes),
            requester=checksum(nodes[i % 2]),
            fee=[0, 10**15, 2**256 - 1, 12345][i],
            deadline=[0, 1_700_000_000, 2**64 - 1, 99][i],
            callback_gas_limit=[0, 200_000, 2**32 - 1, 1][i],
            output_bytes=16,
            mode=Mode(i % 3),
            redundancy=[1, 3, 255, 1][i],
            env_restricted=bool(i % 2),
            lottery=(2 << 136) | ((i + 1) * 10**9 << 72) | (1_700_000_000 + i << 32) | (0xABCD0000 + i),
        )
        node_commitments = [
            commitments.result(request_id, model_id, keccak(input_bytes), keccak(output), env, n) for n in nodes
        ]
        out.append(
            {
                "requestId": str(request_id),
                "params": {
                    "modelId": hex_(params.model_id),
                    "inputHash": hex_(params.input_hash),
                    "requester": params.requester,
                    "fee": str(params.fee),
                    "deadline": str(params.deadline),
                    "callbackGasLimit": params.callback_gas_limit,
                    "outputBytes": params.output_bytes,
                    "mode": int(params.mode),
                    "redundancy": params.redundancy,
                    "envRestricted": params.env_restricted,
                    "lottery": str(params.lottery),
                },
                "requestHash": hex_(commitments.request_hash(request_id, params)),
                "input": hex_(input_bytes),
                "output": hex_(output),
                "env": hex_(env),
                "salt": hex_(salt),
                "nodes": nodes,
                "results": [hex_(c) for c in node_commitments],
                "vote": hex_(commitments.vote(keccak(output), salt, nodes[0])),
                "consensus": hex_(commitments.consensus(request_id, keccak(output), node_commitments)),
                "storedForm": hex_(commitments.stored_form(node_commitments[0])),
            }
        )
    return out


def zk_instance_vectors() -> list[dict[str, Any]]:
    pairs = [([0, 1, -1], [5]), ([2**63 - 1, -(2**63)], [-7, 7]), ([], [1]), ([123456, -654321, 42, 0], [-1])]
    return [
        {
            "input": hex_(codec.encode_ints(i)),
            "output": hex_(codec.encode_ints(o)),
            "instances": [str(e) for e in instances_for(codec.encode_ints(i), codec.encode_ints(o))],
        }
        for i, o in pairs
    ]


def model_vectors(models_dir: Path) -> list[dict[str, Any]]:
    built = [*build_demo_models(models_dir), build_credit_zk_model(models_dir)]
    out: list[dict[str, Any]] = []
    for model in built:
        runner = OnnxRunner(model.path)  # the canonical settings, as a node and `verify` run it
        cases = []
        for row in model.samples[:SAMPLES_PER_MODEL]:
            encoded = codec.encode(np.asarray(row, dtype=np.float64).reshape(model.input_shape), model.scale)
            # Exactly the node's path (verinfer.node.compute): decode, to float32, run, encode at the model's scale.
            features = codec.decode(encoded, model.input_shape, model.scale).astype(np.float32)
            output = codec.encode(runner.run_batch(features), model.scale)
            cases.append({"input": hex_(encoded), "output": hex_(output)})
        out.append(
            {
                "name": model.name,
                "path": str(model.path),
                "modelId": hex_(keccak(model.path.read_bytes())),
                "scale": str(model.scale),
                "inputShape": list(model.input_shape),
                "outputShape": list(model.output_shape),
                "cases": cases,
            }
        )
    return out


def main() -> None:
    models_dir = Path(sys.argv[1])
    document = {
        "codec": codec_vectors(),
        "commitments": commitment_vectors(),
        "zkInstances": zk_instance_vectors(),
        "models": model_vectors(models_dir),
    }
    json.dump(document, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
