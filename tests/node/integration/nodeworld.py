"""A fresh anvil with the system deployed, the demo credit model registered and configs for node accounts: what
the node-service tests share. Each world owns its anvil, so a test may mine, reorg or kill freely."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import DeployConfig, deploy, save_deployment
from verinfer.chain.events import DecodedLog, EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.config import NodeConfig
from verinfer.demo.models import DemoModel, build_credit_model
from verinfer.errors import ChainError, ModelError
from verinfer.inference import codec
from verinfer.node.ports import Model
from verinfer.node.service import NodeService
from verinfer.sdk import Client
from verinfer.sdk.bulk import BulkRequests, request_many
from verinfer.types import HubParams, Mode, Status

PRICE = 10**15
SCALE = 1_000_000
DEPLOYER, USER = 0, 2
NODE_ACCOUNTS = (1, 3, 4, 5, 6)
NUDGE_AFTER_S = 20.0  # a request batch not mined by then gets one block mined on demand (World.ids_of)


@dataclass
class NodeWorld:
    anvil: Anvil
    w3: Web3
    owner: System
    client: Client
    model: DemoModel
    model_id: bytes
    deployment_file: Path
    work: Path

    def config(self, node: int = 0, **overrides: Any) -> NodeConfig:
        """The config of node number `node` (an anvil account of its own, a journal and cache of its own)."""
        account = self.anvil.accounts[NODE_ACCOUNTS[node]]
        values: dict[str, Any] = {
            "rpc_url": self.anvil.rpc_url,
            "deployment_file": self.deployment_file,
            "keys": {"private_key": account.private_key},
            "journal_path": self.work / f"node{node}" / "journal.sqlite",
            "model_cache_dir": self.work / f"node{node}" / "models",
            "confirmations": 0,
            "poll_interval_s": 0.1,
            "metrics": {"port": 0},
            "tx": {"stuck_after_s": 5.0},
        }
        values.update(overrides)
        return NodeConfig(**values)

    def config_file(self, node: int = 0, **overrides: Any) -> Path:
        """`config(node, ...)` written as the node.toml an operator would write."""
        cfg = self.config(node, **overrides)
        data = cfg.model_dump(mode="json", exclude_none=True)
        data["keys"] = {"private_key": self.anvil.accounts[NODE_ACCOUNTS[node]].private_key}
        data["modes"] = [Mode(m).name for m in cfg.modes]
        path = self.work / f"node{node}.toml"
        path.write_text(_toml(data))
        return path

    def node_address(self, node: int = 0) -> str:
        return str(Account.from_key(self.anvil.accounts[NODE_ACCOUNTS[node]].private_key).address)

    def rows(self, n: int, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [
            self.model.samples[i % len(self.model.samples)] + rng.normal(0, 0.1, self.model.samples.shape[1])
            for i in range(n)
        ]

    def request(self, n: int, mode: Mode = Mode.SINGLE, redundancy: int = 1, seed: int = 0) -> list[int]:
        sent = request_many(self.client, self.model_id, self.rows(n, seed), mode=mode, redundancy=redundancy)
        return self.ids_of(sent)

    def ids_of(self, sent: BulkRequests) -> list[int]:
        """The request ids of `sent` once mined. anvil's automine can leave a ready transaction out of the block it
        mines (foundry-rs/foundry#10122: seen here once in a few CI runs, a request of a batch never mined while
        nothing else arrived): after a wait, one block mined on demand takes it."""
        try:
            return sent.request_ids(self.client, timeout=NUDGE_AFTER_S)
        except ChainError:
            self.rpc("evm_mine", [])
            return sent.request_ids(self.client)

    def statuses(self, ids: Sequence[int]) -> dict[int, Status]:
        return {rid: self.owner.status_of(rid) for rid in ids}

    def wait_final(self, ids: Sequence[int], timeout: float = 60.0) -> dict[int, Status]:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            pending = {rid for rid in pending if self.owner.status_of(rid) == Status.PENDING}
            if pending:
                time.sleep(0.2)
        return self.statuses(ids)

    def hub_events(self, name: str, from_block: int = 0) -> list[DecodedLog]:
        return EventCodec.from_abi(self.owner.hub.abi, name).decode_all(self.owner.hub_logs(from_block))

    def rpc(self, method: str, params: list[Any]) -> Any:
        return self.w3.provider.make_request(RPCEndpoint(method), params)

    def travel(self, seconds: int) -> int:
        """Moves anvil's clock `seconds` on and mines a block there (a challenge window passes without sleeping
        through it); returns the new block's timestamp."""
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def sender(self, account: int) -> TxSender:
        """A sender for anvil's account number `account`."""
        return TxSender(self.w3, Account.from_key(self.anvil.accounts[account].private_key), RevertDecoder.for_system())

    def lending_pool(self, funds: int = 10 * 10**18) -> Contract:
        """The example LendingPool (its callback waits for final results) on the world's credit model, funded by the
        user, who applies through `apply`."""
        user = self.sender(USER)
        pool, _ = user.deploy(
            load_artifact("LendingPool"), self.owner.deployment.hub.address, self.model_id, SCALE // 2, 1
        )
        user.transfer(pool.address, funds)
        return pool

    def apply(self, pool: Contract, n: int, seed: int = 0) -> list[int]:
        """`n` loan applications from the user (one transaction each); returns their request ids."""
        user = self.sender(USER)
        bound = user.bind(load_artifact("LendingPool"), pool.address)
        requested = EventCodec.from_abi(self.owner.hub.abi, "InferenceRequested")
        ids = []
        for row in self.rows(n, seed):
            features = codec.quantize(row, SCALE).tolist()
            receipt = user.send(bound.functions.applyForLoan(features, 10**15), value=PRICE)
            ids += [
                int(e.args["requestId"])
                for e in requested.decode_all([lg for lg in receipt["logs"] if requested.matches(lg)])
            ]
        return ids

    def wait_status(self, ids: Sequence[int], wanted: Status, timeout: float = 60.0) -> dict[int, Status]:
        """Waits until every request in `ids` has status `wanted` (or `timeout`); returns their statuses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses(ids)
            if all(status == wanted for status in statuses.values()):
                return statuses
            time.sleep(0.2)
        return self.statuses(ids)


@dataclass(frozen=True)
class Tally:
    """What the chain's logs say about a set of requests: how many were sent, final with exactly one result, lost
    (still pending, or expired without one) and delivered more than once."""

    scenario: str
    sent: int
    final_once: int
    lost: int
    twice: int

    def line(self) -> str:
        return f"TALLY | {self.scenario} | {self.sent} | {self.final_once} | {self.lost} | {self.twice} |"


def tally(world: NodeWorld, scenario: str, ids: Sequence[int], from_block: int = 0) -> Tally:
    """Counts `ids` from the hub's logs (ResultSubmitted, ConsensusReached) and statuses; prints the table row."""
    delivered = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted", from_block))
    delivered.update(e.args["requestId"] for e in world.hub_events("ConsensusReached", from_block))
    statuses = world.statuses(ids)
    once = sum(1 for rid in ids if delivered[rid] == 1 and statuses[rid] == Status.FULFILLED)
    lost = sum(1 for rid in ids if delivered[rid] == 0)
    twice = sum(1 for rid in ids if delivered[rid] > 1)
    result = Tally(scenario, len(ids), once, lost, twice)
    print(result.line())
    return result


@contextmanager
def node_world(
    work: Path,
    *,
    anvil_args: tuple[str, ...] = (),
    hub_params: HubParams | None = None,
    chain: AbstractContextManager[Any] | None = None,
) -> Iterator[NodeWorld]:
    """`chain`: another devnet to use instead of a fresh anvil (with `rpc_url` and anvil's `accounts`)."""
    with chain if chain is not None else Anvil.start(extra_args=anvil_args) as anvil:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer = TxSender(w3, Account.from_key(anvil.accounts[DEPLOYER].private_key), decoder)
        deployment = deploy(deployer, DeployConfig(hub_params=hub_params) if hub_params else None)
        path = save_deployment(deployment, work / "deployment.json")
        model = build_credit_model(work / "models")
        client = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment, cache_dir=work / "client")
        model_id = client.register_model(
            model.path, model.path.as_uri(), PRICE, [Mode.SINGLE, Mode.CONSENSUS], scale=SCALE
        )
        yield NodeWorld(anvil, w3, System.bind(deployer, deployment), client, model, model_id, path, work)


@contextmanager
def running(service: NodeService, after_setup: Callable[[NodeService], None] | None = None) -> Iterator[NodeService]:
    """A set-up service ticking on a thread until the block exits."""
    service.setup()
    # Tickets go to stakes older than the request, and anvil may mine the next block in the registration's second:
    # requests made right after a fresh registration would hold no ticket for this node.
    time.sleep(1.1)
    if after_setup is not None:
        after_setup(service)
    thread = threading.Thread(target=service.run, name="node", daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(timeout=30)
        service.close()


class LyingModel:
    """A test double: the real model's outputs with the first value changed (what a lazy or malicious node posts)."""

    def __init__(self, honest: Model) -> None:
        self.honest = honest

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        lies: list[bytes | ModelError] = []
        for out in self.honest.compute(inputs):
            if isinstance(out, bytes):
                values = codec.decode_ints(out)
                values[0] += 12_345
                out = codec.encode_ints(values)
            lies.append(out)
        return lies


def lie(service: NodeService) -> None:
    assert service.journal is not None
    catalog = service.catalog
    assert catalog is not None
    real_get = catalog.get
    catalog.get = lambda model_id: LyingModel(real_get(model_id))  # type: ignore[method-assign,assignment,return-value]


def _toml(data: dict[str, Any]) -> str:
    """A flat-enough TOML writer for node configs (scalars, lists of scalars, one level of sections)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    top = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    sections = [
        f"\n[{k}]\n" + "\n".join(f"{kk} = {value(vv)}" for kk, vv in v.items())
        for k, v in data.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(sections) + "\n"
