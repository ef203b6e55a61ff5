"""The operator SDK on the session anvil: register, stake, serve, unbond, withdraw, status, and the registry's named
errors on every path that refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from tests.node.support import ENV_HASH, MODEL_ID, NODE_STAKE, Actors, model_spec
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import save_deployment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.config import load_config
from verinfer.errors import ConfigError, ContractRevert
from verinfer.sdk.operator import Operator
from verinfer.types import Eligibility, ModelId

pytestmark = pytest.mark.integration

OPERATOR = 8
OTHER_MODEL = ModelId(Web3.keccak(text="a model nobody serves"))
UNREGISTERED = ModelId(Web3.keccak(text="a file nobody registered"))
ZERO = "0x" + "00" * 20


@pytest.fixture
def operator(system: Actors, accounts: list[LocalAccount]) -> Operator:
    sender = system.deployer.sender
    return Operator(System.bind(TxSender(sender.w3, accounts[OPERATOR], sender.decoder), system.deployment))


@pytest.fixture
def registered(operator: Operator, system: Actors) -> Operator:
    # A node declares only registered models: OTHER_MODEL is registered once per session, and nobody serves it.
    deployer = system.deployer
    if not deployer.sender.call(deployer.models.functions.isRegistered(OTHER_MODEL)):
        deployer.register_model(OTHER_MODEL, model_spec())
    operator.register(ENV_HASH, [MODEL_ID], NODE_STAKE)
    return operator


def advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def revert_of(excinfo: pytest.ExceptionInfo[ContractRevert]) -> tuple[str, dict[str, object]]:
    return excinfo.value.name, dict(excinfo.value.arguments)


def test_register_makes_the_node_eligible_for_its_models(registered: Operator) -> None:
    status = registered.status([MODEL_ID, OTHER_MODEL])
    assert (status.address, status.state, status.registered, status.staked) == (
        registered.address,
        "active",
        True,
        True,
    )
    assert (status.stake, status.env_hash, status.unbonding_ends_at) == (NODE_STAKE, ENV_HASH, 0)
    assert status.eligibility == {MODEL_ID: Eligibility.ELIGIBLE, OTHER_MODEL: Eligibility.MODEL_NOT_SERVED}


def test_register_stakes_the_minimum_by_default(operator: Operator, system: Actors) -> None:
    operator.register(ENV_HASH, [])
    assert operator.status().stake == system.deployment.min_stake == operator.min_stake()


def test_register_below_the_minimum_is_stake_too_low(operator: Operator, system: Actors) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        operator.register(ENV_HASH, [MODEL_ID], stake=1)
    assert revert_of(excinfo) == ("StakeTooLow", {"stake": 1, "minimum": system.deployment.min_stake})


def test_register_twice_is_node_already_registered(registered: Operator) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        registered.register(ENV_HASH, [MODEL_ID], NODE_STAKE)
    assert revert_of(excinfo) == ("NodeAlreadyRegistered", {"node": registered.address})


def test_register_refuses_a_zero_environment(operator: Operator) -> None:
    with pytest.raises(ContractRevert, match=r"^EnvironmentZero\(\)$"):
        operator.register(b"\0" * 32, [MODEL_ID], NODE_STAKE)


def test_register_refuses_a_malformed_model_id_before_sending(operator: Operator) -> None:
    with pytest.raises(ConfigError, match="a model id is 32 bytes"):
        operator.register(ENV_HASH, [b"\x01" * 20], NODE_STAKE)


def test_add_stake_adds(registered: Operator) -> None:
    registered.add_stake(5)
    assert registered.status().stake == NODE_STAKE + 5


def test_add_stake_refuses_a_negative_amount(registered: Operator) -> None:
    with pytest.raises(ConfigError, match="non-negative integer"):
        registered.add_stake(-1)


def test_add_stake_when_not_registered_is_node_not_registered(operator: Operator) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        operator.add_stake(1)
    assert revert_of(excinfo) == ("NodeNotRegistered", {"node": operator.address})


def test_set_models_declares_and_withdraws_service(registered: Operator) -> None:
    registered.set_models([OTHER_MODEL])
    assert registered.status([OTHER_MODEL]).eligibility[OTHER_MODEL] == Eligibility.ELIGIBLE
    registered.set_models([OTHER_MODEL, MODEL_ID], serving=False)
    status = registered.status([MODEL_ID, OTHER_MODEL])
    assert set(status.eligibility.values()) == {Eligibility.MODEL_NOT_SERVED}


def test_set_models_refuses_an_unregistered_model(registered: Operator) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        registered.set_models([UNREGISTERED])
    assert revert_of(excinfo) == ("ModelNotFound", {"modelId": UNREGISTERED})


def test_update_environment_publishes_the_new_hash(registered: Operator) -> None:
    new = Web3.keccak(text="onnxruntime upgraded")
    registered.update_environment(new)
    assert registered.status().env_hash == new


def test_begin_unbonding_stops_work_and_sets_the_release_time(registered: Operator, w3: Web3) -> None:
    ends_at = registered.begin_unbonding()
    status = registered.status([MODEL_ID])
    assert ends_at == w3.eth.get_block("latest")["timestamp"] + status.unbonding_delay
    assert (status.state, status.unbonding_ends_at, status.withdrawable) == ("unbonding", ends_at, False)
    assert status.eligibility == {MODEL_ID: Eligibility.UNBONDING}
    with pytest.raises(ContractRevert) as excinfo:
        registered.add_stake(1)
    assert revert_of(excinfo) == ("NodeIsUnbonding", {"node": registered.address, "unbondingEndsAt": ends_at})


def test_withdraw_before_the_delay_is_unbonding_not_over(registered: Operator) -> None:
    ends_at = registered.begin_unbonding()
    with pytest.raises(ContractRevert) as excinfo:
        registered.withdraw()
    name, arguments = revert_of(excinfo)
    assert (name, arguments["node"], arguments["unbondingEndsAt"]) == ("UnbondingNotOver", registered.address, ends_at)
    assert int(str(arguments["nowTimestamp"])) < ends_at


def test_withdraw_without_unbonding_is_node_not_unbonding(registered: Operator) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        registered.withdraw()
    assert revert_of(excinfo) == ("NodeNotUnbonding", {"node": registered.address})


def test_withdraw_when_never_registered_is_node_not_registered(operator: Operator) -> None:
    with pytest.raises(ContractRevert) as excinfo:
        operator.withdraw()
    assert revert_of(excinfo) == ("NodeNotRegistered", {"node": operator.address})


def test_withdraw_after_the_delay_pays_the_recipient_and_deregisters(registered: Operator, w3: Web3) -> None:
    registered.begin_unbonding()
    advance(w3, registered.status().unbonding_delay)
    assert registered.status().state == "withdrawable"
    recipient = Account.create().address
    assert registered.withdraw(to=recipient) == NODE_STAKE
    assert w3.eth.get_balance(recipient) == NODE_STAKE
    status = registered.status([MODEL_ID])
    assert (status.state, status.stake, status.env_hash) == ("not-registered", 0, b"\0" * 32)
    assert status.eligibility == {MODEL_ID: Eligibility.NOT_REGISTERED}


def test_withdraw_to_the_zero_address_is_recipient_zero(registered: Operator) -> None:
    with pytest.raises(ContractRevert, match=r"^RecipientZero\(\)$"):
        registered.withdraw(to=ZERO)


def test_withdraw_to_a_malformed_address_is_refused_before_sending(registered: Operator) -> None:
    with pytest.raises(ConfigError, match="is not an address"):
        registered.withdraw(to="0x1234")


def test_status_of_another_node(operator: Operator, system: Actors) -> None:
    status = operator.status([MODEL_ID], node=system.node.sender.address)
    assert (status.address, status.state, status.eligibility) == (
        system.node.sender.address,
        "active",
        {MODEL_ID: Eligibility.ELIGIBLE},
    )
    assert operator.status().state == "not-registered"


def test_registered_models_lists_the_registry(operator: Operator) -> None:
    assert MODEL_ID in operator.registered_models()


@pytest.fixture
def node_toml(system: Actors, anvil: Anvil, tmp_path: Path) -> Path:
    deployment_file = save_deployment(system.deployment, tmp_path / "deployment.json")
    path = tmp_path / "node.toml"
    path.write_text(
        f'rpc_url = "{anvil.rpc_url}"\ndeployment_file = "{deployment_file}"\n'
        f'[keys]\nprivate_key = "{anvil.accounts[OPERATOR].private_key}"\n'
    )
    return path


def test_from_config_acts_as_the_configured_key(node_toml: Path, anvil: Anvil, system: Actors) -> None:
    operator = Operator.from_config(load_config(node_toml))
    assert operator.address == anvil.accounts[OPERATOR].address
    assert operator.system.deployment == system.deployment


def test_from_config_checks_the_chain_id(node_toml: Path) -> None:
    node_toml.write_text("chain_id = 5\n" + node_toml.read_text())
    with pytest.raises(ConfigError, match=r"chain_id = 5 but .* is chain 31337"):
        Operator.from_config(load_config(node_toml))
