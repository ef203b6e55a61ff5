"""`verinfer devnet up` and the `Devnet` library: the system comes up with the demo models registered and the
nodes registered and running; everything it started is gone afterwards, also when it fails half-way, and also when
the CLI is stopped with SIGINT or SIGTERM.

The node processes here are a stand-in that answers /healthz on the configured
metrics port and starts a child of its own (to show that the whole process group is stopped); the real node service
on a devnet is what the demo story test (test_demo.py) runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_hash.auto import keccak
from web3 import Web3

from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import load_deployment
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.config import load_config
from verinfer.devnet import Devnet, NodeExitedError, write_node_config
from verinfer.sdk.operator import Operator, environment_hash
from verinfer.text.bundle import load_bundle
from verinfer.types import Eligibility

pytestmark = pytest.mark.integration

MODELS = ("credit_risk", "iris", "diabetes_regressor", "credit_risk_zk", "zen_lm", "proposal_spam")
STOP_WITHIN = 30.0

STAND_IN_NODE = """
import http.server, pathlib, subprocess, sys, tomllib
config = pathlib.Path(sys.argv[1])
port = tomllib.loads(config.read_text())["metrics"]["port"]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
(config.parent / "child.pid").write_text(str(child.pid))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(port: int) -> bool:
    """Nothing listens on the port, and a new server could (connections of the stopped one may linger in TIME_WAIT,
    which servers, anvil included, bind past with SO_REUSEADDR)."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def port_of(rpc_url: str) -> int:
    return int(rpc_url.rsplit(":", 1)[1])


def anvil_children() -> list[int]:
    """Processes named anvil whose parent is this test process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(") ", 1)
        except OSError:
            continue
        fields = rest.split()
        if name.endswith("(anvil") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + STOP_WITHIN
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def devnet_abi() -> list[dict[str, Any]]:
    return [dict(entry) for entry in load_artifact("ModelRegistry").abi]


def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in_node.py"
    script.write_text(STAND_IN_NODE)
    return [sys.executable, str(script)]


def test_devnet_without_nodes_registers_the_demo_models_and_stops_clean(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Devnet(state, nodes=0, deployment_file=tmp_path / "deployment.json") as devnet:
        info = devnet.info
        w3 = Web3(Web3.HTTPProvider(info.rpc_url, request_kwargs={"timeout": 5}))
        assert w3.eth.chain_id == info.chain_id == 31337
        assert load_deployment(path=tmp_path / "deployment.json") == info.deployment
        assert json.loads((state / "devnet.json").read_text()) == info.to_json()
        assert [m.name for m in info.models] == list(MODELS)
        registry = w3.eth.contract(address=info.deployment.model_registry.address, abi=devnet_abi())
        assert registry.functions.modelCount().call() == len(MODELS)
        for index, model in enumerate(info.models):
            # A bundle (the language model's directory) is named by its manifest, a single file by its bytes.
            named = load_bundle(model.path).bundle_id if model.path.is_dir() else keccak(model.path.read_bytes())
            assert model.model_id == named
            assert registry.functions.modelIdAt(index).call() == model.model_id
            assert model.uri == model.path.as_uri()
        assert info.nodes == ()
        assert devnet.problems() == []
    assert wait_gone([info.anvil_pid]) == []
    assert port_free(port_of(info.rpc_url))
    assert not (state / "devnet.json").exists()


def test_devnet_nodes_are_registered_configured_started_and_stopped_with_their_children(tmp_path: Path) -> None:
    command = stand_in(tmp_path)
    steps: list[str] = []
    devnet = Devnet(
        tmp_path / "state",
        nodes=2,
        deployment_file=tmp_path / "d.json",
        node_command=lambda c: [*command, str(c)],
        on_step=steps.append,
        watchtower=True,
    )
    with devnet:
        info = devnet.info
        assert len(info.nodes) == 2
        assert steps[-3:] == ["Starting node 1", "Starting node 2", "Starting the explorer"]
        w3 = Web3(Web3.HTTPProvider(info.rpc_url, request_kwargs={"timeout": 5}))
        reader = Operator(System.bind(TxSender(w3, info.user_account(), RevertDecoder.for_system()), info.deployment))
        model_ids = [m.model_id for m in info.models]
        pids = []
        for node in info.nodes:
            status = reader.status(model_ids, node=node.address)
            assert status.env_hash == environment_hash()
            assert set(status.eligibility.values()) == {Eligibility.ELIGIBLE}
            config = load_config(node.config_path)
            assert (config.rpc_url, config.chain_id, config.deployment_file) == (
                info.rpc_url,
                info.chain_id,
                (tmp_path / "d.json").resolve(),
            )
            assert config.metrics.port == node.metrics_port
            assert config.watch.watchtower
            assert config.journal_path.parent == node.config_path.parent
            assert node.pid is not None
            assert alive(node.pid)
            assert httpx.get(f"http://127.0.0.1:{node.metrics_port}/healthz", timeout=5).status_code == 200
            child = int((node.config_path.parent / "child.pid").read_text())
            assert alive(child)
            pids += [node.pid, child]
        assert len({n.address for n in info.nodes} | {info.deployer.address, info.user.address}) == 4
        assert info.explorer_pid is not None
        assert alive(info.explorer_pid)
    assert wait_gone([*pids, info.anvil_pid, info.explorer_pid]) == []
    assert all(port_free(n.metrics_port) for n in info.nodes)


@pytest.mark.parametrize("watchtower", [False, True])
def test_devnet_node_config_has_the_watchtower_only_when_asked(tmp_path: Path, watchtower: bool) -> None:
    key = "0x" + "11" * 32
    path = write_node_config(
        tmp_path / "node.toml", "http://127.0.0.1:8545", 31337, tmp_path / "d.json", key, 9100, watchtower=watchtower
    )
    config = load_config(path)
    assert config.watch.watchtower is watchtower
    assert config.watch.committee  # committee duty either way: a dispute needs members


def test_a_node_that_dies_on_start_fails_up_and_leaves_nothing_running(tmp_path: Path) -> None:
    def crashing(config: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no such command: run'); sys.exit(2)"]

    before = set(anvil_children())
    started: set[int] = set()

    def watch(step: str) -> None:  # the anvil this devnet started, seen while it runs
        started.update(set(anvil_children()) - before)

    devnet = Devnet(
        tmp_path / "state", nodes=1, deployment_file=tmp_path / "d.json", node_command=crashing, on_step=watch
    )
    with pytest.raises(NodeExitedError, match=r"node 1 exited with code 2 before it was ready: no such command: run"):
        devnet.up()
    assert len(started) == 1
    assert wait_gone(list(started)) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_devnet_up_serves_until_signalled_then_stops_everything(tmp_path: Path, stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "verinfer", "devnet", "up", "--nodes", "0", "--json",
            "--state-dir", str(tmp_path / "state"), "--deployment-file", str(tmp_path / "deployment.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the JSON document ends with a closing brace alone on its line
            lines.append(line)
            if line.rstrip() == "}":
                break
        document = json.loads("".join(lines))
        assert set(document) == {
            "rpcUrl", "chainId", "anvilPid", "stateDir", "deploymentFile", "contracts", "deployer", "user", "models",
            "nodes", "explorer",
        }  # fmt: skip
        w3 = Web3(Web3.HTTPProvider(document["rpcUrl"], request_kwargs={"timeout": 5}))
        assert w3.eth.chain_id == document["chainId"]
        registry = w3.eth.contract(address=document["contracts"]["ModelRegistry"], abi=devnet_abi())
        assert registry.functions.modelCount().call() == len(MODELS)
        assert [m["name"] for m in document["models"]] == list(MODELS)

        process.send_signal(stop)
        assert process.wait(timeout=STOP_WITHIN) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert wait_gone([document["anvilPid"], document["explorer"]["pid"]]) == []
    assert port_free(port_of(document["rpcUrl"]))
    assert port_free(port_of(document["explorer"]["url"].rstrip("/")))
