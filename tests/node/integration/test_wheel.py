"""The wheel works outside a checkout: built from the sources, installed with its base dependencies into a fresh
venv in a temporary folder, its `verinfer request`, `result` and `verify` serve a dApp user against the session anvil
with no out/, no foundry.toml and no source tree in sight (the ABIs come from inside the package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from tests.node.support import NODE_STAKE, Actors, next_second, open_all_windows
from verinfer._version import __version__
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, save_deployment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.demo.models import build_credit_model
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk.client import Client
from verinfer.sdk.operator import environment_hash
from verinfer.types import Mode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
PRICE = 10**15
SCALE = 1_000_000
OWNER, OPERATOR, USER = 5, 6, 7
INSTALL_TIMEOUT = 900  # the base dependencies come from pip's cache on a warm machine, from the index on a cold one


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (so the build leaves nothing behind in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "node", source / "node", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), "."]
    run([*pip_wheel, "--quiet"], cwd=source)
    (built,) = dist.glob("verinfer-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository holding the wheel and its base dependencies only; returns its bin/."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home / "env", with_pip=True)
    bin_dir = home / "env" / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=home, timeout=INSTALL_TIMEOUT)
    return bin_dir


def test_the_wheel_ships_the_abis_and_the_version(wheel: Path, installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, verinfer; from verinfer.chain import artifacts; "
        "print(json.dumps([verinfer.__file__, verinfer.__version__, "
        "[len(artifacts.load_abi(n)) for n in artifacts.PACKAGED_ABIS]]))"
    )
    location, version, sizes = json.loads(run([str(installed / "python"), "-c", probe], cwd=tmp_path))
    assert Path(location).is_relative_to(installed.parent), location  # the venv's copy, not the checkout
    assert version == __version__
    assert all(size > 0 for size in sizes)
    assert "ezkl" not in run([str(installed / "python"), "-m", "pip", "list"], cwd=tmp_path)  # base install only


def test_request_result_verify_from_the_wheel(
    installed: Path, system: Actors, anvil: Anvil, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    # The checkout sets up the world: the deployment file, a registered model, a staked node.
    deployments = tmp_path / "deployments"
    save_deployment(system.deployment, deployments / f"{system.deployment.chain_id}.json")
    model = build_credit_model(tmp_path / "models")
    owner = Client(anvil.rpc_url, anvil.accounts[OWNER].private_key, system.deployment)
    model_id = owner.register_model(model.path, model.path.as_uri(), PRICE, [Mode.SINGLE])
    sender = system.deployer.sender
    node = System.bind(TxSender(sender.w3, accounts[OPERATOR], sender.decoder), system.deployment)
    node.register_node(environment_hash(), [model_id], NODE_STAKE)
    next_second(sender.w3)  # the stake holds tickets for requests made after it

    # The user's shell: the wheel's `verinfer`, run from a folder with no repository above it.
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    env = {
        "PATH": f"{installed}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        ENV_DEPLOYMENTS: str(deployments),
        "VERINFER_RPC_URL": anvil.rpc_url,
        "VERINFER_PRIVATE_KEY": anvil.accounts[USER].private_key,
    }

    def verinfer(*args: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(run([str(installed / "verinfer"), *args, "--json"], user_dir, env))
        return document

    features = model.samples[0]
    model_hex = "0x" + model_id.hex()
    request_id = verinfer("request", model_hex, "--input", json.dumps([features.tolist()]))["requestId"]
    assert isinstance(request_id, int)

    # A node serves it, by hand (as in test_cli_flow).
    (event,) = [e for e in node.requested(system.deployment.hub.block) if e.request_id == request_id]
    decoded = codec.decode(codec.encode(features, SCALE), (1, features.size), SCALE).astype(np.float32)
    output = codec.encode(OnnxRunner(model.path).run_batch(decoded), SCALE)
    open_all_windows(sender.w3, event.lottery)  # by hand, as any node once every window is open
    node.sender.send(
        node.hub.functions.submitResult(event.request_id, event.params(node.terms_of(model_id)).as_abi(), output)
    )

    result = verinfer("result", str(request_id))
    assert result["requestId"] == request_id
    assert result["modelId"] == model_hex
    assert result["outputHash"] == Web3.keccak(output).to_0x_hex()
    assert result["nodes"] == [node.sender.address]
    report = verinfer("verify", str(request_id), "--model", str(model.path))
    assert report["matches"] is True, report
