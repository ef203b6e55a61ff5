"""`verinfer node ...` and `verinfer devnet up` through Typer's CliRunner: every error path is one line on stderr,
`error: ...`, exit code 1; the node commands on the session anvil with their documented `--json` shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result
from web3 import Web3
from web3.types import RPCEndpoint

from tests.node.support import MODEL_ID, NODE_STAKE, Actors
from tests.node.unit.test_cli import assert_error
from verinfer import __version__
from verinfer.chain.anvil import Anvil, free_port
from verinfer.chain.deploy import save_deployment
from verinfer.cli import app
from verinfer.inference.runner import arithmetic_class
from verinfer.sdk.operator import environment_hash
from verinfer.types import ARITHMETIC_CLASSES

runner = CliRunner()

OPERATOR = 8
MODEL = "0x" + MODEL_ID.hex()
STATUS_KEYS = {
    "node", "state", "registered", "staked", "stake", "minStake", "envHash", "unbondingEndsAt", "unbondingDelay",
    "withdrawable", "openCommitments", "blockTimestamp", "eligibility",
}  # fmt: skip


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def write_config(path: Path, rpc_url: str, key: str = "0x" + "11" * 32, extra: str = "") -> Path:
    path.write_text(f'rpc_url = "{rpc_url}"\n{extra}[keys]\nprivate_key = "{key}"\n')
    return path


# -- errors before any chain is touched ----------------------------------------------------------------------------


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "verinfer", "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, __version__)


def test_help_lists_the_node_and_devnet_commands() -> None:
    assert all(name in invoke("node", "--help").stdout for name in ("register", "unbond", "withdraw", "status"))
    assert "up" in invoke("devnet", "--help").stdout


@pytest.mark.parametrize("command", ["run", "register", "unbond --yes", "withdraw", "status"])
def test_a_missing_config_file_is_one_line(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    assert_error(invoke("node", *command.split(), "--config", str(missing)), f"no config file at {missing}")


def test_an_invalid_config_names_every_bad_field_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('rpc_url = "ftp://example"\nconfirmations = -1\n')
    assert_error(invoke("node", "status", "--config", str(config)), "rpc_url", "confirmations", "keys", "Fix:")


@pytest.mark.parametrize("command", ["run", "status"])
def test_an_unreachable_rpc_is_one_line(command: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "node.toml", f"http://127.0.0.1:{free_port()}")
    assert_error(invoke("node", command, "--config", str(config)), "no JSON-RPC endpoint answering")


def test_run_refuses_zk_without_its_artifacts(tmp_path: Path) -> None:
    config = write_config(tmp_path / "node.toml", f"http://127.0.0.1:{free_port()}")
    config.write_text('modes = ["ZK"]\n' + config.read_text())
    assert_error(invoke("node", "run", "--config", str(config)), "zk.artifacts_dir is not set")


def test_a_malformed_model_id_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "node.toml", f"http://127.0.0.1:{free_port()}")
    for command in ("register", "status"):
        assert_error(invoke("node", command, "--config", str(config), "--model", "0x12"), "--model must be 32 bytes")


def test_unbond_needs_yes(tmp_path: Path) -> None:
    assert_error(invoke("node", "unbond", "--config", str(tmp_path / "node.toml")), "cannot be undone", "--yes")


def test_withdraw_to_a_malformed_address_is_refused(tmp_path: Path) -> None:
    result = invoke("node", "withdraw", "--config", str(tmp_path / "node.toml"), "--to", "0x1234")
    assert_error(result, "--to must be an address", "'0x1234'")


def test_status_of_a_malformed_node_address_is_refused(tmp_path: Path) -> None:
    assert_error(invoke("node", "status", "--config", str(tmp_path / "x.toml"), "--node", "bob"), "--node must be")


def test_devnet_up_refuses_more_nodes_than_dev_accounts(tmp_path: Path) -> None:
    result = invoke("devnet", "up", "--nodes", "9", "--state-dir", str(tmp_path / "state"))
    assert_error(result, "a devnet runs 0 to 8 nodes", "pass --nodes 8 or fewer")
    assert not (tmp_path / "state").exists()  # refused before anything started


def test_devnet_up_refuses_a_negative_node_count() -> None:
    assert invoke("devnet", "up", "--nodes", "-1").exit_code == 2  # Typer's usage error


# -- on the session anvil --------------------------------------------------------------------------------------------


@pytest.fixture
def config(system: Actors, anvil: Anvil, tmp_path: Path) -> Path:
    deployment = save_deployment(system.deployment, tmp_path / "deployment.json")
    extra = f'deployment_file = "{deployment}"\n'
    return write_config(tmp_path / "node.toml", anvil.rpc_url, anvil.accounts[OPERATOR].private_key, extra)


def node(config: Path, *args: str) -> Result:
    return invoke("node", args[0], "--config", str(config), *args[1:])


def json_of(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.integration
def test_register_json_defaults_to_the_minimum_stake_and_every_model(
    config: Path, anvil: Anvil, system: Actors
) -> None:
    document = json_of(node(config, "register", "--json"))
    assert set(document) == {"node", "stake", "envHash", "arithmeticClass", "models", "txHash", "block"}
    assert document["node"] == anvil.accounts[OPERATOR].address
    stated = system.deployer.sender.call(
        system.deployer.nodes.functions.arithmeticClassOf(anvil.accounts[OPERATOR].address)
    )
    assert document["arithmeticClass"] == ARITHMETIC_CLASSES[stated] == ARITHMETIC_CLASSES[arithmetic_class()]
    assert document["stake"] == str(system.deployment.min_stake)
    assert document["models"] == [MODEL]
    assert document["envHash"] == "0x" + environment_hash(1, "basic").hex()  # the config's default runner settings


@pytest.mark.integration
def test_register_env_hash_follows_the_runner_settings(config: Path) -> None:
    config.write_text(config.read_text() + '[runner]\nintra_op_threads = 2\ngraph_optimization_level = "all"\n')
    document = json_of(node(config, "register", "--json"))
    assert document["envHash"] == "0x" + environment_hash(2, "all").hex()


@pytest.mark.integration
def test_register_with_stake_and_models_then_status(config: Path) -> None:
    other = "0x" + Web3.keccak(text="not served").hex()
    result = node(config, "register", "--stake", str(NODE_STAKE), "--model", MODEL)
    assert result.exit_code == 0, result.output
    assert f"with {NODE_STAKE} wei, serving 1 model(s)" in result.stdout
    status = json_of(node(config, "status", "--model", MODEL, "--model", other, "--json"))
    assert set(status) == STATUS_KEYS
    assert (status["state"], status["stake"], status["staked"]) == ("active", str(NODE_STAKE), True)
    assert status["eligibility"] == {MODEL: "eligible", other: "model_not_served"}


@pytest.mark.integration
def test_status_table_of_an_unregistered_node(config: Path) -> None:
    result = node(config, "status")
    assert result.exit_code == 0, result.output
    assert "not-registered" in result.stdout
    assert MODEL[:20] in result.stdout
    assert "not_registered" in result.stdout  # its eligibility for that model


@pytest.mark.integration
def test_status_of_another_node(config: Path, system: Actors) -> None:
    address = system.node.sender.address
    status = json_of(node(config, "status", "--node", address, "--json"))
    assert (status["node"], status["state"], status["eligibility"]) == (address, "active", {MODEL: "eligible"})


@pytest.mark.integration
def test_register_twice_says_so_and_how_to_look(config: Path, anvil: Anvil) -> None:
    assert node(config, "register").exit_code == 0
    assert_error(
        node(config, "register"),
        f"NodeAlreadyRegistered(node={anvil.accounts[OPERATOR].address})",
        "`verinfer node status`",
    )


@pytest.mark.integration
def test_register_below_the_minimum_is_stake_too_low(config: Path, system: Actors) -> None:
    result = node(config, "register", "--stake", "1")
    assert_error(result, f"StakeTooLow(stake=1, minimum={system.deployment.min_stake})", "pass --stake")


@pytest.mark.integration
def test_unbond_when_not_registered(config: Path) -> None:
    assert_error(node(config, "unbond", "--yes"), "NodeNotRegistered(", "`verinfer node register`")


@pytest.mark.integration
def test_withdraw_without_unbonding(config: Path) -> None:
    assert node(config, "register").exit_code == 0
    assert_error(node(config, "withdraw"), "NodeNotUnbonding(", "`verinfer node unbond --yes`")


@pytest.mark.integration
def test_withdraw_to_the_zero_address(config: Path) -> None:
    assert node(config, "register").exit_code == 0
    assert_error(node(config, "withdraw", "--to", "0x" + "00" * 20), "RecipientZero()", "non-zero address")


@pytest.mark.integration
def test_unbond_then_withdraw(config: Path, w3: Web3, anvil: Anvil, system: Actors) -> None:
    address = anvil.accounts[OPERATOR].address
    assert node(config, "register", "--stake", str(NODE_STAKE)).exit_code == 0
    unbonding = json_of(node(config, "unbond", "--yes", "--json"))
    ends_at = int(str(unbonding["unbondingEndsAt"]))
    assert unbonding == {"node": address, "unbondingEndsAt": ends_at}
    assert json_of(node(config, "status", "--json"))["state"] == "unbonding"

    assert_error(node(config, "withdraw"), f"UnbondingNotOver(node={address}, unbondingEndsAt={ends_at}", "try again")

    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [system.deployment.unbonding_delay])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    recipient = "0x" + "ab" * 20
    withdrawn = json_of(node(config, "withdraw", "--to", recipient, "--json"))
    assert withdrawn == {"node": address, "to": recipient, "amount": str(NODE_STAKE)}
    assert w3.eth.get_balance(Web3.to_checksum_address(recipient)) == NODE_STAKE
    assert json_of(node(config, "status", "--json"))["state"] == "not-registered"


@pytest.mark.integration
def test_human_output_of_unbond_and_withdraw(config: Path, w3: Web3, system: Actors) -> None:
    assert node(config, "register").exit_code == 0
    result = node(config, "unbond", "--yes")
    assert result.exit_code == 0, result.output
    assert "is unbonding; withdraw with `verinfer node withdraw` from" in result.stdout
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [system.deployment.unbonding_delay])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    result = node(config, "withdraw")
    assert result.exit_code == 0, result.output
    assert f"withdrew {system.deployment.min_stake} wei to" in result.stdout
