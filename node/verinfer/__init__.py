"""verinfer: verifiable AI inference on EVM chains. This is the dApp face: the client, verification, the result
types, the errors and the ids; `__all__` is pinned by `tests/node/unit/test_public_api.py`.

    from verinfer import Client
    client = Client.connect("http://127.0.0.1:8545", private_key)
    result = client.request(model_id, [[0.1, 2.0]]).result(timeout=30)

The face is lazy (PEP 562): `import verinfer` loads no third-party module (only the version and the lazy-export
helper), and each name loads its own module on first use, so `verinfer --help` stays fast and a dApp pays for what
it touches. `Client` loads web3; the ONNX runtime loads only when `verify` re-executes a model. The node service is
`verinfer.node` and its configuration `verinfer.config`; ZK models are `verinfer.zk`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from verinfer._lazy import lazy_exports
from verinfer._version import __version__

if TYPE_CHECKING:  # what mypy and IDEs see; at run time `__getattr__` below imports the same names on first use
    from verinfer.errors import (
        ArtifactError,
        ChainError,
        CodecError,
        ConfigError,
        ContractRevert,
        ModelError,
        VerinferError,
    )
    from verinfer.sdk.bulk import request_many
    from verinfer.sdk.client import (
        Client,
        InferenceResult,
        RequestFailedError,
        RequestHandle,
        ResultTimeoutError,
    )
    from verinfer.sdk.operator import NodeStatus, Operator
    from verinfer.sdk.verify import Check, VerificationReport, verify
    from verinfer.types import (
        Deployment,
        HubParams,
        Mode,
        ModelId,
        ModelSpec,
        RequestId,
        RequestParams,
        Status,
    )

# Public name => the module that defines it.
_EXPORTS = {
    **dict.fromkeys(
        (
            "ArtifactError",
            "ChainError",
            "CodecError",
            "ConfigError",
            "ContractRevert",
            "ModelError",
            "VerinferError",
        ),
        "verinfer.errors",
    ),
    "request_many": "verinfer.sdk.bulk",
    **dict.fromkeys(
        ("Client", "InferenceResult", "RequestFailedError", "RequestHandle", "ResultTimeoutError"),
        "verinfer.sdk.client",
    ),
    **dict.fromkeys(("NodeStatus", "Operator"), "verinfer.sdk.operator"),
    **dict.fromkeys(("Check", "VerificationReport", "verify"), "verinfer.sdk.verify"),
    **dict.fromkeys(
        ("Deployment", "HubParams", "Mode", "ModelId", "ModelSpec", "RequestId", "RequestParams", "Status"),
        "verinfer.types",
    ),
}

__all__ = [
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


if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
