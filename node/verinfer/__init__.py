"""verinfer: verifiable AI inference on EVM chains.

The public API is re-exported here; `__all__` is pinned by `tests/node/unit/test_public_api.py`.
"""

from __future__ import annotations

__version__ = "0.1.0"  # before the imports below: verinfer.inference.manifest reads it

from verinfer.config import NodeConfig, load_config
from verinfer.errors import (
    ArtifactError,
    ChainError,
    ConfigError,
    ContractRevert,
    ModelError,
    VerinferError,
)
from verinfer.sdk import (
    Client,
    InferenceResult,
    NodeStatus,
    Operator,
    RequestFailedError,
    RequestHandle,
    ResultTimeoutError,
    VerificationReport,
    request_many,
    verify,
)
from verinfer.types import (
    Deployment,
    HubParams,
    Mode,
    ModelId,
    RequestId,
    RequestParams,
    Status,
)
from verinfer.node.service import NodeService

__all__ = [
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
