"""verinfer: verifiable AI inference on EVM chains.

The public API is re-exported here; `__all__` is pinned by `tests/node/unit/test_public_api.py`.
"""

from __future__ import annotations

from verinfer.errors import (
    ArtifactError,
    ChainError,
    ConfigError,
    ContractRevert,
    ModelError,
    VerinferError,
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

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ChainError",
    "ConfigError",
    "ContractRevert",
    "Deployment",
    "HubParams",
    "Mode",
    "ModelError",
    "ModelId",
    "RequestId",
    "RequestParams",
    "Status",
    "VerinferError",
    "__version__",
]
