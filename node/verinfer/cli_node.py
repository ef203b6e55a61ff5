"""The operator commands: `verinfer node run|register|unbond|withdraw|status` over `verinfer.sdk.operator`, and
`verinfer devnet up` over `verinfer.devnet`. Thin: parse, call, print (Rich for people, `--json` for machines);
an expected failure is one line on stderr, `error: ...`, and exit code 1.

The node commands read the node's own TOML config (`--config`, default `node.toml`; `VERINFER_*` variables override
it): its RPC endpoint, key and deployment file, so they act as the node `verinfer node run` runs.

Each command imports the SDK, the config and the devnet inside its function, so `verinfer node --help` is fast.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from verinfer.cli_common import bytes32, console, echo_json, errors, hex_, logs_to_stderr
from verinfer.errors import ConfigError, require_modules, requires_extra
from verinfer.types import ARITHMETIC_CLASSES

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from verinfer.devnet import Devnet, DevnetInfo
    from verinfer.sdk.operator import NodeStatus, Operator

node_app = typer.Typer(help="Operate a node: run, register, unbond, withdraw, status.", no_args_is_help=True)
devnet_app = typer.Typer(help="A local devnet with the demo models and running nodes.", no_args_is_help=True)

DEVNET_STATE_DIR = Path(".verinfer/devnet")
DEVNET_NODES = 3  # CONSENSUS takes k >= 3 seats, and a request needs as many serving nodes

ConfigPath = Annotated[
    Path, typer.Option("--config", envvar="VERINFER_CONFIG", help="The node's TOML config (rpc_url, keys, ...).")
]
ModelIds = Annotated[
    list[str] | None, typer.Option("--model", help="A model id (0x + 64 hex digits); repeat; default every model.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (shape in the command's help) instead of tables.")]

# What to do about the registry's refusals, appended to the decoded error.
REVERT_FIXES = {
    "NodeAlreadyRegistered": "this key is registered already; `verinfer node status` shows its bond",
    "NodeNotRegistered": "register it first with `verinfer node register`",
    "StakeTooLow": "pass --stake of at least the minimum (in wei)",
    "NodeIsUnbonding": "an unbonding node cannot change its bond; withdraw once the delay is over",
    "NodeNotUnbonding": "start unbonding first with `verinfer node unbond --yes`",
    "UnbondingNotOver": "the stake is released at unbondingEndsAt (unix seconds); try again after it",
    "StakeLocked": "consensus rounds it joined are still open; try again once they settle",
    "RecipientZero": "pass --to a non-zero address",
}


def _model_ids(texts: list[str] | None) -> list[bytes] | None:
    if texts is None:
        return None
    return [bytes32(text, "--model") for text in texts]


def _address(text: str | None, option: str) -> str | None:
    from eth_utils.address import is_address

    if text is not None and not is_address(text):
        raise ConfigError(f"{option} must be an address (0x + 40 hex digits), got {text!r}")
    return text


def _operator(config: Path) -> Operator:
    from verinfer.config import load_config
    from verinfer.sdk.operator import Operator

    return Operator.from_config(load_config(config))


# ---------------------------------------------------------------------------------------------------------------------
# verinfer node
# ---------------------------------------------------------------------------------------------------------------------


def _status_json(status: NodeStatus) -> dict[str, Any]:
    return {
        "node": status.address,
        "state": status.state,
        "registered": status.registered,
        "staked": status.staked,
        "stake": str(status.stake),
        "minStake": str(status.min_stake),
        "envHash": hex_(status.env_hash),
        "unbondingEndsAt": status.unbonding_ends_at,
        "unbondingDelay": status.unbonding_delay,
        "withdrawable": status.withdrawable,
        "openCommitments": status.open_commitments,
        "blockTimestamp": status.block_timestamp,
        "eligibility": {hex_(model): value.name.lower() for model, value in status.eligibility.items()},
    }


@node_app.command("run")
def run_command(
    config: ConfigPath = Path("node.toml"),
    json_logs: Annotated[
        bool | None, typer.Option("--json-logs/--console-logs", help="Log format; default: JSON unless on a terminal.")
    ] = None,
) -> None:
    """Run the node: register or top up its stake and models, then watch the hub and serve requests until SIGTERM or
    Ctrl-C (the current step finishes; the journal stays consistent). Metrics at http://<metrics.host>:<metrics.port>/
    metrics, health at /healthz.
    """
    with errors(REVERT_FIXES):
        with requires_extra("verinfer node run", "node"):
            from verinfer.node.service import run_node  # the service pulls in onnxruntime; only `run` needs it
        run_node(config, json_logs=json_logs)


@node_app.command("register")
def register_command(
    config: ConfigPath = Path("node.toml"),
    stake: Annotated[int | None, typer.Option(min=0, help="Stake in wei (default: the registry's minimum).")] = None,
    model: ModelIds = None,
    as_json: AsJson = False,
) -> None:
    """Register the config's key as a node: stake, this machine's environment hash (for the config's runner
    settings, as `verinfer env show` prints it) and the models it serves.

    JSON: {"node", "stake", "envHash", "arithmeticClass", "models": ["0x<model id>", ...], "txHash", "block"}
    """
    from verinfer.config import load_config
    from verinfer.sdk.operator import Operator, environment_hash, local_arithmetic_class

    with errors(REVERT_FIXES):
        models = _model_ids(model)
        node_config = load_config(config)
        operator = Operator.from_config(node_config)
        env_hash = environment_hash(node_config.runner.intra_op_threads, node_config.runner.graph_optimization_level)
        model_ids = models if models is not None else list(operator.registered_models())
        amount = stake if stake is not None else operator.min_stake()
        arithmetic_class = local_arithmetic_class(node_config.runner.arithmetic_class)
        receipt = operator.register(env_hash, model_ids, amount, arithmetic_class)
    document = {
        "node": operator.address,
        "stake": str(amount),
        "envHash": hex_(env_hash),
        "arithmeticClass": ARITHMETIC_CLASSES.get(arithmetic_class, str(arithmetic_class)),
        "models": [hex_(m) for m in model_ids],
        "txHash": hex_(bytes(receipt["transactionHash"])),
        "block": int(receipt["blockNumber"]),
    }
    if as_json:
        echo_json(document)
        return
    typer.echo(f"registered {operator.address} with {amount} wei, serving {len(model_ids)} model(s)")
    typer.echo(f"environment {document['envHash']}")


@node_app.command("unbond")
def unbond_command(
    config: ConfigPath = Path("node.toml"),
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: unbonding cannot be undone.")] = False,
    as_json: AsJson = False,
) -> None:
    """Start the unbonding delay: the node takes no new work from now on, and its stake can be withdrawn once the
    delay is over. Cannot be undone, so it needs --yes.

    JSON: {"node", "unbondingEndsAt"} (unix seconds)
    """
    with errors(REVERT_FIXES):
        if not yes:
            raise ConfigError(
                "unbonding cannot be undone (the node stops taking work; its stake is paid out only after the "
                "unbonding delay): pass --yes to go ahead"
            )
        operator = _operator(config)
        ends_at = operator.begin_unbonding()
    if as_json:
        echo_json({"node": operator.address, "unbondingEndsAt": ends_at})
        return
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ends_at))
    typer.echo(f"{operator.address} is unbonding; withdraw with `verinfer node withdraw` from {when} ({ends_at})")


@node_app.command("withdraw")
def withdraw_command(
    config: ConfigPath = Path("node.toml"),
    to: Annotated[str | None, typer.Option(help="Where to pay the stake (default: the node's own address).")] = None,
    as_json: AsJson = False,
) -> None:
    """After the unbonding delay, pay the whole stake out and deregister the node.

    JSON: {"node", "to", "amount"} (amount in wei, as a decimal string)
    """
    with errors(REVERT_FIXES):
        recipient = _address(to, "--to")
        operator = _operator(config)
        amount = operator.withdraw(recipient)
    document = {"node": operator.address, "to": recipient or operator.address, "amount": str(amount)}
    if as_json:
        echo_json(document)
        return
    typer.echo(f"withdrew {amount} wei to {document['to']}; {operator.address} is no longer registered")


@node_app.command("status")
def status_command(
    config: ConfigPath = Path("node.toml"),
    node: Annotated[str | None, typer.Option(help="Another node's address (default: the config's key).")] = None,
    model: ModelIds = None,
    as_json: AsJson = False,
) -> None:
    """Print a node's bond (stake, environment, unbonding) and whether it may take work for each model.

    JSON (wei as decimal strings, hashes as 0x-hex, times in unix seconds):
    {"node", "state" (not-registered | active | unbonding | withdrawable), "registered", "staked", "stake",
    "minStake", "envHash", "unbondingEndsAt", "unbondingDelay", "withdrawable", "openCommitments",
    "blockTimestamp", "eligibility": {"0x<model id>": "eligible" | "not_registered" | "stake_below_minimum" |
    "unbonding" | "model_not_served"}}
    """
    from rich.table import Table
    from rich.text import Text

    with errors(REVERT_FIXES):
        models = _model_ids(model)
        address = _address(node, "--node")
        operator = _operator(config)
        model_ids = models if models is not None else list(operator.registered_models())
        status = operator.status(model_ids, node=address)
    document = _status_json(status)
    if as_json:
        echo_json(document)
        return
    table = Table(title=f"Node {status.address}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in document.items():
        if key != "eligibility":
            table.add_row(key, Text(json.dumps(value) if isinstance(value, bool) else str(value)))
    console().print(table)
    served = Table(title="May it take work?")
    served.add_column("model", overflow="fold")
    served.add_column("eligibility")
    for model_id, eligibility in document["eligibility"].items():
        served.add_row(model_id, Text(eligibility))
    console().print(served)


# ---------------------------------------------------------------------------------------------------------------------
# verinfer devnet
# ---------------------------------------------------------------------------------------------------------------------


class _Steps:
    """The progress display of `devnet up`: one line per step, ticked when the next one starts."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.current: TaskID | None = None

    def __call__(self, step: str) -> None:
        if self.progress is None:
            return
        self.finish()
        self.current = self.progress.add_task(step, total=1)

    def finish(self) -> None:
        if self.progress is not None and self.current is not None:
            self.progress.update(self.current, completed=1)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _print_devnet(info: DevnetInfo) -> None:
    from rich.table import Table

    table = Table(title=f"verinfer devnet (chain {info.chain_id})")
    table.add_column("what")
    table.add_column("address / value", overflow="fold")
    table.add_column("details", overflow="fold")
    table.add_row("RPC", info.rpc_url, f"anvil pid {info.anvil_pid}")
    deployment = info.deployment
    table.add_row("ModelRegistry", deployment.model_registry.address, "")
    table.add_row("NodeRegistry", deployment.node_registry.address, "")
    table.add_row("InferenceHub", deployment.hub.address, "")
    table.add_row("deployer", info.deployer.address, "owns the contracts and the demo models")
    for model in info.models:
        table.add_row(f"model {model.name}", hex_(model.model_id), model.uri)
    for node in info.nodes:
        table.add_row(f"node {node.index}", node.address, f"config {node.config_path}; log {node.log_path}")
    table.add_row("user", info.user.address, f"private key {info.user.private_key}")
    if info.explorer_url is not None:
        table.add_row("explorer", info.explorer_url, "requests, models, nodes; check any result in your browser")
    console().print(table)
    if info.explorer_url is not None:
        console().print(f"explorer: {info.explorer_url}")
    console().print(
        f"deployment written to {info.deployment_file}. In another shell: "
        f"export VERINFER_RPC_URL={info.rpc_url} VERINFER_PRIVATE_KEY={info.user.private_key}"
    )
    console().print("Ctrl-C stops everything.")


@devnet_app.command("up")
def up_command(
    nodes: Annotated[int, typer.Option(min=0, help="How many nodes to register and start.")] = DEVNET_NODES,
    state_dir: Annotated[Path, typer.Option(help="Where node configs, journals and models go.")] = DEVNET_STATE_DIR,
    deployment_file: Annotated[
        Path | None, typer.Option(help="Where to write the deployment (default deployments/<chainId>.json).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Start anvil, deploy, build and register the demo models, register and start the nodes, print where everything
    is, and stay up until Ctrl-C (or SIGTERM), which stops everything this command started.

    JSON, printed once everything is up: {"rpcUrl", "chainId", "anvilPid", "stateDir", "deploymentFile",
    "contracts": {"ModelRegistry", "NodeRegistry", "InferenceHub"}, "deployer", "user": {"address", "privateKey"},
    "models": [{"name", "modelId", "uri", "path"}], "nodes": [{"address", "config", "metricsPort", "log", "pid"}],
    "explorer": {"url", "pid", "log"}}
    (also written to <state dir>/devnet.json while the devnet is up)
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with errors():
        # The demo models are trained, one proven with ezkl, and nodes started: check before starting anvil.
        require_modules("verinfer devnet up", "demo", "sklearn", "ezkl", "structlog", "prometheus_client")
    from verinfer.devnet import Devnet

    logs_to_stderr()  # the demo's ZK model is prepared in this process, and the ZK pipeline logs
    # Both signals stop the devnet, even where the shell started us with SIGINT ignored (a background job).
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = (
        None
        if as_json
        else Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console(),
        )
    )
    steps = _Steps(progress)
    devnet = None
    try:
        with errors(REVERT_FIXES):
            devnet = Devnet(state_dir, nodes, deployment_file=deployment_file, on_step=steps)
            if progress is None:
                info = devnet.up()
            else:
                with progress:
                    info = devnet.up()
                    steps.finish()
        if as_json:
            echo_json(info.to_json())
        else:
            _print_devnet(info)
        with errors(REVERT_FIXES):
            _stay_up(devnet)
    except KeyboardInterrupt:
        if not as_json:
            console().print("stopping the devnet")
    finally:
        # Cleanup must finish: a second Ctrl-C or SIGTERM must not leave processes running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if devnet is not None:
                devnet.down()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stay_up(devnet: Devnet, poll: float = 0.5) -> None:
    """Until interrupted; anvil or a node exiting ends the devnet with an error."""
    from verinfer.devnet import DevnetError

    while True:
        problems = devnet.problems()
        if problems:
            raise DevnetError("; ".join(problems) + ": the devnet stopped; run `verinfer devnet up` again")
        time.sleep(poll)
