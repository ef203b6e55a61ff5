"""The verinfer SDK: register models, request inferences, wait for results and verify them by re-execution.

    client = Client.connect("http://127.0.0.1:8545", private_key)
    handle = client.request(model_id, features)
    result = handle.result(timeout=30)
    report = client.verify(handle.request_id)

Operators: `Operator` (register, stake, unbond, withdraw, status). Load generators and backfills: `request_many`.
ZK models (prepare, register with a verifier, prove): `verinfer.zk`, imported on its own (it loads ezkl).
"""

from __future__ import annotations

from verinfer.sdk.bulk import BulkRequests, request_many
from verinfer.sdk.client import (
    Client,
    InferenceResult,
    RequestFailedError,
    RequestHandle,
    ResultTimeoutError,
)
from verinfer.sdk.operator import NodeStatus, Operator, environment_hash
from verinfer.sdk.verify import Check, VerificationReport, verify

__all__ = [
    "BulkRequests",
    "Check",
    "Client",
    "InferenceResult",
    "NodeStatus",
    "Operator",
    "RequestFailedError",
    "RequestHandle",
    "ResultTimeoutError",
    "VerificationReport",
    "environment_hash",
    "request_many",
    "verify",
]
