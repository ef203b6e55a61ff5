"""Shared fixtures: one anvil and one forge build per session, a deployed system reset between tests by snapshot."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from tests.node.support import ENV_HASH, MODEL_ID, NODE_STAKE, Actors, model_spec, next_second
from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import artifacts_dir, clear_cache, load_artifact
from verinfer.chain.deploy import deploy
from verinfer.chain.revert import SYSTEM_CONTRACTS, RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.errors import ArtifactError

ROOT = Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
FORGE_TIMEOUT = 900

# Contracts the tests load; when one is missing, forge builds once for the session.
NEEDED_CONTRACTS = (*SYSTEM_CONTRACTS, "CodecHarness")

# The modules that take longest (seconds in a fresh-clone run, three workers, a loaded machine), started first: under
# `--dist loadfile` a module runs on one worker, and one that starts last holds the run up while the other workers
# idle. Only modules that bring their own chain (node_world, a Devnet): the modules on the session anvil keep the
# order pytest-xdist gave them (most tests first), since evm_revert does not take back anvil's clock and a module's
# time travel reaches the modules after it on its worker. A scheduling hint only: a stale figure costs time, never
# a result.
LONGEST_FIRST = (
    "integration/test_text_requests.py",  # 75-163 (trains the demo language model, three nodes)
    "integration/test_devnet.py",  # 150
    "integration/test_explorer.py",  # 145
    "integration/test_node_healing.py",  # 137
    "integration/test_node_watchtower.py",  # 113
    "integration/test_node_crash.py",  # 105
    "integration/test_node_sandbox.py",  # 99
    "integration/test_node_zk.py",  # 88
    "integration/test_demo.py",  # 88
    "integration/test_example_project.py",  # 83
    "integration/test_node_hardhat.py",  # 60
    "integration/test_node_service.py",  # 59
    "integration/test_node_chain.py",  # 57
    "integration/test_node_final.py",  # 53
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Moves the modules of LONGEST_FIRST to the front, in that order, and the others after them by how many tests
    they hold, most first (pytest-xdist's own order for `--dist loadfile`, which scripts/test.sh turns off with
    --no-loadscope-reorder so that this order holds). Every module keeps its own tests' order (a module-scoped
    world runs its tests in file order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    counts = Counter(item.path for item in items)

    def key(item: pytest.Item) -> tuple[int, int]:
        path = item.path.as_posix()
        listed = next((i for name, i in rank.items() if path.endswith("/" + name)), len(rank))
        return listed, -counts[item.path]

    items.sort(key=key)  # stable: the order within a module, and between modules of one size, stays


def _missing_contracts() -> list[str]:
    missing = []
    for name in NEEDED_CONTRACTS:
        try:
            load_artifact(name)
        except ArtifactError:
            missing.append(name)
    return missing


@pytest.fixture(scope="session")
def forge_build() -> Path:
    """The build output, built once if any contract the tests need is missing."""
    out = artifacts_dir()
    if not _missing_contracts():
        return out
    if not FORGE.is_file():
        pytest.fail(f"contract artifacts missing under {out} and no native forge at {FORGE}: run scripts/setup.sh")
    done = subprocess.run([str(FORGE), "build"], cwd=ROOT, capture_output=True, text=True, timeout=FORGE_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"forge build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    clear_cache()
    missing = _missing_contracts()
    if missing:
        pytest.fail(f"forge build did not produce {missing}")
    return out


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with Anvil.start() as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return connect(anvil.rpc_url)


@pytest.fixture(scope="session")
def accounts(anvil: Anvil) -> list[LocalAccount]:
    """anvil's prefunded accounts: [0] deployer, [1] node, [2] user, [3] second node, ..."""
    return [Account.from_key(a.private_key) for a in anvil.accounts]


@pytest.fixture(scope="session")
def decoder(forge_build: Path) -> RevertDecoder:
    return RevertDecoder.for_system()


@pytest.fixture(scope="session")
def deployed(w3: Web3, accounts: list[LocalAccount], decoder: RevertDecoder) -> Actors:
    """The system deployed once per session, with the test model registered and one staked node serving it."""
    senders = [TxSender(w3, accounts[i], decoder) for i in range(3)]
    deployment = deploy(senders[0])
    actors = Actors(*(System.bind(s, deployment) for s in senders))
    actors.deployer.register_model(MODEL_ID, model_spec())
    actors.node.register_node(ENV_HASH, [MODEL_ID], NODE_STAKE)
    # Tickets go to stake older than the request: without a second passing, a test's first request may share the
    # registration's timestamp and hold no ticket for the node.
    next_second(w3)
    return actors


@pytest.fixture
def system(deployed: Actors, w3: Web3) -> Iterator[Actors]:
    """The session's deployment, with every change the test makes rolled back afterwards (evm_snapshot/evm_revert)."""
    snapshot = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    yield deployed
    reverted = w3.provider.make_request(RPCEndpoint("evm_revert"), [snapshot])["result"]
    if not reverted:
        pytest.fail(f"evm_revert to snapshot {snapshot} failed")
