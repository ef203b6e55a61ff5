"""The deployer's handover to the Timelock, and owner actions through it (schedule, wait, execute, cancel) on anvil."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, deploy, save_deployment
from verinfer.chain.governance import CallState, Governance
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.cli import app
from verinfer.errors import ChainError, ContractRevert
from verinfer.types import DEVNET_TIMELOCK_DELAY, DeployConfig, HubParams

pytestmark = pytest.mark.integration

DELAY = 2  # seconds: short enough to wait out for real


@pytest.fixture
def governed(w3: Web3, accounts: list[LocalAccount], decoder: RevertDecoder) -> System:
    """A fresh deployment from account 7 with a two-second timelock."""
    return System.bind(
        TxSender(w3, accounts[7], decoder),
        deploy(TxSender(w3, accounts[7], decoder), DeployConfig(timelock_delay=DELAY)),
    )


def test_deploy_hands_every_contract_to_the_timelock(governed: System) -> None:
    timelock = governed.deployment.timelock
    assert timelock is not None
    for contract in (governed.hub, governed.models, governed.nodes):
        assert contract.functions.owner().call() == timelock.address
    gov = Governance.of(governed)
    assert gov.proposer() == governed.sender.address
    assert gov.delay() == DELAY == governed.deployment.timelock_delay


def test_devnet_default_delay(w3: Web3, accounts: list[LocalAccount], decoder: RevertDecoder) -> None:
    deployment = deploy(TxSender(w3, accounts[8], decoder))
    assert deployment.timelock_delay == DEVNET_TIMELOCK_DELAY


def test_deployer_can_no_longer_change_params_directly(governed: System) -> None:
    with pytest.raises(ContractRevert) as caught:
        governed.sender.send(governed.nodes.functions.setMinStake(2 * 10**18), gas=200_000)
    assert caught.value.name == "CallerNotOwner"
    assert caught.value["owner"] == governed.deployment.timelock.address  # type: ignore[union-attr]


def test_schedule_wait_execute_changes_min_stake(governed: System) -> None:
    gov = Governance.of(governed)
    call = gov.schedule(governed.nodes.functions.setMinStake(3 * 10**18))
    assert gov.state(call) in {CallState.WAITING, CallState.READY}
    gov.execute(call)
    assert governed.nodes.functions.minStake().call() == 3 * 10**18
    assert gov.state(call) is CallState.DONE


def test_enact_hub_params(governed: System) -> None:
    params = HubParams(slash_bps=2_000)
    Governance.of(governed).enact(governed.hub.functions.setParams(params.as_abi()))
    assert HubParams.from_abi(governed.hub.functions.params().call()) == params


def test_target_error_is_raised_by_name(governed: System) -> None:
    gov = Governance.of(governed)
    call = gov.schedule(governed.nodes.functions.setMinStake(0))
    with pytest.raises(ContractRevert) as caught:
        gov.execute(call)
    assert caught.value.name == "ParameterOutOfBounds"
    # The revert left it scheduled (READY in the next block; "latest" may still be older than its eta).
    assert gov.timelock.functions.etaOf(call.id).call() == call.eta
    assert gov.state(call) in {CallState.WAITING, CallState.READY}


def test_cancelled_call_never_runs(governed: System) -> None:
    gov = Governance.of(governed)
    call = gov.schedule(governed.nodes.functions.setMinStake(3 * 10**18))
    gov.cancel(call)
    assert gov.state(call) is CallState.UNSET
    with pytest.raises(ContractRevert) as caught:
        gov.execute(call)
    assert caught.value.name == "NotScheduled"
    assert governed.nodes.functions.minStake().call() == 10**18


def test_execute_before_eta_is_refused(w3: Web3, accounts: list[LocalAccount], decoder: RevertDecoder) -> None:
    sender = TxSender(w3, accounts[7], decoder)
    slow = System.bind(sender, deploy(sender, DeployConfig(timelock_delay=3_600)))
    gov = Governance.of(slow)
    call = gov.schedule(slow.nodes.functions.setMinStake(3 * 10**18))
    with pytest.raises(ChainError, match="execute it then"):
        gov.execute(call, wait=60)
    assert gov.state(call) is CallState.WAITING
    with pytest.raises(ContractRevert) as early:  # sent anyway: the timelock refuses it
        sender.send(gov.timelock.functions.execute(call.target, call.data, call.salt), gas=300_000)
    assert early.value.name == "TooEarly"
    assert early.value["eta"] == call.eta


# -- verinfer admin -------------------------------------------------------------------------------------------------


@pytest.fixture
def admin(governed: System, anvil: Anvil, accounts: list[LocalAccount], tmp_path: Path) -> dict[str, str]:
    """The environment `verinfer admin` runs in: the governed deployment's file, the RPC URL and the proposer's key."""
    deployments = tmp_path / "deployments"
    save_deployment(governed.deployment, deployments / f"{governed.deployment.chain_id}.json")
    return {
        ENV_DEPLOYMENTS: str(deployments),
        "VERINFER_RPC_URL": anvil.rpc_url,
        "VERINFER_PRIVATE_KEY": Web3.to_hex(accounts[7].key),
    }


def run_admin(env: dict[str, str], *args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["admin", *args], env=env)
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_cli_schedules_and_executes_with_wait(governed: System, admin: dict[str, str]) -> None:
    done = run_admin(admin, "set-min-stake", str(4 * 10**18), "--wait", "30", "--json")
    assert done["state"] == "done"
    assert governed.nodes.functions.minStake().call() == 4 * 10**18


def test_cli_pending_then_execute(governed: System, admin: dict[str, str]) -> None:
    scheduled = run_admin(admin, "set-params", "--slash-bps", "1500", "--json")
    assert scheduled["state"] == "waiting"
    pending = run_admin(admin, "pending", "--json")["calls"]
    assert isinstance(pending, list)
    assert [c["id"] for c in pending] == [scheduled["id"]]
    result = CliRunner().invoke(app, ["admin", "execute", str(scheduled["id"]), "--wait", "30"], env=admin)
    assert result.exit_code == 0, result.output
    assert HubParams.from_abi(governed.hub.functions.params().call()).slash_bps == 1_500
    assert run_admin(admin, "pending", "--json")["calls"] == []


def test_cli_cancel(governed: System, admin: dict[str, str]) -> None:
    scheduled = run_admin(admin, "set-unbonding-delay", "7200", "--json")
    result = CliRunner().invoke(app, ["admin", "cancel", str(scheduled["id"])], env=admin)
    assert result.exit_code == 0, result.output
    assert run_admin(admin, "pending", "--json")["calls"] == []
    refused = CliRunner().invoke(app, ["admin", "execute", str(scheduled["id"]), "--wait", "30"], env=admin)
    assert refused.exit_code == 1
    assert "NotScheduled" in refused.output


def test_cli_refuses_a_non_proposer(admin: dict[str, str], accounts: list[LocalAccount]) -> None:
    env = {**admin, "VERINFER_PRIVATE_KEY": Web3.to_hex(accounts[2].key)}
    result = CliRunner().invoke(app, ["admin", "set-min-stake", str(10**18)], env=env)
    assert result.exit_code == 1
    assert "CallerNotProposer" in result.output
