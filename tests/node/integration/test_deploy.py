"""Deployment on anvil: `verinfer deploy` (in process and as `python -m verinfer deploy`) writes a file
`load_deployment` reads back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web3 import Web3

from tests.node.support import Actors
from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import load_deployment
from verinfer.cli import app
from verinfer.types import HubParams

pytestmark = pytest.mark.integration


def test_cli_deploys_and_records(system: Actors, anvil: Anvil, w3: Web3, tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    result = CliRunner().invoke(
        app, ["deploy", "--rpc-url", anvil.rpc_url, "--private-key", anvil.accounts[5].private_key, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    deployment = load_deployment(31337, out)
    assert deployment.deployer == anvil.accounts[5].address
    assert deployment.hub_params == HubParams()
    for contract in (deployment.model_registry, deployment.node_registry, deployment.hub):
        assert w3.eth.get_code(contract.address)
    nodes = system.deployer.sender.bind(load_artifact("NodeRegistry"), deployment.node_registry.address)
    assert nodes.functions.hub().call() == deployment.hub.address


def test_module_entry_point(system: Actors, anvil: Anvil, tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "verinfer",
            "deploy",
            "--rpc-url",
            anvil.rpc_url,
            "--private-key",
            anvil.accounts[6].private_key,
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"chainId": 31337' in done.stdout
    assert load_deployment(path=out).deployer == anvil.accounts[6].address


def test_deployment_is_wired(system: Actors) -> None:
    d = system.deployment
    assert system.deployer.nodes.functions.hub().call() == d.hub.address
    assert system.deployer.models.functions.hub().call() == d.hub.address
    assert system.deployer.hub.functions.modelRegistry().call() == d.model_registry.address
    assert system.deployer.hub.functions.nodeRegistry().call() == d.node_registry.address
    assert HubParams.from_abi(system.deployer.hub.functions.params().call()) == d.hub_params
    assert system.deployer.nodes.functions.minStake().call() == d.min_stake
