"""The `verinfer` command line: parse, call the SDK, print (Rich for people, `--json` for machines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from verinfer import __version__
from verinfer.chain.deploy import DeployConfig, deploy_to, to_json
from verinfer.errors import VerinferError
from verinfer.types import HubParams

app = typer.Typer(help="Verifiable AI inference on EVM chains.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Verifiable AI inference on EVM chains."""


@app.command("deploy")
def deploy_command(
    private_key: Annotated[
        str, typer.Option(envvar="VERINFER_PRIVATE_KEY", help="Deployer key (devnets only: chain id 31337 or 1337).")
    ],
    rpc_url: Annotated[str, typer.Option(envvar="VERINFER_RPC_URL", help="JSON-RPC endpoint.")] = (
        "http://127.0.0.1:8545"
    ),
    min_stake: Annotated[int, typer.Option(help="Minimum node stake in wei.")] = DeployConfig.min_stake,
    unbonding_delay: Annotated[int, typer.Option(help="Unbonding delay in seconds.")] = DeployConfig.unbonding_delay,
    reveal_window: Annotated[int, typer.Option(help="Consensus reveal window in seconds.")] = HubParams.reveal_window,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the deployment (default deployments/<chainId>.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deployment as JSON.")] = False,
) -> None:
    """Deploy ModelRegistry, NodeRegistry and InferenceHub, wire them, and record the addresses."""
    config = DeployConfig(
        min_stake=min_stake, unbonding_delay=unbonding_delay, hub_params=HubParams(reveal_window=reveal_window)
    )
    try:
        deployment, path = deploy_to(rpc_url, private_key, config, out)
    except VerinferError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(to_json(deployment), indent=2))
        return
    table = Table(title=f"Deployed on chain {deployment.chain_id}")
    table.add_column("contract")
    table.add_column("address")
    table.add_column("block", justify="right")
    for name, contract in (
        ("ModelRegistry", deployment.model_registry),
        ("NodeRegistry", deployment.node_registry),
        ("InferenceHub", deployment.hub),
    ):
        table.add_row(name, contract.address, str(contract.block))
    console.print(table)
    console.print(f"written to {path}")
