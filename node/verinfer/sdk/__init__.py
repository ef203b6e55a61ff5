"""The verinfer SDK: register models, request inferences, wait for results and verify them by re-execution.

    client = Client.connect("http://127.0.0.1:8545", private_key)
    handle = client.request(model_id, features)
    result = handle.result(timeout=30)
    report = client.verify(handle.request_id)

Optimistic SINGLE results: `Client.finality`, `challenge`, `resolve_dispute`, `deliver_final` (`Finality`, `Dispute`).
Operators: `Operator` (register, stake, unbond, withdraw, status). Load generators and backfills: `request_many`.
ZK models (prepare, register with a verifier, prove): `verinfer.zk`, imported on its own (it loads ezkl).

Lazy like the package face: each name loads its module on first use, so `from verinfer.sdk import Client` loads
neither the operator's node configuration (pydantic) nor the ONNX runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from verinfer._lazy import lazy_exports

if TYPE_CHECKING:  # what mypy and IDEs see; at run time `__getattr__` imports the same names on first use
    from verinfer.sdk.bulk import BulkRequests, request_many
    from verinfer.sdk.client import (
        Client,
        InferenceResult,
        RequestFailedError,
        RequestHandle,
        ResultTimeoutError,
    )
    from verinfer.sdk.disputes import Dispute, Finality
    from verinfer.sdk.operator import NodeStatus, Operator, environment_hash
    from verinfer.sdk.verify import Check, VerificationReport, verify

# Public name => the module that defines it.
_EXPORTS = {
    **dict.fromkeys(("BulkRequests", "request_many"), "verinfer.sdk.bulk"),
    **dict.fromkeys(
        ("Client", "InferenceResult", "RequestFailedError", "RequestHandle", "ResultTimeoutError"),
        "verinfer.sdk.client",
    ),
    **dict.fromkeys(("Dispute", "Finality"), "verinfer.sdk.disputes"),
    **dict.fromkeys(("NodeStatus", "Operator", "environment_hash"), "verinfer.sdk.operator"),
    **dict.fromkeys(("Check", "VerificationReport", "verify"), "verinfer.sdk.verify"),
}

__all__ = [
    "BulkRequests",
    "Check",
    "Client",
    "Dispute",
    "Finality",
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


if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
