"""What a node operator does on chain: register with a stake and an environment hash, add stake, declare the models
served, unbond, withdraw, and read where the node stands.

    operator = Operator.from_config(load_config(Path("node.toml")))
    operator.register(environment_hash(), operator.registered_models(), stake=2 * 10**18)
    operator.status().eligibility          # {model id: Eligibility.ELIGIBLE, ...}
    operator.begin_unbonding(); ...; operator.withdraw()

Every write is one transaction from the operator's account; a revert surfaces as the registry's named error
(`UnbondingNotOver(node=0x…, unbondingEndsAt=…, nowTimestamp=…)`), decoded by the `TxSender`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from web3.types import TxReceipt

from verinfer.chain.deploy import load_deployment
from verinfer.chain.events import EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect, rpc
from verinfer.errors import ChainError, ConfigError
from verinfer.keys import load_account
from verinfer.types import Eligibility, ModelId, arithmetic_class_id

if TYPE_CHECKING:
    from verinfer.config import NodeConfig

# ---------------------------------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------------------------------


def environment_manifest(intra_op_threads: int = 1, graph_optimization_level: str = "basic") -> dict[str, Any]:
    """This machine's environment manifest for a runner with these settings (see `verinfer.inference.manifest`)."""
    from verinfer.inference import manifest  # onnxruntime: only the environment needs it, not the registry reads

    return manifest.environment_manifest(intra_op_threads, graph_optimization_level)


def environment_hash(intra_op_threads: int = 1, graph_optimization_level: str = "basic") -> bytes:
    """The environment hash a node with these runner settings posts on chain: keccak of its canonical manifest."""
    from verinfer.inference import manifest

    return manifest.manifest_hash(environment_manifest(intra_op_threads, graph_optimization_level))


def local_arithmetic_class(stated: str | int = "auto") -> int:
    """The arithmetic class to state on chain: `stated` (a name or number, `ARITHMETIC_CLASSES`), or with "auto"
    this machine's (its ISA and whether onnxruntime's CPU kernels fuse multiply-adds)."""
    if stated != "auto":
        return arithmetic_class_id(stated)
    from verinfer.inference.runner import arithmetic_class

    return arithmetic_class()


# ---------------------------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeStatus:
    """A node's bond as the registry holds it, read in one block."""

    address: ChecksumAddress
    registered: bool
    stake: int
    min_stake: int
    env_hash: bytes
    """The published environment hash (zero when not registered)."""
    unbonding_ends_at: int
    """Unix seconds when the stake can be withdrawn; 0 while active."""
    open_commitments: int
    """Consensus rounds joined and not yet settled; the stake stays locked until they are."""
    unbonding_delay: int
    block_timestamp: int
    eligibility: Mapping[ModelId, Eligibility] = field(default_factory=dict)

    @property
    def staked(self) -> bool:
        """Registered with at least the minimum stake (the condition for being paid)."""
        return self.registered and self.stake >= self.min_stake

    @property
    def unbonding(self) -> bool:
        return self.registered and self.unbonding_ends_at != 0

    @property
    def withdrawable(self) -> bool:
        """`withdraw()` would succeed now (in the block read)."""
        return self.unbonding and self.block_timestamp >= self.unbonding_ends_at and self.open_commitments == 0

    @property
    def state(self) -> str:
        """One word: not-registered, active, unbonding or withdrawable."""
        if not self.registered:
            return "not-registered"
        if not self.unbonding:
            return "active"
        return "withdrawable" if self.withdrawable else "unbonding"


# ---------------------------------------------------------------------------------------------------------------------
# Operator
# ---------------------------------------------------------------------------------------------------------------------


def _ids(model_ids: Iterable[bytes]) -> list[bytes]:
    ids = [bytes(model_id) for model_id in model_ids]
    for model_id in ids:
        if len(model_id) != 32:
            raise ConfigError(f"a model id is 32 bytes (keccak256 of the ONNX file), got 0x{model_id.hex()}")
    return ids


def _wei(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} is an amount of wei: a non-negative integer, got {value!r}")


class Operator:
    """One operator account acting on the node registry of one deployment."""

    def __init__(self, system: System) -> None:
        self.system = system

    @classmethod
    def from_config(cls, config: NodeConfig) -> Operator:
        """The operator a node config describes: its RPC endpoint, key and deployment file (default
        `deployments/<chainId>.json`), with the chain id checked against `chain_id` when the config sets one."""
        w3 = connect(config.rpc_url)
        chain_id = int(rpc(lambda: w3.eth.chain_id, "read chain id"))
        if config.chain_id is not None and config.chain_id != chain_id:
            raise ConfigError(
                f"chain_id = {config.chain_id} but {config.rpc_url} is chain {chain_id}: fix rpc_url or chain_id"
            )
        deployment = load_deployment(chain_id, config.deployment_file)
        sender = TxSender(w3, load_account(config.keys, chain_id), RevertDecoder.for_system())
        return cls(System.bind(sender, deployment))

    @property
    def address(self) -> ChecksumAddress:
        return self.system.sender.address

    # -- writes ----------------------------------------------------------------------------------------------------

    def register(
        self, env_hash: bytes, model_ids: Iterable[bytes], stake: int | None = None, arithmetic_class: int = 0
    ) -> TxReceipt:
        """Registers this account with `stake` wei (default: the registry's minimum), its environment hash, its
        arithmetic class (`verinfer.types.ARITHMETIC_CLASSES`; 0 = unstated) and the models it serves from the
        start."""
        if stake is None:
            stake = self.min_stake()
        _wei("stake", stake)
        return self.system.register_node(bytes(env_hash), _ids(model_ids), stake, arithmetic_class_id(arithmetic_class))

    def add_stake(self, amount: int) -> TxReceipt:
        """Adds `amount` wei to the stake (e.g. to climb back above the minimum after a slash)."""
        _wei("amount", amount)
        return self.system.sender.send(self.system.nodes.functions.addStake(), value=amount)

    def update_environment(self, env_hash: bytes, arithmetic_class: int | None = None) -> TxReceipt:
        """Publishes a new environment hash (after an onnxruntime upgrade, a new CPU, other thread settings) and
        arithmetic class (None: keep the one stated)."""
        nodes = self.system.nodes.functions
        if arithmetic_class is None:
            arithmetic_class = int(self.system.sender.call(nodes.arithmeticClassOf(self.address)))
        return self.system.sender.send(nodes.updateEnvironment(bytes(env_hash), arithmetic_class_id(arithmetic_class)))

    def arithmetic_class(self, node: str | None = None) -> int:
        """The arithmetic class `node` (default: this account) states on chain."""
        return int(self.system.sender.call(self.system.nodes.functions.arithmeticClassOf(node or self.address)))

    def set_models(self, model_ids: Iterable[bytes], serving: bool = True) -> TxReceipt:
        """Declares (`serving`) or withdraws (not `serving`) service of `model_ids`."""
        return self.system.sender.send(self.system.nodes.functions.setModels(_ids(model_ids), serving))

    def begin_unbonding(self) -> int:
        """Starts the unbonding delay (the node takes no new work from now on; cannot be undone). Returns the unix
        time from which `withdraw()` succeeds."""
        receipt = self.system.sender.send(self.system.nodes.functions.beginUnbonding())
        (started,) = self._events(receipt, "UnbondingStarted")
        return int(started["unbondingEndsAt"])

    def withdraw(self, to: str | None = None) -> int:
        """After the unbonding delay, pays the whole stake to `to` (default: this account) and deregisters the node.
        Returns the amount paid, in wei."""
        if to is not None and not is_address(to):
            raise ConfigError(f"withdraw to: {to!r} is not an address (0x + 40 hex digits)")
        recipient = to_checksum_address(to) if to is not None else self.address
        receipt = self.system.sender.send(self.system.nodes.functions.withdrawStake(recipient))
        (withdrawn,) = self._events(receipt, "StakeWithdrawn")
        return int(withdrawn["amount"])

    def _events(self, receipt: TxReceipt, name: str) -> list[Mapping[str, Any]]:
        nodes = self.system.nodes
        logs = [log for log in receipt["logs"] if log["address"] == nodes.address]
        decoded = EventCodec.from_abi(nodes.abi, name).decode_all(logs)
        if not decoded:
            raise ChainError(f"transaction {receipt['transactionHash'].to_0x_hex()} emitted no {name}")
        return [log.args for log in decoded]

    # -- reads -----------------------------------------------------------------------------------------------------

    def min_stake(self) -> int:
        return int(self.system.sender.call(self.system.nodes.functions.minStake()))

    def registered_models(self) -> list[ModelId]:
        """Every model id in the model registry, in registration order."""
        models = self.system.models.functions
        count = int(self.system.sender.call(models.modelCount()))
        return [ModelId(bytes(self.system.sender.call(models.modelIdAt(i)))) for i in range(count)]

    def status(self, model_ids: Sequence[bytes] = (), node: str | None = None) -> NodeStatus:
        """The bond of `node` (default: this account) and its eligibility for each of `model_ids`, all read at
        the same block."""
        if node is not None and not is_address(node):
            raise ConfigError(f"node: {node!r} is not an address (0x + 40 hex digits)")
        address = to_checksum_address(node) if node is not None else self.address
        sender, nodes = self.system.sender, self.system.nodes.functions
        block = rpc(lambda: sender.w3.eth.get_block("latest"), "read latest block")
        number = block["number"]

        def read(fn: Any) -> Any:
            return rpc(lambda: fn.call(block_identifier=number), f"call {fn.fn_name}")

        stake, unbonding_ends_at, open_commitments, registered, _grew_at, _counted = read(nodes.nodeInfo(address))
        eligibility = {
            ModelId(model_id): Eligibility(read(nodes.eligibility(address, model_id))[0])
            for model_id in _ids(model_ids)
        }
        return NodeStatus(
            address=address,
            registered=bool(registered),
            stake=int(stake),
            min_stake=int(read(nodes.minStake())),
            env_hash=bytes(read(nodes.environmentOf(address))),
            unbonding_ends_at=int(unbonding_ends_at),
            open_commitments=int(open_commitments),
            unbonding_delay=int(read(nodes.unbondingDelay())),
            block_timestamp=int(block["timestamp"]),
            eligibility=eligibility,
        )
