"""The SDK's client: one account on one deployment. Registers models, requests inferences, and hands back a
`RequestHandle` whose `result()` waits for the answer and returns it decoded, with its provenance from the raw logs.

Raw private keys are accepted on devnets only (as `verinfer.keys.devnet_account` decides); a signer for real chains
comes later.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import FilterParams

from verinfer.chain import lottery
from verinfer.chain.deploy import load_deployment
from verinfer.chain.events import DecodedLog, EventCodec, InferenceRequested
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect, rpc
from verinfer.errors import ChainError, CodecError, ModelError
from verinfer.inference import codec, signature
from verinfer.inference.card import CardLimits, ModelCard, Ports, card_for
from verinfer.keys import devnet_account
from verinfer.types import (
    CALLBACK_ON_FINAL,
    FORMAT_VARIABLE_INPUT,
    FORMAT_VARIABLE_OUTPUT,
    MAX_MODEL_BYTES,
    Deployment,
    Mode,
    ModelId,
    ModelProvenance,
    ModelSpec,
    RequestId,
    RequestParams,
    Status,
)

if TYPE_CHECKING:
    from verinfer.inference.model_store import ModelInfo
    from verinfer.sdk.bulk import BulkRequests
    from verinfer.sdk.disputes import Dispute, Finality
    from verinfer.sdk.verify import VerificationReport

DEFAULT_CACHE = Path.home() / ".cache" / "verinfer" / "models"
MAX_POLL = 5.0
ENV_LOG_RANGE = "VERINFER_LOG_RANGE"
DEFAULT_LOG_RANGE = 2_000
FETCH_TIMEOUT = 30.0


class ResultTimeoutError(ChainError):
    """A request was not fulfilled within the time `result()` was given to wait."""

    def __init__(self, request_id: int, timeout: float, status: Status) -> None:
        self.request_id = request_id
        self.timeout = timeout
        self.status = status
        super().__init__(f"request {request_id} is still {status.name} after {timeout}s; call result() again to wait")


RESULT_STATUSES = frozenset({Status.FULFILLED, Status.CONFIRMED, Status.DISPUTED, Status.OVERTURNED})
"""The statuses of a request that holds a result: recorded (provisional for SINGLE until its window passes),
confirmed, under dispute (the provisional result stands until the dispute ends) or replaced by a dispute's."""


class RequestFailedError(ChainError):
    """A request ended without a result (no consensus, or its fee was reclaimed)."""

    def __init__(self, request_id: int, status: Status) -> None:
        self.request_id = request_id
        self.status = status
        super().__init__(f"request {request_id} ended {status.name}: it will never have a result")


def read_model(system: System, model_id: bytes) -> ModelSpec:
    """The model's registered spec (`ModelRegistry.getModel`)."""
    _owner, spec, _terms = system.sender.call(system.models.functions.getModel(model_id))
    uri, input_shape, output_shape, scale, price, modes, allowed, window, at_risk, classes, verifier, format_, card = (
        spec
    )
    return ModelSpec(
        uri=str(uri),
        input_shape=tuple(int(d) for d in input_shape),
        output_shape=tuple(int(d) for d in output_shape),
        scale=int(scale),
        price=int(price),
        modes=int(modes),
        allowed_environments=tuple(bytes(e) for e in allowed),
        verifier=to_checksum_address(verifier),
        challenge_window=int(window),
        stake_at_risk=int(at_risk),
        arithmetic_classes=int(classes),
        format=int(format_),
        card=bytes(card),
    )


def read_provenance(system: System, model_id: bytes) -> ModelProvenance:
    """The model's publisher, registration block, pinned verifier code hash and verifying-key hash, and mirrors."""
    publisher, registered_at, code_hash, vk_hash = system.sender.call(system.models.functions.provenanceOf(model_id))
    mirrors = system.sender.call(system.models.functions.mirrorsOf(model_id))
    return ModelProvenance(
        publisher=to_checksum_address(publisher),
        registered_at=int(registered_at),
        verifier_code_hash=bytes(code_hash),
        vk_hash=bytes(vk_hash),
        mirrors=tuple(str(m) for m in mirrors),
    )


def log_range() -> int:
    """Blocks per eth_getLogs call of the SDK and CLI: `VERINFER_LOG_RANGE`, default 2,000 (hosted providers cap a
    query's range, often at 1,000-10,000 blocks; the node's own setting is its config's `max_log_range`)."""
    raw = os.environ.get(ENV_LOG_RANGE, "")
    if not raw:
        return DEFAULT_LOG_RANGE
    try:
        blocks = int(raw)
    except ValueError:
        blocks = 0
    if blocks < 1:
        raise ValueError(f"{ENV_LOG_RANGE} must be a whole number of blocks >= 1, got {raw!r}: unset it or fix it")
    return blocks


def request_logs(
    system: System,
    event: str,
    request_id: int,
    from_block: int,
    *,
    first_only: bool = False,
    contract: Contract | None = None,
) -> list[DecodedLog]:
    """The hub's (or `contract`'s) `event` logs for `request_id` from `from_block` to the head (request ids are the
    first indexed topic), queried in ranges of `log_range()` blocks; with `first_only`, the scan stops at the first
    range that has one (a request has one InferenceRequested log)."""
    source = system.hub if contract is None else contract
    topic = "0x" + request_id.to_bytes(32, "big").hex()
    event_codec = EventCodec.from_abi(source.abi, event)
    w3 = system.sender.w3
    head = int(rpc(lambda: w3.eth.block_number, "read head block"))
    step = log_range()
    found: list[DecodedLog] = []
    for start in range(from_block, head + 1, step):
        end = min(start + step - 1, head)
        query: FilterParams = {
            "address": source.address,
            "fromBlock": start,
            "toBlock": end,
            "topics": ["0x" + event_codec.topic.hex(), topic],
        }
        logs = rpc(functools.partial(w3.eth.get_logs, query), f"eth_getLogs {event} {start}..{end}")
        found.extend(event_codec.decode_all(list(logs)))
        if first_only and found:
            break
    return found


def requested_log(system: System, request_id: int) -> DecodedLog:
    """Request `request_id`'s `InferenceRequested` log, searched from the hub's deployment block."""
    logs = request_logs(system, "InferenceRequested", request_id, system.deployment.hub.block, first_only=True)
    if not logs:
        raise ChainError(f"no request {request_id} on hub {system.hub.address}")
    return logs[0]


def request_params(system: System, request_id: int) -> tuple[InferenceRequested, RequestParams]:
    """Request `request_id` as its `InferenceRequested` event says, and its parameters as the hub hashed them."""
    event = InferenceRequested.from_log(requested_log(system, request_id))
    return event, event.params(system.terms_of(event.model_id))


def submitted_log(system: System, request_id: int, from_block: int) -> DecodedLog:
    """The `ResultSubmitted` log of a SINGLE (or ZK) request, searched from `from_block` (the request's)."""
    submitted = request_logs(system, "ResultSubmitted", request_id, from_block)
    if not submitted:
        raise ChainError(f"request {request_id} holds a result but has no ResultSubmitted log from block {from_block}")
    return submitted[0]


def contract_events(contract: Contract, receipt: Any, event: str) -> list[DecodedLog]:
    """`contract`'s `event` logs in a transaction's receipt, decoded."""
    return EventCodec.from_abi(contract.abi, event).decode_all(
        [log for log in receipt["logs"] if log["address"] == contract.address]
    )


def chain_now(w3: Web3) -> int:
    """Now, as the next block will see it: the latest block's timestamp, or the wall clock if that is later (on an
    idle chain without empty blocks the latest timestamp can be hours old, and a deadline counted from it would
    already have passed)."""
    latest = int(rpc(lambda: w3.eth.get_block("latest"), "read latest block")["timestamp"])
    return max(latest, int(time.time()))


@dataclass(frozen=True)
class InferenceResult:
    """A fulfilled request's output, decoded, and where it came from."""

    request_id: RequestId
    mode: Mode
    output: npt.NDArray[np.float64]
    output_bytes: bytes
    model_id: ModelId
    input_hash: bytes
    output_hash: bytes
    env_hashes: tuple[bytes, ...]
    nodes: tuple[ChecksumAddress, ...]
    commitment: bytes
    """The result commitment as the event carries it (`commitmentOf` returns its top 128 bits); for a result a
    dispute put in place, the one the hub recorded for it (of the first committee member that revealed it, or of the
    dispute contract for a proof)."""
    request_block: int
    result_block: int
    request_tx: bytes
    result_tx: bytes
    outputs: Mapping[str, npt.NDArray[Any]] | None = None
    """The committed outputs by name (floats as floats, integers as ints, bools as bools), when the entry's card
    lists the ports or the request was sent with named inputs; else `Client.outputs(result)` reads them."""
    labelled: Mapping[str, Any] | None = None
    """The outputs the entry's card labels, as labels: an integer output as its values' labels, a probabilities
    tensor as one {label: value} per row."""
    text: str | None = None
    """A language model's answer, decoded from `token_ids` by the node (None for a tensor output; `output` is
    then empty)."""
    token_ids: tuple[int, ...] | None = None
    """A language model's committed token ids, a final stop token included."""


@dataclass(frozen=True)
class Recorded:
    """Where a result stands on chain: the log that recorded it, its output, the environments and nodes its
    commitment binds, and that commitment."""

    log: DecodedLog
    output: bytes
    env_hashes: tuple[bytes, ...]
    nodes: tuple[ChecksumAddress, ...]
    commitment: bytes


@dataclass(frozen=True)
class Assignment:
    """A request's lottery: the serving nodes by ticket (the first is the primary) with the time each may act, and
    when every node may."""

    request_id: int
    requested_at: int
    windows: tuple[lottery.Window, ...]
    opens_to_all_at: int

    @property
    def primary(self) -> ChecksumAddress | None:
        return self.windows[0].node if self.windows else None


@dataclass(frozen=True)
class RequestHandle:
    """A request sent by a `Client`; `result()` waits for its answer."""

    system: System
    request_id: RequestId
    model_id: ModelId
    mode: Mode
    spec: ModelSpec
    block_number: int
    tx_hash: bytes
    info: Ports | None = None
    """The model's signature, when the request was encoded from it (named inputs, or the entry's card)."""

    def status(self) -> Status:
        return self.system.status_of(self.request_id)

    def result(self, timeout: float = 30.0, poll: float = 0.2) -> InferenceResult:
        """Waits until the request holds a result (at most `timeout` seconds) and returns it decoded: the recorded
        one (a SINGLE result may still be provisional or disputed: `Client.finality` says), or the one a dispute put
        in its place (OVERTURNED).

        Raises `ResultTimeoutError` if it is still pending then, `RequestFailedError` if it ended without a result.
        """
        if not timeout >= 0 or not poll > 0:
            raise ValueError(f"timeout must be >= 0 and poll > 0, got timeout={timeout!r}, poll={poll!r}")
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            status = self.status()
            if status in RESULT_STATUSES:
                return self._fetch(status)
            if status in (Status.NO_CONSENSUS, Status.REFUNDED):
                raise RequestFailedError(self.request_id, status)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ResultTimeoutError(self.request_id, timeout, status)
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, MAX_POLL)

    def assignment(self) -> Assignment:
        """Who the lottery assigned the request to (seat 0: the SINGLE or ZK primary, or a CONSENSUS round's first
        seat) and when each fallback's window opens, from the request's lottery word and the registry's serving nodes
        and stakes now (a stake slashed since the request only moves its node later)."""
        requested = request_logs(self.system, "InferenceRequested", self.request_id, self.block_number, first_only=True)
        if not requested:
            raise ChainError(f"no InferenceRequested log for request {self.request_id} from block {self.block_number}")
        draw = lottery.Lottery.unpack(int(requested[0].args["lottery"]))
        nodes = self.system.nodes.functions
        stakes: dict[ChecksumAddress, int] = {}
        for node in self.system.sender.call(nodes.servingNodesOf(self.model_id, 0, 256)):
            standing = self.system.sender.call(nodes.standing(node, self.model_id))
            if int(standing[2]) > 0 and int(standing[3]) < draw.requested_at:
                stakes[to_checksum_address(node)] = int(standing[2])
        windows = tuple(lottery.assignment(draw, self.request_id, stakes))
        return Assignment(self.request_id, draw.requested_at, windows, draw.opens_to_all_at)

    def _fetch(self, status: Status) -> InferenceResult:
        requested = request_logs(self.system, "InferenceRequested", self.request_id, self.block_number, first_only=True)
        if not requested:
            raise ChainError(f"no InferenceRequested log for request {self.request_id} from block {self.block_number}")
        input_hash = bytes(Web3.keccak(bytes(requested[0].args["input"])))
        if status == Status.OVERTURNED:
            from verinfer.sdk.disputes import overturned  # the dispute contract's logs, only for such a result

            outcome = overturned(self.system, self.request_id, self.model_id, input_hash, self.block_number)
        elif self.mode in (Mode.SINGLE, Mode.ZK):  # a ZK result is recorded like a SINGLE one, once its proof passed
            outcome = self._single()
        elif self.mode == Mode.CONSENSUS:
            outcome = self._consensus()
        else:
            raise ChainError(f"request {self.request_id} has an unknown mode {self.mode!r}")
        answer = None
        if self.spec.format & FORMAT_VARIABLE_OUTPUT:
            from verinfer.text.codec import decode_answer  # bytes only: no tokenizer, no runtime

            try:
                answer = decode_answer(outcome.output)
            except CodecError as exc:
                raise ChainError(f"request {self.request_id}'s recorded answer is not an answer: {exc}") from exc
            output = np.zeros(0)
            outputs = labelled = None
        else:
            ports = self.info or ModelCard.from_bytes(self.spec.card).signature
            layout = None if ports is None else signature.Layout.of(ports, self.spec)
            outputs = None if layout is None else signature.decode_outputs(outcome.output, layout)
            labelled = None if layout is None or outputs is None else signature.labelled(outputs, layout)
            if outputs is None:
                output = codec.decode(outcome.output, self.spec.output_shape, self.spec.scale)
            else:  # each output at its own scale (the card's), in the canonical order
                flat = [np.asarray(v, dtype=np.float64).reshape(-1) for v in outputs.values()]
                output = np.concatenate(flat).reshape(self.spec.output_shape)
        return InferenceResult(
            request_id=self.request_id,
            mode=self.mode,
            output=output,
            output_bytes=outcome.output,
            model_id=self.model_id,
            input_hash=input_hash,
            output_hash=bytes(Web3.keccak(outcome.output)),
            env_hashes=outcome.env_hashes,
            nodes=outcome.nodes,
            commitment=outcome.commitment,
            request_block=self.block_number,
            result_block=outcome.log.block_number,
            request_tx=self.tx_hash,
            result_tx=outcome.log.transaction_hash,
            outputs=outputs,
            labelled=labelled or None,
            text=None if answer is None else answer.text,
            token_ids=None if answer is None else answer.token_ids,
        )

    def _single(self) -> Recorded:
        log = submitted_log(self.system, self.request_id, self.block_number)
        nodes = (to_checksum_address(log.args["node"]),)
        return Recorded(
            log, bytes(log.args["output"]), (bytes(log.args["envHash"]),), nodes, bytes(log.args["commitment"])
        )

    def _consensus(self) -> Recorded:
        reached = request_logs(self.system, "ConsensusReached", self.request_id, self.block_number)
        if not reached:
            raise ChainError(f"request {self.request_id} is FULFILLED but has no ConsensusReached log")
        log = reached[0]
        winning = bytes(log.args["outputHash"])
        revealed = request_logs(self.system, "ResultRevealed", self.request_id, self.block_number)
        committed = request_logs(self.system, "ResultCommitted", self.request_id, self.block_number)
        voted = {to_checksum_address(r.args["node"]) for r in revealed if bytes(r.args["outputHash"]) == winning}
        # In commit order: the order in which the hub binds the agreeing nodes into the consensus commitment.
        env_of = {to_checksum_address(c.args["node"]): bytes(c.args["envHash"]) for c in committed}
        nodes = tuple(node for node in env_of if node in voted)
        return Recorded(
            log, bytes(log.args["output"]), tuple(env_of[n] for n in nodes), nodes, bytes(log.args["commitment"])
        )


class Client:
    """One devnet account bound to one deployment."""

    def __init__(
        self, rpc_url: str, private_key: str, deployment: Deployment, *, cache_dir: Path | str | None = None
    ) -> None:
        w3 = connect(rpc_url)
        chain_id = int(rpc(lambda: w3.eth.chain_id, "read chain id"))
        if chain_id != deployment.chain_id:
            raise ChainError(f"{rpc_url} is chain {chain_id}, the deployment is on chain {deployment.chain_id}")
        sender = TxSender(w3, devnet_account(private_key, chain_id), RevertDecoder.for_system())
        self.system = System.bind(sender, deployment)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE

    @classmethod
    def connect(cls, rpc_url: str, private_key: str, *, cache_dir: Path | str | None = None) -> Client:
        """A client on the deployment recorded for the endpoint's chain (`deployments/<chainId>.json`)."""
        w3 = connect(rpc_url)
        chain_id = int(rpc(lambda: w3.eth.chain_id, "read chain id"))
        return cls(rpc_url, private_key, load_deployment(chain_id), cache_dir=cache_dir)

    @property
    def address(self) -> ChecksumAddress:
        return self.system.sender.address

    def model(self, model_id: bytes) -> ModelSpec:
        """The model's registered spec."""
        return read_model(self.system, model_id)

    def model_uris(self, model_id: bytes, spec: ModelSpec | None = None) -> Iterator[str]:
        """Where the model's file can be fetched: its entry's URI, then (read only if needed) its mirrors."""
        yield (spec or self.model(model_id)).uri
        yield from self.provenance(model_id).mirrors

    def add_mirror(self, model_id: bytes, uri: str) -> None:
        """Adds a URI the model's file can also be fetched from. Its publisher or the registry's owner may (the
        registry refuses anyone else, named); nodes try mirrors when the entry's URI fails."""
        self.model(model_id)  # a clear error for an unknown id
        self.system.sender.send(self.system.models.functions.addMirror(bytes(model_id), uri))

    def provenance(self, model_id: bytes) -> ModelProvenance:
        """Who published the model (the only account that may deprecate it), and for ZK the verifier code hash and
        verifying-key hash pinned at registration."""
        return read_provenance(self.system, model_id)

    def register_model(
        self,
        path: Path | str,
        uri: str,
        price: int,
        modes: Collection[Mode],
        allowed_envs: Sequence[bytes] = (),
        scale: int = 1_000_000,
        rows: int = 1,
        challenge_window: int = 0,
        stake_at_risk: int = 0,
        arithmetic_classes: int = 0,
        scales: Mapping[str, int] | None = None,
        labels: Mapping[str, Sequence[str]] | None = None,
        committed: Sequence[str] | None = None,
        limits: CardLimits | None = None,
    ) -> ModelId:
        """Registers the ONNX file at `path` (to be fetched from `uri`); returns its id, keccak256 of the file.

        The entry's card (`verinfer.inference.card`) lists the file's ports, so the entry alone says how to encode
        and decode them, with the publisher's choices: `scales` by float input or output name (the others at
        `scale`), `labels` by output name (a probabilities tensor's positions, or an integer label's values),
        `committed` the outputs that are part of the result (default all), and `limits` per request (bounded by
        each node's own).

        `challenge_window` (seconds, 0: the hub's) is how long a SINGLE result stays challengeable, capped by the
        hub's window; `stake_at_risk` (wei) is the most one result may move: a node needs that much stake to serve
        the model and loses at least that much when a result of it is overturned; `arithmetic_classes` (a bitmask,
        `verinfer.types.arithmetic_classes_mask`) names the arithmetic classes whose nodes may serve it (0: any).

        The entry's shapes are the graph's total canonical tensors (`verinfer.inference.signature`); a model with a
        symbolic batch dimension takes `rows` rows per request. Models the node would refuse (custom operators,
        external data, dtypes without an encoding, symbolic feature dimensions, ...) are refused here with the same
        named errors, before anything is sent.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read the model file {path}: {exc}") from exc
        from verinfer.inference.model_store import inspect_model  # onnx loads for a registration, not for reads

        info = inspect_model(data, allow_dynamic_batch=True)
        if rows != 1 and not any(port.dynamic_batch for port in info.inputs):
            raise ModelError(f"rows={rows}: the model has no batch dimension, so a request carries one row")
        if rows < 1:
            raise ModelError(f"rows must be >= 1, got {rows}")
        model_id = ModelId(bytes(Web3.keccak(data)))
        card = card_for(info, scales=scales, labels=labels, committed=committed, limits=limits)
        layout = signature.Layout.plain(info, rows, scale, card)
        spec = ModelSpec(
            uri=uri,
            input_shape=layout.input_shape,
            output_shape=layout.output_shape,
            scale=scale,
            price=price,
            modes=Mode.mask(modes),
            allowed_environments=tuple(allowed_envs),
            challenge_window=challenge_window,
            stake_at_risk=stake_at_risk,
            arithmetic_classes=arithmetic_classes,
            card=card.to_bytes(),
        )
        signature.Layout.of(info, spec)  # the rules a node applies to the entry, before anything is sent
        self.system.register_model(model_id, spec)
        return model_id

    def signature(self, model_id: bytes) -> ModelInfo:
        """The model's signature (input and output names, dtypes, shapes), from its file: fetched from the registered
        URI into the cache directory, hash-checked, and read."""
        from verinfer.inference.model_store import ModelStore, inspect_model  # onnx loads only for named values

        spec = self.model(model_id)
        store = ModelStore(self.cache_dir, max_bytes=MAX_MODEL_BYTES, timeout=FETCH_TIMEOUT)
        path = store.fetch_first(bytes(model_id), self.model_uris(model_id, spec))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read the model file {path}: {exc}") from exc
        return inspect_model(data, allow_dynamic_batch=True).signature_only()

    def outputs(self, result: InferenceResult) -> dict[str, npt.NDArray[Any]]:
        """A result's committed outputs by name (floats as floats, integers as ints, bools as bools)."""
        if result.outputs is not None:
            return dict(result.outputs)
        return decode_outputs(self.model(result.model_id), self.signature(result.model_id), result.output_bytes)

    def encode_input(
        self, model_id: bytes, spec: ModelSpec, inputs: npt.ArrayLike | Mapping[str, npt.ArrayLike]
    ) -> tuple[bytes, Ports | None]:
        """A request's canonical input bytes, and the signature they were laid out by (None: one plain array).

        Named inputs (a dict) are laid out by the entry's card when it lists the ports, else by the model file
        (fetched and hash-checked). One array goes to the model's only input, at that input's scale."""
        layout = signature.Layout.of_entry(spec)
        if isinstance(inputs, Mapping):
            if layout is None:
                layout = signature.Layout.of(self.signature(model_id), spec)
            return signature.encode_inputs(inputs, layout), layout.info
        array = _shaped(inputs, spec.input_shape)
        if layout is None:
            return codec.encode(array, spec.scale), None
        names = [port.name for port in layout.info.inputs]
        if len(names) != 1:
            raise CodecError(f"the model takes inputs {names}: pass them by name, as a dict")
        return signature.encode_inputs({names[0]: array}, layout), layout.info

    def request(
        self,
        model_id: bytes,
        inputs: npt.ArrayLike | Mapping[str, npt.ArrayLike],
        mode: Mode = Mode.SINGLE,
        redundancy: int = 1,
        deadline_s: int = 3600,
        callback_gas_limit: int = 0,
        callback_gas_price: int = 0,
        callback_on_final: bool = False,
    ) -> RequestHandle:
        """Requests an inference on `inputs`, paying price * redundancy, plus callback_gas_price *
        callback_gas_limit of escrow for the callback's gas (reimbursed to whoever delivers at up to that price per
        gas, the rest refunded; nodes skip a callback their escrow leaves unpaid at their gas price, base fee plus tip).

        With `callback_on_final` (`CALLBACK_ON_FINAL`), the callback of a SINGLE result waits until the result is
        final: its challenge window passed (then anyone delivers it, `deliver_final`) or a dispute ended. Without it
        the callback runs on delivery, on an output a dispute may still overturn.

        `inputs` is every graph input by name (a dict: each value in its input's own dtype; the SDK reads the
        signature from the model file), or, for a model of float inputs, one array shaped like the entry's input
        (or without its batch dimension of 1), every value scaled."""
        spec = self.model(model_id)
        encoded, info = self.encode_input(model_id, spec, inputs)
        callback = callback_word(callback_gas_limit, callback_gas_price, callback_on_final)
        return self._send(
            model_id,
            spec,
            encoded,
            mode,
            redundancy,
            deadline_s,
            callback,
            callback_gas_price * callback_gas_limit,
            info,
        )

    def generate(
        self,
        model_id: bytes,
        prompt: str,
        mode: Mode = Mode.SINGLE,
        redundancy: int = 1,
        max_new_tokens: int = 0,
        deadline_s: int = 3600,
    ) -> RequestHandle:
        """Asks a language model (a bundle registered with `register_text_model`) to continue `prompt`, greedily, for
        at most `max_new_tokens` tokens (0: the model's bound); `result()` has the answer's `text` and `token_ids`."""
        from verinfer.text.codec import encode_prompt

        spec = self.model(model_id)
        if not spec.is_bundle or not spec.format & FORMAT_VARIABLE_OUTPUT:
            raise ModelError(f"model 0x{bytes(model_id).hex()} is not a language model: use request() or classify()")
        return self._send(model_id, spec, encode_prompt(prompt, max_new_tokens), mode, redundancy, deadline_s, 0, 0)

    def classify(
        self, model_id: bytes, text: str, mode: Mode = Mode.SINGLE, redundancy: int = 1, deadline_s: int = 3600
    ) -> RequestHandle:
        """Runs a text classifier (a single ONNX file with a string input, `register_text_model`) on `text`;
        `result().output` is its output tensor."""
        spec = self.model(model_id)
        if spec.is_bundle or not spec.format & FORMAT_VARIABLE_INPUT:
            raise ModelError(f"model 0x{bytes(model_id).hex()} is not a text classifier: use request() or generate()")
        return self._send(model_id, spec, text.encode(), mode, redundancy, deadline_s, 0, 0)

    def register_text_model(
        self,
        path: Path | str,
        uri: str,
        price: int,
        modes: Collection[Mode],
        *,
        max_input_bytes: int = 1024,
        scale: int = 1_000_000,
        allowed_envs: Sequence[bytes] = (),
    ) -> ModelId:
        """Registers a text model: a bundle directory (a language model; its id is the manifest's, `uri` the base
        URI its files are fetched under) or a single ONNX file with a string input (a classifier; `uri` the file's).
        Inputs are up to `max_input_bytes`; a language model's answers up to the bound its config allows."""
        from verinfer.sdk.text import text_spec  # onnxruntime and the bundle format load for a registration only

        model_id, spec = text_spec(
            path, uri, price, Mode.mask(modes), max_input_bytes=max_input_bytes, scale=scale, envs=allowed_envs
        )
        self.system.register_model(model_id, spec)
        return model_id

    def _send(
        self,
        model_id: bytes,
        spec: ModelSpec,
        encoded: bytes,
        mode: Mode,
        redundancy: int,
        deadline_s: int,
        callback: int,
        escrow: int,
        info: Ports | None = None,
    ) -> RequestHandle:
        terms = self.system.terms_of(model_id)
        w3 = self.system.sender.w3
        now = chain_now(w3)
        hub = self.system.hub
        receipt = self.system.sender.send(
            hub.functions.requestInference(model_id, encoded, int(mode), redundancy, callback, now + deadline_s),
            value=terms.price * redundancy + escrow,
        )
        requested = contract_events(hub, receipt, "InferenceRequested")
        if len(requested) != 1:
            raise ChainError(f"requestInference emitted {len(requested)} InferenceRequested logs, expected 1")
        return RequestHandle(
            system=self.system,
            request_id=RequestId(int(requested[0].args["requestId"])),
            model_id=ModelId(bytes(model_id)),
            mode=Mode(mode),
            spec=spec,
            block_number=int(receipt["blockNumber"]),
            tx_hash=bytes(receipt["transactionHash"]),
            info=info,
        )

    def request_many(
        self,
        model_id: bytes,
        rows: Sequence[npt.ArrayLike],
        mode: Mode = Mode.SINGLE,
        redundancy: int = 1,
        deadline_s: int = 3600,
        callback_gas_limit: int = 0,
        callback_gas_price: int = 0,
        callback_on_final: bool = False,
    ) -> BulkRequests:
        """Requests an inference on each of `rows` (each shaped like the entry's input, every value scaled) in one go:
        one signed `requestInference` per row with consecutive nonces, sent as JSON-RPC batch POSTs
        (`verinfer.sdk.bulk`). Does not wait: `BulkRequests.request_ids(client)` gives the ids once mined, and
        sends again any of the transactions the node has dropped meanwhile (evicted from its pool, lost in a reorg).

        Each request pays and calls back as `request` does: price * redundancy plus callback_gas_price *
        callback_gas_limit of escrow, and with `callback_on_final` its callback waits until its SINGLE result is
        final."""
        from verinfer.sdk import bulk  # bulk builds on this module

        callback = callback_word(callback_gas_limit, callback_gas_price, callback_on_final)
        fee = self.system.terms_of(model_id).price * redundancy + callback_gas_price * callback_gas_limit
        return bulk.request_many(
            self,
            model_id,
            rows,
            mode=mode,
            redundancy=redundancy,
            deadline_s=deadline_s,
            callback_gas_limit=callback,
            fee=fee,
        )

    def handle(self, request_id: int) -> RequestHandle:
        """A handle on an existing request (any requester), found from its `InferenceRequested` log."""
        log = requested_log(self.system, request_id)
        model_id = ModelId(bytes(log.args["modelId"]))
        return RequestHandle(
            system=self.system,
            request_id=RequestId(request_id),
            model_id=model_id,
            mode=Mode(log.args["mode"]),
            spec=self.model(model_id),
            block_number=log.block_number,
            tx_hash=log.transaction_hash,
        )

    def reclaim(self, request_id: int) -> int:
        """After its deadline, credits a request's whole fee back to its requester's hub balance (`reclaimFee`;
        anyone may send it) and returns the amount; `withdraw()` pays the balance out. Refused, naming why, while the
        deadline has not passed, once the request ended, or while a CONSENSUS round awaits its finalization."""
        event, params = request_params(self.system, request_id)
        status = self.system.status_of(request_id)
        if status != Status.PENDING:
            raise ChainError(f"request {request_id} is {status.name}, not PENDING: there is nothing to reclaim")
        now = chain_now(self.system.sender.w3)
        if now <= event.deadline:
            raise ChainError(
                f"request {request_id}'s deadline {event.deadline} has not passed (chain time {now}): reclaim it "
                f"after that, in {event.deadline - now + 1} s"
            )
        receipt = self.system.sender.send(self.system.hub.functions.reclaimFee(request_id, params.as_abi()))
        reclaimed = contract_events(self.system.hub, receipt, "FeeReclaimed")
        return int(reclaimed[0].args["amount"]) if reclaimed else 0

    def balance(self) -> int:
        """This account's withdrawable balance in the hub (refunds; for a node, its fees), in wei."""
        return int(self.system.sender.call(self.system.hub.functions.balanceOf(self.system.sender.account.address)))

    def withdraw(self, to: str | None = None) -> int:
        """Pays this account's whole hub balance to `to` (default: this account); returns the amount, in wei."""
        if to is not None and not Web3.is_address(to):
            raise ChainError(f"withdraw to: {to!r} is not an address (0x + 40 hex digits)")
        recipient = to_checksum_address(to) if to is not None else self.system.sender.account.address
        amount = self.balance()
        if amount == 0:
            raise ChainError(f"{self.system.sender.account.address} has nothing to withdraw from the hub")
        self.system.sender.send(self.system.hub.functions.withdraw(recipient))
        return amount

    # -- optimistic results and their disputes (`verinfer.sdk.disputes`) ----------------------------------------------

    def finality(self, request_id: int) -> Finality:
        """Whether the request's result is final and when it is (or was), and its dispute when it has one."""
        from verinfer.sdk import disputes  # builds on this module

        return disputes.finality(self.system, request_id)

    def challenge(self, request_id: int, bond: int | None = None) -> Dispute:
        """Challenges the provisional SINGLE result of `request_id` with `bond` wei (default and least:
        `bondFor(fee)`), rebuilding what the dispute contract checks from the request's and the result's events;
        returns the dispute opened. Refused, naming why, when there is no result to challenge or it is final."""
        from verinfer.sdk import disputes

        return disputes.challenge(self.system, request_id, bond)

    def resolve_dispute(self, request_id: int) -> Finality:
        """Ends the request's dispute by its committee's vote (the majority's output from the reveals, else the
        challenged output); anyone may once every committed seat revealed or the reveals closed."""
        from verinfer.sdk import disputes

        return disputes.resolve(self.system, request_id)

    def deliver_final(self, request_ids: Sequence[int]) -> int:
        """Delivers the callbacks that waited for finality (`callback_on_final`) of final, undisputed SINGLE
        results (`deliverFinal`; anyone may, paid the callback's gas from its escrow); returns how many were."""
        from verinfer.sdk import disputes

        return disputes.deliver_final(self.system, request_ids)

    def dispute_balance(self) -> int:
        """This account's withdrawable balance in the dispute contract (bonds back, challengers' and committee
        members' rewards), in wei. A requester's fee refunded after an overturned result goes to its hub balance
        (`balance`) instead."""
        from verinfer.sdk import disputes

        return disputes.balance_of(self.system, self.address)

    def withdraw_dispute(self, to: str | None = None) -> int:
        """Pays this account's whole dispute balance to `to` (default: this account); returns the amount, in wei."""
        from verinfer.sdk import disputes

        return disputes.withdraw(self.system, to)

    def deprecate_model(self, model_id: bytes) -> None:
        """Marks a model deprecated: the hub refuses new requests for it; open requests and recorded results stand.
        Only its publisher may (the registry refuses anyone else, named)."""
        self.model(model_id)  # a clear error for an unknown id
        self.system.sender.send(self.system.models.functions.deprecateModel(bytes(model_id)))

    def verify(
        self,
        request_id: int,
        model_path: Path | str | None = None,
        zk_artifacts_dir: Path | str | None = None,
        *,
        max_model_bytes: int = MAX_MODEL_BYTES,
    ) -> VerificationReport:
        """Re-executes the request's model on its input (or, for ZK, re-checks its proof) and checks the recorded
        result (see `verinfer.sdk.verify`)."""
        from verinfer.sdk.verify import verify  # verify.py builds on this module

        return verify(self, request_id, model_path, zk_artifacts_dir, max_model_bytes=max_model_bytes)


def callback_word(callback_gas_limit: int, callback_gas_price: int, callback_on_final: bool) -> int:
    """A request's `callbackGasLimit` word: the callback's gas, with `CALLBACK_ON_FINAL` (bit 31) set when the
    callback waits for finality. ValueError, saying what to pass instead, for a combination the hub would take but
    that makes no sense (a price without gas, a final callback without a callback) or one it refuses."""
    if callback_gas_price and not callback_gas_limit:
        raise ValueError(
            f"callback_gas_price {callback_gas_price} without a callback_gas_limit escrows nothing (the excess "
            "would be a tip): give the callback's gas limit, or leave the price at 0"
        )
    if not 0 <= callback_gas_price < 2**48:
        raise ValueError(f"callback_gas_price must be in [0, 2^48) wei per gas, got {callback_gas_price}")
    if not 0 <= callback_gas_limit < CALLBACK_ON_FINAL:
        raise ValueError(
            f"callback_gas_limit must be in [0, 2^31) gas, got {callback_gas_limit} (bit 31 is the "
            "CALLBACK_ON_FINAL flag: pass callback_on_final=True instead)"
        )
    if callback_on_final and not callback_gas_limit:
        raise ValueError("callback_on_final without a callback_gas_limit: there is no callback to wait for")
    return callback_gas_limit | (CALLBACK_ON_FINAL if callback_on_final else 0)


def decode_outputs(spec: ModelSpec, info: Ports, output: bytes) -> dict[str, npt.NDArray[Any]]:
    """Canonical output bytes as the model's named committed outputs, laid out by its signature and the entry's
    card (per-output scales)."""
    return signature.decode_outputs(output, signature.Layout.of(info, spec))


def _shaped(inputs: npt.ArrayLike, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    try:
        array = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"inputs must be a numeric array or nested lists of numbers: {exc}") from exc
    if array.shape == shape:
        return array
    if (1, *array.shape) == shape:
        return array.reshape(shape)
    if array.ndim == 2 and shape and array.shape == (shape[0], math.prod(shape[1:])):
        return array.reshape(shape)  # one flattened row per line (a CSV): an image row of 64 values is [1, 8, 8]
    raise CodecError(f"inputs shaped {array.shape} do not fit the model's input {shape} ({math.prod(shape)} values)")
