"""The deployments file and the devnet-only rule for raw keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verinfer.chain import deploy as deploy_module
from verinfer.chain.deploy import load_deployment, save_deployment
from verinfer.errors import ConfigError
from verinfer.keys import devnet_account
from verinfer.types import DeployedContract, Deployment, HubParams

# anvil's first well-known test key (public; devnets only).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

DEPLOYMENT = Deployment(
    chain_id=31337,
    deployer=DEV_ADDRESS,  # type: ignore[arg-type]
    model_registry=DeployedContract("0x5FbDB2315678afecb367f032d93F642f64180aa3", 1, "0x" + "01" * 32),  # type: ignore[arg-type]
    node_registry=DeployedContract("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", 2, "0x" + "02" * 32),  # type: ignore[arg-type]
    hub=DeployedContract("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", 3, "0x" + "03" * 32),  # type: ignore[arg-type]
    hub_params=HubParams(reveal_window=120),
    min_stake=10**18,
    unbonding_delay=86_400,
)


def test_round_trip(tmp_path: Path) -> None:
    path = save_deployment(DEPLOYMENT, tmp_path / "31337.json")
    assert load_deployment(path=path) == DEPLOYMENT
    raw = json.loads(path.read_text())
    assert raw["chainId"] == 31337
    hub = {"address": DEPLOYMENT.hub.address, "block": 3, "txHash": "0x" + "03" * 32}
    assert raw["contracts"]["InferenceHub"] == hub
    assert raw["params"]["hub"]["revealWindow"] == 120
    assert raw["params"]["minStake"] == str(10**18)
    assert DEPLOYMENT.start_block == 1


def test_default_location_is_deployments_chain_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(deploy_module.ENV_DEPLOYMENTS, str(tmp_path))
    path = save_deployment(DEPLOYMENT)
    assert path == tmp_path / "31337.json"
    assert load_deployment(31337) == DEPLOYMENT


def test_default_location_is_under_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(deploy_module.ENV_DEPLOYMENTS, raising=False)
    root = Path(__file__).resolve().parents[3]
    assert deploy_module.deployment_path(31337) == root / "deployments" / "31337.json"


def test_missing_and_mismatched_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no deployment at .*: deploy first with `verinfer deploy`"):
        load_deployment(path=tmp_path / "1.json")
    path = save_deployment(DEPLOYMENT, tmp_path / "x.json")
    with pytest.raises(ConfigError, match="is for chain 31337, not 1"):
        load_deployment(1, path)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="unreadable"):
        load_deployment(path=tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="needs a chain id or a path"):
        load_deployment()


def test_raw_keys_only_on_devnets() -> None:
    assert devnet_account(DEV_KEY, 31337).address == DEV_ADDRESS
    assert devnet_account(DEV_KEY, 1337).address == DEV_ADDRESS
    with pytest.raises(ConfigError, match=r"refusing a raw private key on chain 1: raw keys are for devnets only"):
        devnet_account(DEV_KEY, 1)
    with pytest.raises(ConfigError, match="not a valid 32-byte hex private key"):
        devnet_account("0x1234", 31337)
