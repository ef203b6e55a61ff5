"""The node service (`verinfer node run`): `service.NodeService` ties the stages (ingest, compute, submit, consensus,
track, prove) to the chain and to the durable `journal`; `service.run_node` is what the CLI runs.

Importing this package is cheap: the service (and with it onnxruntime) loads on first use of `NodeService` or
`run_node`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verinfer.node.service import NodeService, run_node

__all__ = ["NodeService", "run_node"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from verinfer.node import service

        return getattr(service, name)
    raise AttributeError(f"module 'verinfer.node' has no attribute {name!r}")
