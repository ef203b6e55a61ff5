"""Pins the public API: a change here is a change for every user."""

from __future__ import annotations

import verinfer


def test_public_api_is_pinned() -> None:
    assert sorted(verinfer.__all__) == [
        "ArtifactError",
        "ChainError",
        "Client",
        "ConfigError",
        "ContractRevert",
        "Deployment",
        "HubParams",
        "InferenceResult",
        "Mode",
        "ModelError",
        "ModelId",
        "NodeConfig",
        "NodeService",
        "NodeStatus",
        "Operator",
        "RequestFailedError",
        "RequestHandle",
        "RequestId",
        "RequestParams",
        "ResultTimeoutError",
        "Status",
        "VerificationReport",
        "VerinferError",
        "__version__",
        "load_config",
        "request_many",
        "verify",
    ]
    for name in verinfer.__all__:
        assert hasattr(verinfer, name), name


def test_error_tree() -> None:
    for layer in (verinfer.ChainError, verinfer.ConfigError, verinfer.ModelError, verinfer.ArtifactError):
        assert issubclass(layer, verinfer.VerinferError)
    assert issubclass(verinfer.ContractRevert, verinfer.ChainError)
