"""The verinfer SDK: register models, request inferences, wait for results and verify them by re-execution.

    client = Client.connect("http://127.0.0.1:8545", private_key)
    handle = client.request(model_id, features)
    result = handle.result(timeout=30)
    report = client.verify(handle.request_id)
"""

from __future__ import annotations

from verinfer.sdk.client import (
    Client,
    InferenceResult,
    RequestFailedError,
    RequestHandle,
    ResultTimeoutError,
)
from verinfer.sdk.verify import Check, VerificationReport, verify

__all__ = [
    "Check",
    "Client",
    "InferenceResult",
    "RequestFailedError",
    "RequestHandle",
    "ResultTimeoutError",
    "VerificationReport",
    "verify",
]
