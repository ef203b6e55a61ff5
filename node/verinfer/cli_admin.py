"""The owner's commands: `verinfer admin ...` schedule, list, execute and cancel owner actions on the Timelock that owns
the hub and registries (`verinfer.chain.governance`). Thin: parse, call, print. Nothing here changes a parameter
directly: every change is scheduled, public for the timelock's delay, then executed.

Each command imports the SDK inside its function, so `verinfer admin --help` is fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from verinfer.cli_common import bytes32, console, echo_json, errors, hex_

if TYPE_CHECKING:
    from web3.contract.contract import ContractFunction

    from verinfer.chain.governance import Governance, ScheduledCall
    from verinfer.chain.system import System

admin_app = typer.Typer(
    help="Owner actions through the Timelock: schedule, list, execute, cancel.", no_args_is_help=True
)

RpcUrl = Annotated[str, typer.Option(envvar="VERINFER_RPC_URL", help="JSON-RPC endpoint.")]
DEFAULT_RPC = "http://127.0.0.1:8545"
ProposerKey = Annotated[
    str,
    typer.Option(envvar="VERINFER_PRIVATE_KEY", help="The timelock proposer's key (devnets only: 31337 or 1337)."),
]
Wait = Annotated[
    float | None,
    typer.Option(help="Also execute it: wait up to this many seconds for the delay to pass (devnet delays are short)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _governance(rpc_url: str, private_key: str) -> tuple[System, Governance]:
    from verinfer.chain.governance import Governance
    from verinfer.sdk.client import Client

    system = Client.connect(rpc_url, private_key).system
    return system, Governance.of(system)


def _call_json(gov: Governance, call: ScheduledCall) -> dict[str, Any]:
    return {
        "id": hex_(call.id),
        "target": call.target,
        "data": hex_(call.data),
        "eta": call.eta,
        "state": gov.state(call).name.lower(),
    }


def _schedule(rpc_url: str, private_key: str, build: Any, wait: float | None, as_json: bool, what: str) -> None:
    """Schedules the call `build(system)` returns and, with `wait`, executes it once its delay has passed."""
    with errors():
        system, gov = _governance(rpc_url, private_key)
        fn: ContractFunction = build(system)
        call = gov.schedule(fn)
        executed = wait is not None
        if executed:
            gov.execute(call, wait=wait or 0.0)
        document = _call_json(gov, call)
    if as_json:
        echo_json(document)
        return
    console().print(f"scheduled {what}: call {document['id']}, executable from {call.eta} (unix time)")
    if executed:
        console().print("executed")
    else:
        console().print(f"run it then with `verinfer admin execute {document['id']}`")


@admin_app.command("set-min-stake")
def set_min_stake_command(
    wei: Annotated[int, typer.Argument(help="The new minimum node stake, in wei.")],
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    wait: Wait = None,
    as_json: AsJson = False,
) -> None:
    """Schedule NodeRegistry.setMinStake."""
    _schedule(rpc_url, private_key, lambda s: s.nodes.functions.setMinStake(wei), wait, as_json, f"minStake = {wei}")


@admin_app.command("set-unbonding-delay")
def set_unbonding_delay_command(
    seconds: Annotated[int, typer.Argument(help="The new unbonding delay, in seconds.")],
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    wait: Wait = None,
    as_json: AsJson = False,
) -> None:
    """Schedule NodeRegistry.setUnbondingDelay."""
    _schedule(
        rpc_url,
        private_key,
        lambda s: s.nodes.functions.setUnbondingDelay(seconds),
        wait,
        as_json,
        f"unbondingDelay = {seconds}s",
    )


@admin_app.command("set-params")
def set_params_command(
    private_key: ProposerKey,
    max_callback_gas: Annotated[int | None, typer.Option(help="Largest callback gas limit.")] = None,
    max_input_bytes: Annotated[int | None, typer.Option(help="Largest input, in bytes.")] = None,
    reveal_window: Annotated[int | None, typer.Option(help="Consensus reveal window, in seconds.")] = None,
    max_deadline_horizon: Annotated[int | None, typer.Option(help="Furthest deadline, in seconds.")] = None,
    slash_bps: Annotated[int | None, typer.Option(help="Slash fraction, in basis points.")] = None,
    max_redundancy: Annotated[int | None, typer.Option(help="Largest consensus k.")] = None,
    rpc_url: RpcUrl = DEFAULT_RPC,
    wait: Wait = None,
    as_json: AsJson = False,
) -> None:
    """Schedule InferenceHub.setParams: the hub's current parameters with the given ones changed."""
    import dataclasses

    from verinfer.types import HubParams

    changes = {
        "max_callback_gas": max_callback_gas,
        "max_input_bytes": max_input_bytes,
        "reveal_window": reveal_window,
        "max_deadline_horizon": max_deadline_horizon,
        "slash_bps": slash_bps,
        "max_redundancy": max_redundancy,
    }
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        typer.echo("error: nothing to change: pass at least one parameter option (see --help)", err=True)
        raise typer.Exit(1)

    def build(system: System) -> ContractFunction:
        current = HubParams.from_abi(system.sender.call(system.hub.functions.params()))
        return system.hub.functions.setParams(dataclasses.replace(current, **given).as_abi())

    _schedule(rpc_url, private_key, build, wait, as_json, ", ".join(f"{k} = {v}" for k, v in given.items()))


@admin_app.command("add-mirror")
def add_mirror_command(
    model_id: Annotated[str, typer.Argument(help="The model id, 0x + 64 hex digits.")],
    uri: Annotated[str, typer.Argument(help="Another URI the model's file can be fetched from.")],
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    wait: Wait = None,
    as_json: AsJson = False,
) -> None:
    """Schedule ModelRegistry.addMirror (safe for any model: nodes check the file's hash)."""
    with errors():
        raw_id = bytes32(model_id, "MODEL_ID")
    _schedule(rpc_url, private_key, lambda s: s.models.functions.addMirror(raw_id, uri), wait, as_json, f"mirror {uri}")


@admin_app.command("pending")
def pending_command(
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    include_done: Annotated[bool, typer.Option(help="Also list executed and cancelled calls.")] = False,
    as_json: AsJson = False,
) -> None:
    """List the calls scheduled on the timelock and where each stands (waiting, ready, expired)."""
    from rich.table import Table

    with errors():
        system, gov = _governance(rpc_url, private_key)
        timelock = system.deployment.timelock
        calls = [_call_json(gov, c) for c in gov.scheduled(timelock.block if timelock else 0)]
    if not include_done:
        calls = [c for c in calls if c["state"] not in {"done", "unset"}]
    if as_json:
        echo_json({"calls": calls})
        return
    table = Table(title="Timelock calls")
    for column in ("id", "target", "eta", "state"):
        table.add_column(column, overflow="fold")
    for c in calls:
        table.add_row(c["id"], c["target"], str(c["eta"]), c["state"])
    console().print(table)


@admin_app.command("execute")
def execute_command(
    call_id: Annotated[str, typer.Argument(help="The call id `schedule` printed, 0x + 64 hex digits.")],
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
    wait: Annotated[float, typer.Option(help="Wait up to this many seconds for its eta.")] = 0.0,
) -> None:
    """Execute a scheduled call whose delay has passed."""
    with errors():
        raw_id = bytes32(call_id, "CALL_ID")
        system, gov = _governance(rpc_url, private_key)
        timelock = system.deployment.timelock
        call = gov.find(raw_id, timelock.block if timelock else 0)
        gov.execute(call, wait=wait)
    console().print(f"executed {call_id}")


@admin_app.command("cancel")
def cancel_command(
    call_id: Annotated[str, typer.Argument(help="The call id, 0x + 64 hex digits.")],
    private_key: ProposerKey,
    rpc_url: RpcUrl = DEFAULT_RPC,
) -> None:
    """Cancel a scheduled call."""
    with errors():
        raw_id = bytes32(call_id, "CALL_ID")
        system, gov = _governance(rpc_url, private_key)
        timelock = system.deployment.timelock
        gov.cancel(gov.find(raw_id, timelock.block if timelock else 0))
    console().print(f"cancelled {call_id}")
