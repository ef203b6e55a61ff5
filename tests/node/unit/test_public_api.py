"""Pins the public API: a change here is a change for every user."""

from __future__ import annotations

import pytest

import verinfer


def test_public_api_is_pinned() -> None:
    assert sorted(verinfer.__all__) == [
        "ArtifactError",
        "ChainError",
        "Check",
        "Client",
        "CodecError",
        "ConfigError",
        "ContractRevert",
        "Deployment",
        "HubParams",
        "InferenceResult",
        "Mode",
        "ModelError",
        "ModelId",
        "ModelSpec",
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
        "request_many",
        "verify",
    ]
    for name in verinfer.__all__:
        assert hasattr(verinfer, name), name


def test_node_service_and_its_config_are_not_on_the_face() -> None:
    # They live where they belong: `verinfer.node.service.NodeService`, `verinfer.config.load_config`.
    for name in ("NodeService", "NodeConfig", "load_config", "run_node"):
        assert name not in verinfer.__all__
        with pytest.raises(AttributeError, match=name):
            getattr(verinfer, name)


def test_lazy_names_are_the_defining_modules_objects() -> None:
    from verinfer.errors import ContractRevert
    from verinfer.sdk.client import Client
    from verinfer.sdk.verify import verify

    assert verinfer.Client is Client
    assert verinfer.verify is verify
    assert verinfer.ContractRevert is ContractRevert
    assert set(verinfer.__all__) <= set(dir(verinfer))


def test_version_has_one_source() -> None:
    from verinfer._version import __version__
    from verinfer.inference.manifest import environment_manifest

    assert verinfer.__version__ == __version__
    assert environment_manifest()["verinfer"] == __version__


def test_error_tree() -> None:
    for layer in (verinfer.ChainError, verinfer.ConfigError, verinfer.ModelError, verinfer.ArtifactError):
        assert issubclass(layer, verinfer.VerinferError)
    assert issubclass(verinfer.ContractRevert, verinfer.ChainError)
    assert issubclass(verinfer.CodecError, verinfer.ModelError)
