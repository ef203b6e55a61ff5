"""Runs the explorer: connect to the RPC, load the deployment, build the index and the app, serve with uvicorn
(which stops cleanly on SIGINT and SIGTERM).

    serve(ExplorerSettings(rpc_url="http://127.0.0.1:8545", deployment_file=Path("deployments/31337.json")))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from verinfer.chain.deploy import load_deployment
from verinfer.chain.tx import connect, rpc
from verinfer.errors import ConfigError
from verinfer.explorer.app import create_app
from verinfer.explorer.index import ChainIndex, known_manifests

DEFAULT_PORT = 8780


@dataclass(frozen=True)
class ExplorerSettings:
    """What `verinfer explorer` serves, and where."""

    rpc_url: str
    deployment_file: Path | None = None
    """The deployment's address book (default: deployments/<chainId>.json for the endpoint's chain)."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    model_dirs: Sequence[Path] = field(default=())
    """Directories whose file:// models the server may hand to the page (their hashes are checked either way)."""
    browser_rpc_url: str | None = None
    """The RPC the page reads (default: `rpc_url`); the user can change it in the page."""

    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


def build(settings: ExplorerSettings) -> Starlette:
    """The app for `settings`, connected and indexed up to the current head."""
    w3 = connect(settings.rpc_url)
    chain_id = int(rpc(lambda: w3.eth.chain_id, "read chain id"))
    deployment = load_deployment(chain_id, settings.deployment_file)
    for directory in settings.model_dirs:
        if not directory.is_dir():
            raise ConfigError(f"--model-dir {directory} is not a directory")
    index = ChainIndex(w3, deployment, manifests=known_manifests())
    index.refresh()
    return create_app(index, rpc_url=settings.browser_rpc_url or settings.rpc_url, model_dirs=settings.model_dirs)


def serve(settings: ExplorerSettings) -> None:
    """Serves until interrupted."""
    import uvicorn

    app = build(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=2
    )
    uvicorn.Server(config).run()
