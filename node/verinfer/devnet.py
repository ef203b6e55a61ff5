"""A whole local system in one call: anvil, the contracts, the demo models registered, staked nodes running.

    with Devnet(state_dir=Path(".verinfer/devnet"), nodes=3) as devnet:
        client = Client(devnet.info.rpc_url, devnet.info.user.private_key, devnet.info.deployment)
        ...

`up()` starts anvil (from PATH or the repository's node_modules), deploys and records the deployment (default
`deployments/<chainId>.json`, where every command looks), builds the demo models and registers them under their
`file://` URIs, registers nodes from anvil's prefunded dev accounts, writes each node's TOML config into the state
directory and starts `python -m verinfer node run --config <toml>` for each, in its own process group, waiting until
its `/healthz` answers, then the verification explorer (`python -m verinfer explorer`) on a free port.
`down()` stops everything `up()` started: the explorer's and the nodes' whole process groups (SIGTERM, then SIGKILL
after a grace period) and anvil. A failure half-way through `up()` stops what had started before it raises.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from verinfer.chain.anvil import Anvil, DevAccount, free_port
from verinfer.chain.deploy import deploy, deployment_path, save_deployment
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.config import RunnerConfig, load_config
from verinfer.demo.models import build_credit_zk_model, build_demo_models
from verinfer.errors import ConfigError, VerinferError
from verinfer.sdk.client import Client
from verinfer.sdk.operator import Operator, environment_hash, local_arithmetic_class
from verinfer.types import ETHER, Deployment, Mode, ModelId

MODEL_PRICE = ETHER // 1_000
NODE_STAKE = 2 * ETHER
NODE_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
DEPLOYER = 0  # anvil's account 0 deploys and owns the demo models; nodes take the next ones; the rest are users


class DevnetError(VerinferError):
    """The devnet could not be brought up, or a process it started failed."""


class NodeExitedError(DevnetError):
    """A node process ended while the devnet needed it."""


StepCallback = Callable[[str], None]
NodeCommand = Callable[[Path], Sequence[str]]


def node_run_command(config: Path) -> list[str]:
    """How a devnet node is started: the node service of this very interpreter and package."""
    return [sys.executable, "-m", "verinfer", "node", "run", "--config", str(config)]


def explorer_command(rpc_url: str, deployment_file: Path, port: int, model_dir: Path) -> list[str]:
    """How the devnet's explorer is started: serving the devnet's own models to the page."""
    return [
        sys.executable,
        "-m",
        "verinfer",
        "explorer",
        "--rpc-url",
        rpc_url,
        "--deployment-file",
        str(deployment_file),
        "--port",
        str(port),
        "--model-dir",
        str(model_dir),
    ]


@dataclass(frozen=True)
class DevnetModel:
    """A demo model as registered on the devnet."""

    name: str
    model_id: ModelId
    path: Path
    uri: str


@dataclass(frozen=True)
class DevnetNode:
    """A node account of the devnet, its config and (once started) its process."""

    index: int
    account: DevAccount
    config_path: Path
    metrics_port: int
    log_path: Path
    pid: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address


@dataclass(frozen=True)
class DevnetInfo:
    """Where everything of a running devnet is."""

    rpc_url: str
    chain_id: int
    anvil_pid: int
    state_dir: Path
    deployment: Deployment
    deployment_file: Path
    deployer: DevAccount
    user: DevAccount
    """A prefunded account neither deploying nor serving: the one to send requests from."""
    models: tuple[DevnetModel, ...]
    nodes: tuple[DevnetNode, ...] = field(default=())
    spare: tuple[DevAccount, ...] = field(default=())
    """The remaining prefunded accounts (applicants, other users of a story or test)."""
    explorer_url: str | None = None
    """Where the verification explorer answers (None when the devnet was started without it)."""
    explorer_pid: int | None = None

    def request_url(self, request_id: int) -> str | None:
        """The explorer's page of one request."""
        return None if self.explorer_url is None else f"{self.explorer_url}#/request/{request_id}"

    def model(self, name: str) -> DevnetModel:
        """The demo model called `name` (credit_risk, iris, diabetes_regressor, credit_risk_zk, zen_lm,
        proposal_spam)."""
        for model in self.models:
            if model.name == name:
                return model
        raise DevnetError(f"no demo model named {name!r}; the devnet has {', '.join(m.name for m in self.models)}")

    def user_account(self) -> LocalAccount:
        """The user's account, ready to sign."""
        account: LocalAccount = Account.from_key(self.user.private_key)
        return account

    def to_json(self) -> dict[str, object]:
        """The stable JSON document of `verinfer devnet up --json` (also written to `<state dir>/devnet.json`)."""
        return {
            "rpcUrl": self.rpc_url,
            "chainId": self.chain_id,
            "anvilPid": self.anvil_pid,
            "stateDir": str(self.state_dir),
            "deploymentFile": str(self.deployment_file),
            "contracts": {
                "ModelRegistry": self.deployment.model_registry.address,
                "NodeRegistry": self.deployment.node_registry.address,
                "InferenceHub": self.deployment.hub.address,
            },
            "deployer": self.deployer.address,
            "user": {"address": self.user.address, "privateKey": self.user.private_key},
            "models": [
                {"name": m.name, "modelId": "0x" + m.model_id.hex(), "uri": m.uri, "path": str(m.path)}
                for m in self.models
            ],
            "nodes": [
                {
                    "address": n.address,
                    "config": str(n.config_path),
                    "metricsPort": n.metrics_port,
                    "log": str(n.log_path),
                    "pid": n.pid,
                }
                for n in self.nodes
            ],
            "explorer": None
            if self.explorer_url is None
            else {"url": self.explorer_url, "pid": self.explorer_pid, "log": str(self.state_dir / "explorer.log")},
        }


def _toml_string(value: object) -> str:
    # A JSON string of printable text is a valid TOML basic string (same quotes and escapes).
    return json.dumps(str(value))


def write_node_config(
    path: Path,
    rpc_url: str,
    chain_id: int,
    deployment_file: Path,
    key: str,
    port: int,
    zk_dir: Path | None = None,
    *,
    watchtower: bool = False,
) -> Path:
    """A node's TOML for the devnet: raw dev key (allowed on devnet chain ids only), journal and model cache next to
    the config, no confirmations (anvil mines each transaction at once and never reorgs by itself); with
    `watchtower`, the node re-executes other nodes' SINGLE results and challenges a wrong one (`[watch]`)."""
    home = path.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join(
            [
                "# Written by `verinfer devnet up`; rewritten on every start.",
                f"rpc_url = {_toml_string(rpc_url)}",
                f"chain_id = {chain_id}",
                f"deployment_file = {_toml_string(deployment_file.resolve())}",
                f"journal_path = {_toml_string((home / 'journal.sqlite').resolve())}",
                f"model_cache_dir = {_toml_string((home / 'models').resolve())}",
                "confirmations = 0",
                "poll_interval_s = 0.5",
                *([] if zk_dir is None else ['modes = ["SINGLE", "CONSENSUS", "ZK"]']),
                "",
                "[keys]",
                f"private_key = {_toml_string(key)}",
                "",
                "[metrics]",
                'host = "127.0.0.1"',
                f"port = {port}",
                "",
                *(
                    []
                    if zk_dir is None
                    else [
                        "[zk]",
                        f"artifacts_dir = {_toml_string(zk_dir.resolve())}",
                        "",
                    ]
                ),
                *(["[watch]", "watchtower = true", ""] if watchtower else []),
            ]
        )
    )
    load_config(path)  # what the node will read: refuse to start one on a config it would refuse
    return path


def _check_node_count(nodes: int) -> None:
    available = 10  # anvil's default number of prefunded dev accounts
    most = available - 2  # one deployer, one user
    if not 0 <= nodes <= most:
        raise ConfigError(
            f"a devnet runs 0 to {most} nodes (anvil's {available} dev accounts: a deployer, the nodes and a user), "
            f"got {nodes}: pass --nodes {most} or fewer"
        )


class Devnet:
    """Anvil, the deployed system, the demo models and `nodes` running nodes; `up()` / `down()`, or `with`.

    `watchtower`: every node also re-executes the other nodes' SINGLE results and challenges a wrong one (off by
    default: a watchtower re-runs every result it sees; committee duty is on either way)."""

    def __init__(
        self,
        state_dir: Path,
        nodes: int,
        *,
        deployment_file: Path | None = None,
        node_command: NodeCommand = node_run_command,
        on_step: StepCallback | None = None,
        node_ready_timeout: float = NODE_READY_TIMEOUT,
        explorer: bool = True,
        watchtower: bool = False,
    ) -> None:
        _check_node_count(nodes)
        self.state_dir = state_dir.resolve()
        self.node_count = nodes
        self.deployment_file = deployment_file
        self.node_command = node_command
        self.on_step = on_step or (lambda _step: None)
        self.node_ready_timeout = node_ready_timeout
        self.explorer = explorer
        self.watchtower = watchtower
        self._explorer: subprocess.Popen[bytes] | None = None
        self._anvil: Anvil | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self._info: DevnetInfo | None = None

    @property
    def info(self) -> DevnetInfo:
        if self._info is None:
            raise DevnetError("the devnet is not up: call up() first")
        return self._info

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def up(self) -> DevnetInfo:
        """Starts everything; on any failure (or interrupt) stops what it started, then raises."""
        if self._anvil is not None:
            raise DevnetError("this devnet is already up: call down() first")
        try:
            self._info = self._up()
        except BaseException:
            self.down()
            raise
        return self._info

    def down(self) -> None:
        """Stops the nodes (whole process groups) and anvil. Safe to call twice, or after a failed `up()`."""
        if self._explorer is not None:
            _stop_group(self._explorer)
            self._explorer = None
        for process in self._processes:
            _stop_group(process)
        self._processes.clear()
        if self._anvil is not None:
            self._anvil.stop()
            self._anvil = None
        if self._info is not None:
            (self.state_dir / "devnet.json").unlink(missing_ok=True)
            self._info = None

    def problems(self) -> list[str]:
        """What has died since `up()`: anvil or a node (empty while all is well)."""
        found = []
        if self._explorer is not None and self._explorer.poll() is not None:
            log = self.state_dir / "explorer.log"
            found.append(f"the explorer exited with code {self._explorer.returncode}: {_tail(log)} (full log: {log})")
        if self._anvil is not None and not self._anvil.running:
            found.append(f"anvil (pid {self._anvil.pid}) exited")
        for node, process in zip(self.info.nodes, self._processes, strict=True):
            if process.poll() is not None:
                found.append(
                    f"node {node.index} ({node.address}) exited with code {process.returncode}: "
                    f"{_tail(node.log_path)} (full log: {node.log_path})"
                )
        return found

    def __enter__(self) -> Devnet:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    # -- steps -----------------------------------------------------------------------------------------------------

    def _up(self) -> DevnetInfo:
        self.on_step("Starting anvil")
        anvil = self._anvil = Anvil.start()
        accounts = anvil.accounts
        node_accounts = accounts[DEPLOYER + 1 : DEPLOYER + 1 + self.node_count]
        self._reset_state_dir()

        self.on_step("Deploying the contracts")
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer = accounts[DEPLOYER]
        deployment = deploy(TxSender(w3, Account.from_key(deployer.private_key), decoder))
        deployment_file = save_deployment(deployment, self.deployment_file or deployment_path(deployment.chain_id))

        self.on_step("Building the demo models")
        built = build_demo_models(self.state_dir / "models")

        self.on_step("Registering the demo models")
        owner = Client(anvil.rpc_url, deployer.private_key, deployment, cache_dir=self.state_dir / "cache")
        modes = [Mode.SINGLE, Mode.CONSENSUS]
        models = tuple(
            DevnetModel(
                m.name,
                owner.register_model(
                    m.path, m.path.as_uri(), MODEL_PRICE, modes, scale=m.scale, scales=m.scales, labels=m.labels
                ),
                m.path,
                m.path.as_uri(),
            )
            for m in built
        )

        self.on_step("Preparing the ZK credit model (circuit, keys, verifier; INSECURE local SRS)")
        models = (*models, self._zk_model(owner))
        self.on_step("Training and registering the text models (a language-model bundle, a spam classifier)")
        models = (*models, *self._text_models(owner))

        nodes = []
        env_hash = environment_hash(RunnerConfig().intra_op_threads, RunnerConfig().graph_optimization_level)
        for index, account in enumerate(node_accounts, start=1):
            self.on_step(f"Registering node {index} ({account.address})")
            operator = Operator(System.bind(TxSender(w3, Account.from_key(account.private_key), decoder), deployment))
            operator.register(env_hash, [m.model_id for m in models], NODE_STAKE, local_arithmetic_class())
            home = self.state_dir / "nodes" / str(index)
            port = free_port()
            config = write_node_config(
                home / "node.toml",
                anvil.rpc_url,
                deployment.chain_id,
                deployment_file,
                account.private_key,
                port,
                zk_dir=self.state_dir / "zk",
                watchtower=self.watchtower,
            )
            nodes.append(DevnetNode(index, account, config, port, home / "node.log"))

        started = []
        for node in nodes:
            self.on_step(f"Starting node {node.index}")
            started.append(self._start_node(node))

        explorer_url = None
        if self.explorer:
            self.on_step("Starting the explorer")
            explorer_url = self._start_explorer(anvil.rpc_url, deployment_file)

        info = DevnetInfo(
            rpc_url=anvil.rpc_url,
            chain_id=deployment.chain_id,
            anvil_pid=anvil.pid,
            state_dir=self.state_dir,
            deployment=deployment,
            deployment_file=deployment_file,
            deployer=deployer,
            user=accounts[DEPLOYER + 1 + self.node_count],
            models=models,
            nodes=tuple(started),
            spare=tuple(accounts[DEPLOYER + 2 + self.node_count :]),
            explorer_url=explorer_url,
            explorer_pid=None if self._explorer is None else self._explorer.pid,
        )
        (self.state_dir / "devnet.json").write_text(json.dumps(info.to_json(), indent=2) + "\n")
        return info

    def _start_explorer(self, rpc_url: str, deployment_file: Path) -> str:
        port = free_port()
        log_path = self.state_dir / "explorer.log"
        command = explorer_command(rpc_url, deployment_file, port, self.state_dir / "models")
        with log_path.open("ab") as log:
            self._explorer = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}/"
        _wait_answers(self._explorer, url + "healthz", "the explorer", log_path, self.node_ready_timeout)
        return url

    def _text_models(self, owner: Client) -> tuple[DevnetModel, ...]:
        """The demo language model (a bundle, docs/text.md) and the proposal-spam classifier, both by file URI."""
        import onnx  # the text models' builders train with numpy and scikit-learn: only when the devnet comes up

        from verinfer.demo import text_classifier, text_model

        root = self.state_dir / "models"
        bundle = root / "zen_lm"
        text_model.write_bundle(bundle, text_model.train())
        spam = root / "proposal_spam.onnx"
        onnx.save(text_classifier.build_graph(text_classifier.train()), spam)
        modes = [Mode.SINGLE, Mode.CONSENSUS]
        lm_uri = bundle.as_uri()  # a bundle's base: its files are fetched under it
        lm_id = owner.register_text_model(bundle, lm_uri, MODEL_PRICE, modes, max_input_bytes=256)
        spam_id = owner.register_text_model(spam, spam.as_uri(), MODEL_PRICE, modes, max_input_bytes=512)
        return DevnetModel("zen_lm", lm_id, bundle, lm_uri), DevnetModel("proposal_spam", spam_id, spam, spam.as_uri())

    def _zk_model(self, owner: Client) -> DevnetModel:
        """The credit model in ZK form: prepared (circuit, keys and verifier under `<state>/zk`, with a local
        INSECURE SRS: a devnet's), its verifier deployed, registered for ZK only."""
        from verinfer.zk import prepare, register_prepared  # ezkl is heavy; only here

        built = build_credit_zk_model(self.state_dir / "models")
        artifacts = prepare(built.path, built.samples, cache_dir=self.state_dir / "zk")
        registered = register_prepared(owner, artifacts, uri=built.path.as_uri(), price=MODEL_PRICE)
        return DevnetModel(built.name, registered.model_id, built.path, built.path.as_uri())

    def _reset_state_dir(self) -> None:
        """Removes what an earlier devnet left (its journals belong to a chain that no longer exists)."""
        for stale in ("nodes", "models", "cache", "zk"):
            shutil.rmtree(self.state_dir / stale, ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def _start_node(self, node: DevnetNode) -> DevnetNode:
        with node.log_path.open("ab") as log:
            process = subprocess.Popen(
                list(self.node_command(node.config_path)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: down() stops it and every child it started
            )
        self._processes.append(process)
        _wait_healthy(process, node, self.node_ready_timeout)
        return DevnetNode(node.index, node.account, node.config_path, node.metrics_port, node.log_path, process.pid)


def _wait_healthy(process: subprocess.Popen[bytes], node: DevnetNode, timeout: float) -> None:
    url = f"http://127.0.0.1:{node.metrics_port}/healthz"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NodeExitedError(
                    f"node {node.index} exited with code {process.returncode} before it was ready: "
                    f"{_tail(node.log_path)} (full log: {node.log_path})"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.1)
    raise DevnetError(f"node {node.index} did not answer {url} within {timeout:.0f}s; see its log {node.log_path}")


def _wait_answers(process: subprocess.Popen[bytes], url: str, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DevnetError(
                    f"{what} exited with code {process.returncode} before it was ready: {_tail(log)} (full log: {log})"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.1)
    raise DevnetError(f"{what} did not answer {url} within {timeout:.0f}s; see its log {log}")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's whole group; SIGKILL to whatever of the group is left after `STOP_TIMEOUT`."""
    pgid = process.pid  # start_new_session made the process its group's leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _group_alive(process, pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
            return
        time.sleep(0.05)


def _group_alive(process: subprocess.Popen[bytes], pgid: int) -> bool:
    process.poll()  # reap the leader once it exits: a zombie would still count as a member of the group
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
