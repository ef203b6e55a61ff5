"""Values that cross module lines: ids, enums and frozen records mirroring the contracts' structs.

Field order in every record mirrors its Solidity struct, so `as_abi()` is the ABI tuple in declaration order.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NewType, cast

if TYPE_CHECKING:  # annotations only: this module loads no third-party code, so the CLI can read its defaults fast
    from eth_typing import ChecksumAddress

RequestId = NewType("RequestId", int)
"""A request's id on the hub (ids start at 1; 0 means absent)."""

ModelId = NewType("ModelId", bytes)
"""keccak256 of a model's ONNX file bytes (32 bytes)."""


@functools.lru_cache(maxsize=16_384)
def checksum(address: str | bytes) -> ChecksumAddress:
    """`to_checksum_address`, cached: it hashes with keccak each time, and a node sees the same few addresses (hub,
    requesters, nodes) in every log it decodes."""
    from eth_utils.address import to_checksum_address

    return to_checksum_address(address)


ZERO_ADDRESS = cast("ChecksumAddress", "0x" + "00" * 20)  # no letters, so its checksum spelling is itself
ETHER = 10**18
PRODUCTION_TIMELOCK_DELAY = 2 * 86_400
CALLBACK_ON_FINAL = 1 << 31
"""Set in a request's `callbackGasLimit` to have its callback wait until the SINGLE result is final (the hub's
`CALLBACK_ON_FINAL`); the low 31 bits are the gas."""
DISPUTE_SEATS = 3
"""Seats of a dispute committee (`Disputes.SEATS`)."""
ESCALATION_SEATS = 7
"""Seats of the committee a dispute escalates to when the first has no majority (`Disputes.ESCALATION_SEATS`)."""


LENGTH_UP_TO = 1 << 31
"""Set in a size word (`ModelTerms.input_bytes` / `output_bytes`, `RequestParams.output_bytes`) of a variable-length
side: its payload is raw bytes of any length up to the low 31 bits (IModelRegistry.sol)."""
FORMAT_VARIABLE_INPUT = 1
FORMAT_VARIABLE_OUTPUT = 2
FORMAT_BUNDLE = 4
"""`ModelSpec.format` bits: a variable-length input / output (its shape is [max bytes]); a bundle (the id is a bundle
manifest's keccak256, `uri` the base URI of its files; docs/text.md)."""


def max_length(size_word: int) -> int:
    """The byte length a size word allows: exactly it, or at most its low bits with `LENGTH_UP_TO`."""
    return size_word & ~LENGTH_UP_TO


def callback_gas(callback_gas_limit: int) -> int:
    """The gas of a request's callback: its `callbackGasLimit` without the `CALLBACK_ON_FINAL` flag."""
    return callback_gas_limit & ~CALLBACK_ON_FINAL


"""The shortest timelock delay the Timelock contract accepts outside devnets (2 days)."""
DEVNET_TIMELOCK_DELAY = 5
"""The timelock delay a devnet deployment gets by default, in seconds: short, but still two transactions apart."""

MAX_MODEL_BYTES = 512 * 2**20
"""The largest model file the node fetches and `verify` re-runs by default (512 MiB); `max_model_bytes` in the node's
config and `verinfer verify --max-model-bytes` change it."""
MAX_TENSOR_BYTES = 65_536
"""The largest encoded input or output tensor the registry accepts (`MAX_TENSOR_BYTES` in ModelRegistry.sol)."""
MAX_TENSOR_VALUES = MAX_TENSOR_BYTES // 8
"""The most values in one tensor: 8 bytes each on the wire (`TensorCodec.ELEMENT_BYTES`)."""
MAX_TENSOR_RANK = 8
"""The most dimensions a registered shape may have (`MAX_RANK` in ModelRegistry.sol)."""

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1


class Mode(enum.IntEnum):
    """How a result is shown to be correct (`Mode` in IModelRegistry.sol)."""

    SINGLE = 0
    CONSENSUS = 1
    ZK = 2

    @staticmethod
    def mask(modes: Iterable[Mode]) -> int:
        """The registry's bitmask of allowed modes: bit i set for Mode(i)."""
        bits = 0
        for mode in modes:
            bits |= 1 << int(mode)
        return bits


class Status(enum.IntEnum):
    """Where a request stands (`Status` in IInferenceHub.sol)."""

    NONE = 0
    PENDING = 1
    FULFILLED = 2
    NO_CONSENSUS = 3
    REFUNDED = 4
    CONFIRMED = 5
    DISPUTED = 6
    OVERTURNED = 7


class Eligibility(enum.IntEnum):
    """Why a node may or may not take work (`Eligibility` in INodeRegistry.sol)."""

    ELIGIBLE = 0
    NOT_REGISTERED = 1
    STAKE_BELOW_MINIMUM = 2
    UNBONDING = 3
    MODEL_NOT_SERVED = 4
    STAKE_BELOW_MODEL_RISK = 5


class SkipReason(enum.IntEnum):
    """Why a batch item was skipped (`SkipReason` in IInferenceHub.sol)."""

    NOT_PENDING = 0
    EXPIRED = 1


class CallbackFailure(enum.IntEnum):
    """Why a consumer callback did not complete (`CallbackFailure` in IInferenceHub.sol)."""

    NO_CODE = 0
    REVERTED = 1


class DisputeState(enum.IntEnum):
    """Where a challenge of a SINGLE result stands (`DisputeState` in IDisputes.sol)."""

    NONE = 0
    OPEN = 1
    UPHELD = 2
    OVERTURNED = 3
    VOID = 4


ENUMS: dict[str, type[enum.IntEnum]] = {
    cls.__name__: cls for cls in (Mode, Status, Eligibility, SkipReason, CallbackFailure, DisputeState)
}
"""Solidity enum name -> Python twin, for decoding ABI values whose internalType is `enum <Name>`."""


def _bytes32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def _bounded(name: str, value: int, maximum: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value!r}")
    return value


@dataclass(frozen=True)
class RequestParams:
    """The parameters of a request (`RequestParams` in IInferenceHub.sol). The hub stores only their hash."""

    model_id: ModelId
    input_hash: bytes
    requester: ChecksumAddress
    fee: int
    deadline: int
    callback_gas_limit: int
    output_bytes: int
    mode: Mode
    redundancy: int
    env_restricted: bool
    lottery: int
    """The request's lottery word: seed, request time, serving stake (gwei) and ticket delay
    (`verinfer.chain.lottery.Lottery` reads it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_id", ModelId(_bytes32("model_id", self.model_id)))
        object.__setattr__(self, "input_hash", _bytes32("input_hash", self.input_hash))
        object.__setattr__(self, "requester", checksum(self.requester))
        if self.mode not in Mode._value2member_map_:
            raise ValueError(f"mode must be one of {[m.value for m in Mode]}, got {self.mode!r}")
        object.__setattr__(self, "mode", Mode(self.mode))
        _bounded("fee", self.fee, 2**256 - 1)
        _bounded("deadline", self.deadline, UINT64_MAX)
        _bounded("callback_gas_limit", self.callback_gas_limit, UINT32_MAX)
        _bounded("output_bytes", self.output_bytes, UINT32_MAX)
        _bounded("redundancy", self.redundancy, 255)
        _bounded("lottery", self.lottery, 2**256 - 1)

    def as_abi(self) -> tuple[Any, ...]:
        """The struct as an ABI tuple, in Solidity field order."""
        return (
            self.model_id,
            self.input_hash,
            self.requester,
            self.fee,
            self.deadline,
            self.callback_gas_limit,
            self.output_bytes,
            int(self.mode),
            self.redundancy,
            self.env_restricted,
            self.lottery,
        )

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> RequestParams:
        """The inverse of `as_abi`."""
        (model_id, input_hash, requester, fee, deadline, cb_gas, output_bytes, mode, redundancy, env, lottery) = value
        return cls(
            ModelId(bytes(model_id)),
            bytes(input_hash),
            requester,
            fee,
            deadline,
            cb_gas,
            output_bytes,
            Mode(mode),
            redundancy,
            bool(env),
            int(lottery),
        )


@dataclass(frozen=True)
class HubParams:
    """The hub's tunable parameters (`HubParams` in IInferenceHub.sol). Defaults suit a devnet."""

    max_callback_gas: int = 2_000_000
    max_input_bytes: int = 65_536
    reveal_window: int = 60
    max_deadline_horizon: int = 86_400
    slash_bps: int = 1_000
    max_redundancy: int = 9
    ticket_delay: int = 2
    """Seconds per unit of lottery ticket: the primary's window opens after ~ticket_delay seconds on average, a
    dead primary's fallback within 8 * ticket_delay."""

    def as_abi(self) -> tuple[int, ...]:
        return (
            self.max_callback_gas,
            self.max_input_bytes,
            self.reveal_window,
            self.max_deadline_horizon,
            self.slash_bps,
            self.max_redundancy,
            self.ticket_delay,
        )

    @classmethod
    def from_abi(cls, value: Sequence[int]) -> HubParams:
        return cls(*(int(v) for v in value))


@dataclass(frozen=True)
class DeployConfig:
    """What to deploy the system with (`verinfer.chain.deploy.deploy`). Defaults suit a devnet. The deployer wires the
    contracts, then hands all three to a Timelock whose proposer is the deployer: every later owner action (hub
    parameters, minimum stake, mirrors) is scheduled and runs `timelock_delay` seconds later
    (`verinfer.chain.governance`)."""

    min_stake: int = 1 * ETHER
    unbonding_delay: int = 86_400
    hub_params: HubParams = field(default_factory=HubParams)
    dispute_min_bond: int = ETHER // 100
    """The smallest bond a challenge of a SINGLE result posts, whatever the fee (`Disputes.minBond`)."""
    timelock_delay: int | None = None
    """Seconds between scheduling an owner action and running it; None: `DEVNET_TIMELOCK_DELAY` on a devnet,
    `PRODUCTION_TIMELOCK_DELAY` (2 days, the contract's minimum there) elsewhere."""


@dataclass(frozen=True)
class ModelTerms:
    """What the hub needs to accept a request for a model (`ModelTerms` in IModelRegistry.sol)."""

    price: int
    input_bytes: int
    output_bytes: int
    modes: int
    deprecated: bool
    env_restricted: bool
    exists: bool
    scale: int
    """The fixed-point multiplier of the model's tensor encoding (also in its `ModelSpec`)."""

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> ModelTerms:
        price, input_bytes, output_bytes, modes, deprecated, env_restricted, exists, scale = value
        return cls(
            int(price),
            int(input_bytes),
            int(output_bytes),
            int(modes),
            bool(deprecated),
            bool(env_restricted),
            bool(exists),
            int(scale),
        )

    def allows(self, mode: Mode) -> bool:
        return bool(self.modes & (1 << int(mode)))


# Arithmetic classes (INodeRegistry.register): machines whose onnxruntime float results can differ from another
# class's. Measured: native onnxruntime 1.16-1.32 and onnxruntime-node agree bit for bit on x86-64 with FMA, while
# onnxruntime-web (WASM, no fused multiply-add) differs on 0.7-16 % of rows. A model entry names the classes that give
# its canonical outputs bit for bit (a bitmask: bit i = class i); 0 means any class.
ARITHMETIC_CLASSES: dict[int, str] = {
    0: "unstated",
    1: "x86_64-fma/onnxruntime-cpu",
    2: "x86_64-nofma/onnxruntime-cpu",
    3: "aarch64/onnxruntime-cpu",
    4: "wasm/onnxruntime-web",
}


def arithmetic_class_id(name: str | int) -> int:
    """The id of an arithmetic class given by name or number (`ARITHMETIC_CLASSES`)."""
    if isinstance(name, int) and not isinstance(name, bool):
        if not 0 <= name <= 31:
            raise ValueError(f"arithmetic class {name}: classes are 0..31")
        return name
    for number, known in ARITHMETIC_CLASSES.items():
        if str(name) in (known, str(number)):
            return number
    raise ValueError(f"unknown arithmetic class {name!r}: use one of {', '.join(ARITHMETIC_CLASSES.values())}")


def arithmetic_classes_mask(names: Iterable[str | int]) -> int:
    """The model entry's bitmask of the classes `names` (empty: 0, any class)."""
    mask = 0
    for name in names:
        mask |= 1 << arithmetic_class_id(name)
    return mask


# A model's own challenge window must lie within these bounds (ModelRegistry.MIN/MAX_CHALLENGE_WINDOW), seconds.
MIN_CHALLENGE_WINDOW = 10
MAX_CHALLENGE_WINDOW = 7 * 24 * 3600


@dataclass(frozen=True)
class ModelSpec:
    """Everything a model publisher declares at registration (`ModelSpec` in IModelRegistry.sol)."""

    uri: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    scale: int
    price: int
    modes: int
    allowed_environments: tuple[bytes, ...] = ()
    verifier: ChecksumAddress = ZERO_ADDRESS
    # Seconds a SINGLE result stays challengeable (0: the hub's window; a request takes the shorter of the two).
    challenge_window: int = 0
    # The most wei one result may move: the stake a node needs to serve the model, and loses at least if overturned.
    stake_at_risk: int = 0
    # Bit i = arithmetic class i may serve the model (ARITHMETIC_CLASSES); 0 = any class.
    arithmetic_classes: int = 0
    format: int = 0
    """`FORMAT_*` bits; 0: one ONNX file of fixed-size tensors."""
    card: bytes = b""
    """The model card (`verinfer.inference.card`): per-port scales, committed outputs, labels, limits; canonical
    JSON, empty for none."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "output_shape", tuple(self.output_shape))
        object.__setattr__(self, "allowed_environments", tuple(self.allowed_environments))
        _bounded("scale", self.scale, UINT64_MAX, minimum=1)
        _bounded("price", self.price, UINT96_MAX)
        _bounded("stake_at_risk", self.stake_at_risk, UINT96_MAX)
        _bounded("arithmetic_classes", self.arithmetic_classes, 2**32 - 1)
        window = self.challenge_window
        if window != 0 and not MIN_CHALLENGE_WINDOW <= window <= MAX_CHALLENGE_WINDOW:
            raise ValueError(
                f"challenge_window={window}: use 0 (the hub's window) or {MIN_CHALLENGE_WINDOW}.."
                f"{MAX_CHALLENGE_WINDOW} seconds (the registry's bounds)"
            )

    def as_abi(self) -> tuple[Any, ...]:
        return (
            self.uri,
            list(self.input_shape),
            list(self.output_shape),
            self.scale,
            self.price,
            self.modes,
            list(self.allowed_environments),
            self.challenge_window,
            self.stake_at_risk,
            self.arithmetic_classes,
            self.verifier,
            self.format,
            self.card,
        )

    @property
    def is_text(self) -> bool:
        """Whether a side is variable-length bytes (a text model: verinfer.text)."""
        return bool(self.format & (FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT))

    @property
    def is_bundle(self) -> bool:
        return bool(self.format & FORMAT_BUNDLE)


@dataclass(frozen=True)
class ModelProvenance:
    """Who published a model and what its ZK verifier is pinned to (`ModelProvenance` in IModelRegistry.sol), with the
    mirror URIs the registry's owner added. Pin the publisher (and, for ZK, the two hashes) a dApp trusts."""

    publisher: ChecksumAddress
    registered_at: int
    """Block number of the registration."""
    verifier_code_hash: bytes
    """`extcodehash` of the verifier at registration; zero without ZK."""
    vk_hash: bytes
    """keccak256 of the verifying key; zero without ZK."""
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployedContract:
    """Where one contract of a deployment lives."""

    address: ChecksumAddress
    block: int
    tx_hash: str


@dataclass(frozen=True)
class Deployment:
    """A deployed system: the three contracts, who deployed them, and the parameters they were deployed with."""

    chain_id: int
    deployer: ChecksumAddress
    model_registry: DeployedContract
    node_registry: DeployedContract
    hub: DeployedContract
    hub_params: HubParams
    min_stake: int
    unbonding_delay: int
    timelock: DeployedContract | None = None
    """The Timelock owning the three contracts (None in a deployment file written before it existed)."""
    timelock_delay: int = 0
    disputes: DeployedContract | None = None
    """The Disputes contract (None in a deployment file written before it existed)."""

    @property
    def start_block(self) -> int:
        """The first block holding any of the contracts: where an event scan starts."""
        return min(self.model_registry.block, self.node_registry.block, self.hub.block)
