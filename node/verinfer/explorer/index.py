"""The explorer's view of a deployment: every log of its three contracts, decoded with the packaged ABIs, folded
into requests, models and nodes, and rendered as JSON documents.

The index reads forward from the deployment's first block, one `eth_getLogs` range at a time, and never trusts a
log for what the chain can say directly: a request's status is `statusOf`, a model's spec `getModel`, a node's bond
`nodeInfo`. Events are decoded by their ABI entries (topic0 -> `EventCodec`), never by hand-rolled offsets, so a
field added to an event arrives here with the regenerated ABI alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3

from verinfer.chain import lottery
from verinfer.chain.abi import find_entry
from verinfer.chain.artifacts import Abi, load_abi
from verinfer.chain.events import DecodedLog, EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, rpc
from verinfer.errors import CodecError, ModelCardError
from verinfer.inference import codec, signature
from verinfer.inference.card import DTYPES
from verinfer.sdk.client import read_model
from verinfer.types import ARITHMETIC_CLASSES, Deployment, Mode, ModelSpec, Status, checksum

LOG_RANGE = 5_000  # blocks per eth_getLogs: public endpoints cap ranges near 10,000
MIN_REFRESH_S = 0.25  # API calls closer together than this share one chain read


def jsonable(value: Any) -> Any:
    """An ABI-decoded value as JSON: bytes as 0x-hex, enums by name, ints beyond 2**53 as decimal strings."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def hex_(value: bytes) -> str:
    return "0x" + value.hex()


def model_name(uri: str) -> str:
    """A display name from the model's URI: the file name without its extension (`credit_risk`)."""
    path = PurePosixPath(urlparse(uri).path)
    return path.stem or uri


@dataclass
class _Request:
    requested: DecodedLog
    events: list[DecodedLog] = field(default_factory=list)
    status: Status = Status.PENDING

    @property
    def request_id(self) -> int:
        return int(self.requested.args["requestId"])

    @property
    def mode(self) -> Mode:
        return Mode(self.requested.args["mode"])

    def named(self, event: str) -> list[DecodedLog]:
        return [e for e in self.events if e.event == event]


@dataclass
class _Node:
    address: ChecksumAddress
    events: list[DecodedLog] = field(default_factory=list)
    models: dict[bytes, bool] = field(default_factory=dict)


class ChainIndex:
    """Follows one deployment; thread-safe (the API answers from a thread pool)."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        *,
        manifests: Mapping[bytes, Mapping[str, Any]] | None = None,
        min_refresh_s: float = MIN_REFRESH_S,
    ) -> None:
        sender = TxSender(w3, Account.create(), RevertDecoder.for_system())  # reads only: any account will do
        self.system = System.bind(sender, deployment)
        self.w3 = w3
        self.deployment = deployment
        self.manifests = dict(manifests or {})
        self.min_refresh_s = min_refresh_s
        self._codecs = {
            (contract.address, codec_.topic): codec_
            for contract in (self.system.hub, self.system.models, self.system.nodes)
            for codec_ in _event_codecs(contract.abi)
        }
        # Where the URI sits in ModelRegistered's spec tuple, by the ABI's component names (not by a fixed offset).
        registered = find_entry(load_abi("ModelRegistry"), "event", "ModelRegistered")
        spec = next(i for i in registered["inputs"] if i["name"] == "spec")
        self._uri_field = [c["name"] for c in spec["components"]].index("uri")
        # Whether this hub's ABI has challenge events at all (a hub without them records a result for good).
        self._challenge_game = any(
            e.get("type") == "event" and "Challeng" in str(e.get("name")) for e in load_abi("InferenceHub")
        )
        self._lock = threading.RLock()
        self._next_block = deployment.start_block
        self._head = deployment.start_block - 1
        self._refreshed_at = 0.0
        self._requests: dict[int, _Request] = {}
        self._model_events: dict[bytes, list[DecodedLog]] = {}
        self._nodes: dict[ChecksumAddress, _Node] = {}
        self._block_times: dict[int, int] = {}

    # -- following the chain ---------------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> int:
        """Reads the logs of every block since the last refresh (at most every `min_refresh_s` unless `force`);
        returns the head block indexed."""
        with self._lock:
            if not force and time.monotonic() - self._refreshed_at < self.min_refresh_s:
                return self._head
            head = int(rpc(lambda: self.w3.eth.block_number, "read the block number"))
            while self._next_block <= head:
                to_block = min(head, self._next_block + LOG_RANGE - 1)
                for log in self._logs(self._next_block, to_block):
                    self._apply(log)
                self._next_block = to_block + 1
            self._head = head
            for request in self._requests.values():
                if request.status == Status.PENDING:
                    request.status = self.system.status_of(request.request_id)
            self._refreshed_at = time.monotonic()
            return head

    def _logs(self, from_block: int, to_block: int) -> list[DecodedLog]:
        addresses = [self.system.hub.address, self.system.models.address, self.system.nodes.address]
        query: Any = {"address": addresses, "fromBlock": from_block, "toBlock": to_block}
        raw = rpc(lambda: self.w3.eth.get_logs(query), "eth_getLogs")
        decoded = []
        for log in raw:
            topics = log.get("topics") or []
            found = self._codecs.get((checksum(log["address"]), bytes(topics[0]))) if topics else None
            if found is not None:  # an event this ABI does not know (a newer contract) is skipped, not misread
                decoded.append(found.decode(log))
        return sorted(decoded, key=lambda d: (d.block_number, d.log_index))

    def _apply(self, log: DecodedLog) -> None:
        args = log.args
        if log.address == self.system.hub.address and "requestId" in args:
            request_id = int(args["requestId"])
            if log.event == "InferenceRequested":
                self._requests[request_id] = _Request(log)
            elif request_id in self._requests:
                self._requests[request_id].events.append(log)
        elif log.address == self.system.models.address and "modelId" in args:
            self._model_events.setdefault(bytes(args["modelId"]), []).append(log)
        elif log.address == self.system.nodes.address and "node" in args:
            node = self._nodes.setdefault(checksum(args["node"]), _Node(checksum(args["node"])))
            node.events.append(log)
            if log.event == "ModelServed":
                node.models[bytes(args["modelId"])] = bool(args["serving"])

    def _time(self, block: int) -> int:
        if block not in self._block_times:
            got = rpc(lambda: self.w3.eth.get_block(block), f"read block {block}")
            self._block_times[block] = int(got["timestamp"])
        return self._block_times[block]

    @property
    def head(self) -> int:
        """The last block indexed."""
        return self._head

    # -- views -----------------------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        head = self.refresh()
        with self._lock:
            return {
                "chainId": self.deployment.chain_id,
                "head": head,
                "contracts": {
                    "InferenceHub": self.system.hub.address,
                    "ModelRegistry": self.system.models.address,
                    "NodeRegistry": self.system.nodes.address,
                },
                "hubBlock": self.deployment.hub.block,
                "requests": len(self._requests),
                "models": len(self._model_events),
                "nodes": len(self._nodes),
            }

    def requests(self, limit: int = 50, model_id: bytes | None = None, node: str | None = None) -> list[dict[str, Any]]:
        """The newest requests first (optionally only one model's, or those one node answered or voted on)."""
        self.refresh()
        with self._lock:
            chosen = sorted(self._requests.values(), key=lambda r: -r.request_id)
            if model_id is not None:
                chosen = [r for r in chosen if bytes(r.requested.args["modelId"]) == model_id]
            if node is not None:
                chosen = [r for r in chosen if node in _participants(r)]
            return [self._row(r) for r in chosen[:limit]]

    def _row(self, request: _Request) -> dict[str, Any]:
        args = request.requested.args
        model_id = bytes(args["modelId"])
        final_at = self._final_at(request)
        return {
            "requestId": request.request_id,
            "mode": request.mode.name,
            "modelId": hex_(model_id),
            "model": self._model_label(model_id),
            "status": request.status.name,
            "finality": _finality(request.status, int(args["deadline"]), final_at, self._time(self._head)),
            "finalAt": final_at,
            "nodes": _answering(request),
            "requester": args["requester"],
            "block": request.requested.block_number,
            "timestamp": self._time(request.requested.block_number),
            "deadline": int(args["deadline"]),
        }

    def _final_at(self, request: _Request) -> int:
        """When a recorded SINGLE result's challenge window ends (the request's `revealWindow` after the result's
        block, as `finalityOf` counts it); 0 for a result final when recorded, or none."""
        submitted = request.named("ResultSubmitted")
        if request.mode != Mode.SINGLE or not submitted:
            return 0
        window = lottery.Lottery.unpack(int(request.requested.args["lottery"])).reveal_window
        return self._time(submitted[0].block_number) + window

    def _model_label(self, model_id: bytes) -> str:
        for log in self._model_events.get(model_id, []):
            if log.event == "ModelRegistered":
                return model_name(str(log.args["spec"][self._uri_field]))
        return hex_(model_id)[:10]

    def request(self, request_id: int) -> dict[str, Any] | None:
        """Everything about one request, or None when the hub has no such request."""
        self.refresh()
        with self._lock:
            if request_id not in self._requests:
                self.refresh(force=True)  # asked about a request this very moment: read the chain again first
            request = self._requests.get(request_id)
            if request is None:
                return None
            args = request.requested.args
            model_id = bytes(args["modelId"])
            spec = read_model(self.system, model_id)
            layout = _layout(spec)
            input_bytes = bytes(args["input"])
            document = self._row(request)
            document.update(
                {
                    "fee": str(args["fee"]),
                    "redundancy": int(args["redundancy"]),
                    "callbackGasLimit": int(args["callbackGasLimit"]),
                    "requestTx": hex_(request.requested.transaction_hash),
                    "spec": _spec_json(spec),
                    "input": _tensor(input_bytes, spec.input_shape, spec.scale, layout, "input"),
                    "inputHash": hex_(keccak(input_bytes)),
                    "storedCommitment": hex_(
                        self.system.sender.call(self.system.hub.functions.commitmentOf(request_id))
                    ),
                    "result": self._result(request, spec, layout),
                    "votes": _votes(request),
                    "proof": self._proof(request, spec),
                    "events": [_event_json(e, self._time(e.block_number)) for e in request.events],
                    "challenges": [
                        _event_json(e, self._time(e.block_number)) for e in request.events if "Challeng" in e.event
                    ],
                    "challengeGame": self._challenge_game,
                }
            )
            document["verdict"] = _verdict(document)
            return document

    def _result(self, request: _Request, spec: ModelSpec, layout: signature.Layout | None) -> dict[str, Any] | None:
        if request.mode == Mode.CONSENSUS:
            reached = request.named("ConsensusReached")
            if not reached:
                return None
            log = reached[0]
            winning = bytes(log.args["outputHash"])
            voted = {r.args["node"] for r in request.named("ResultRevealed") if bytes(r.args["outputHash"]) == winning}
            committed = [c for c in request.named("ResultCommitted") if c.args["node"] in voted]
            nodes = [c.args["node"] for c in committed]
            envs = [bytes(c.args["envHash"]) for c in committed]
        else:
            submitted = request.named("ResultSubmitted")
            if not submitted:
                return None
            log = submitted[0]
            nodes = [log.args["node"]]
            envs = [bytes(log.args["envHash"])]
        output = bytes(log.args["output"])
        return {
            "event": log.event,
            "block": log.block_number,
            "tx": hex_(log.transaction_hash),
            "timestamp": self._time(log.block_number),
            "output": _tensor(output, spec.output_shape, spec.scale, layout, "output"),
            "outputHash": hex_(keccak(output)),
            "commitment": hex_(bytes(log.args["commitment"])),
            "nodes": nodes,
            "environments": [self._environment(env) for env in envs],
        }

    def _environment(self, env_hash: bytes) -> dict[str, Any]:
        manifest = self.manifests.get(env_hash)
        return {
            "hash": hex_(env_hash),
            "manifest": None if manifest is None else dict(manifest),
            "note": (
                "the manifest this explorer's machine computes for the node's canonical settings"
                if manifest is not None
                else "not a manifest this explorer knows: only its hash is on chain (ask the node's operator for it)"
            ),
        }

    def _proof(self, request: _Request, spec: ModelSpec) -> dict[str, Any] | None:
        if request.mode != Mode.ZK:
            return None
        submitted = request.named("ResultSubmitted")
        return {
            "verifier": spec.verifier,
            "tx": hex_(submitted[0].transaction_hash) if submitted else None,
            "status": (
                "accepted by the model's verifier on chain (the hub checks the proof before it records the result)"
                if submitted
                else "no proof delivered yet"
            ),
        }

    def model(self, model_id: bytes) -> dict[str, Any] | None:
        """A registered model: its spec, the hub's terms, who serves it, its requests."""
        self.refresh()
        with self._lock:
            if model_id not in self._model_events:
                self.refresh(force=True)
            events = self._model_events.get(model_id)
            if not events:
                return None
            spec = read_model(self.system, model_id)
            registered = next((e for e in events if e.event == "ModelRegistered"), None)
            terms = self.system.terms_of(model_id)
            serving = sorted(a for a, n in self._nodes.items() if n.models.get(model_id))
            count = sum(1 for r in self._requests.values() if bytes(r.requested.args["modelId"]) == model_id)
        return {
            "modelId": hex_(model_id),
            "name": model_name(spec.uri),
            "publisher": None if registered is None else registered.args["publisher"],
            "registeredBlock": None if registered is None else registered.block_number,
            "spec": _spec_json(spec),
            "terms": {
                "price": str(terms.price),
                "inputBytes": terms.input_bytes,
                "outputBytes": terms.output_bytes,
                "deprecated": terms.deprecated,
                "envRestricted": terms.env_restricted,
            },
            "nodes": serving,
            "requestCount": count,
            "requests": self.requests(limit=50, model_id=model_id),
            "events": [_event_json(e, self._time(e.block_number)) for e in events],
        }

    def node(self, address: str) -> dict[str, Any] | None:
        """A node: its bond (read now), environment, models, results and consensus votes."""
        self.refresh()
        try:
            who = checksum(address)
        except ValueError:
            return None
        with self._lock:
            if who not in self._nodes:
                self.refresh(force=True)
            node = self._nodes.get(who)
            if node is None:
                return None
            nodes = self.system.nodes
            info = _named(nodes.abi, "nodeInfo", self.system.sender.call(nodes.functions.nodeInfo(who)))
            env = bytes(self.system.sender.call(nodes.functions.environmentOf(who)))
            answered = [r for r in self._requests.values() if who in _answering(r)]
            votes = [v for r in self._requests.values() for v in _votes(r) if v["node"] == who]
            document = {
                "address": who,
                "bond": info,
                "environment": self._environment(env),
                "models": [
                    {"modelId": hex_(m), "name": self._model_label(m)} for m, serving in node.models.items() if serving
                ],
                "results": len(answered),
                "consensus": {
                    "votes": len(votes),
                    "agreed": sum(1 for v in votes if v["agreed"] is True),
                    "outvoted": sum(1 for v in votes if v["agreed"] is False),
                    "slashed": sum(1 for v in votes if v["slashed"]),
                },
                "events": [_event_json(e, self._time(e.block_number)) for e in node.events],
            }
        document["requests"] = self.requests(limit=50, node=who)
        return document

    def model_uri(self, model_id: bytes) -> str | None:
        """The model's registered URI, read from the registry now (None when it is not registered)."""
        models = self.system.models
        if not self.system.sender.call(models.functions.isRegistered(model_id)):
            return None
        return read_model(self.system, model_id).uri


# ---------------------------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------------------------


def _event_codecs(abi: Abi) -> Iterable[EventCodec]:
    for entry in abi:
        if entry.get("type") == "event" and not entry.get("anonymous"):
            yield EventCodec(entry)


def _event_json(log: DecodedLog, timestamp: int) -> dict[str, Any]:
    return {
        "event": log.event,
        "block": log.block_number,
        "timestamp": timestamp,
        "tx": hex_(log.transaction_hash),
        "args": jsonable(dict(log.args)),
    }


def _named(abi: Abi, function: str, value: Any) -> dict[str, Any]:
    """A struct returned by `function`, as JSON keyed by the ABI's component names (new fields come through)."""
    outputs = next(e for e in abi if e.get("type") == "function" and e.get("name") == function)["outputs"]
    components = outputs[0].get("components") if len(outputs) == 1 else outputs
    values = value if isinstance(value, list | tuple) else [value]
    names = [str(c.get("name") or f"arg{i}") for i, c in enumerate(components or outputs)]
    return {name: jsonable(v) for name, v in zip(names, values, strict=False)}


def _spec_json(spec: ModelSpec) -> dict[str, Any]:
    return {
        "uri": spec.uri,
        "name": model_name(spec.uri),
        "inputShape": list(spec.input_shape),
        "outputShape": list(spec.output_shape),
        "scale": str(spec.scale),
        "price": str(spec.price),
        "modes": [m.name for m in Mode if spec.modes & (1 << int(m))],
        "allowedEnvironments": [hex_(e) for e in spec.allowed_environments],
        "challengeWindow": spec.challenge_window,
        "stakeAtRisk": str(spec.stake_at_risk),
        "arithmeticClasses": [name for i, name in ARITHMETIC_CLASSES.items() if spec.arithmetic_classes >> i & 1],
        "verifier": spec.verifier,
    }


def _layout(spec: ModelSpec) -> signature.Layout | None:
    """The layout the entry's card gives (None: no card lists the ports, a text model, or a card no node accepts)."""
    if spec.is_text:
        return None
    try:
        return signature.Layout.of_entry(spec)
    except ModelCardError:
        return None  # the page shows the raw tensor; the node refuses such a model


def _tensor(
    data: bytes, shape: Sequence[int], scale: int, layout: signature.Layout | None, side: str
) -> dict[str, Any]:
    """Canonical bytes, their fixed-point integers and real values (integer / its port's scale), and, when the
    entry's card lists the ports, each port's name, dtype, values and labels."""
    ints = codec.decode_ints(data).tolist()
    document: dict[str, Any] = {
        "bytes": hex_(data),
        "size": len(data),
        "shape": list(shape),
        "ints": [str(i) for i in ints],
    }
    try:
        cut = None if layout is None else signature.segments(data, layout, side)
    except CodecError:
        cut = None  # bytes of another length than the card says: shown raw
    if cut is None:
        return {**document, "values": [i / scale for i in ints]}
    named = []
    for port, port_ints, port_scale in cut:
        exact = port.elem_type not in signature.FLOAT_TYPES
        shown = [float(i) if exact else i / port_scale for i in port_ints.reshape(-1).tolist()]
        labels = list(layout.labels(port.name)) if layout is not None and side == "output" else []
        named.append({"name": port.name, "dtype": DTYPES[port.elem_type], "values": shown, "labels": labels})
    return {**document, "values": [v for port in named for v in port["values"]], "ports": named}


def _answering(request: _Request) -> list[str]:
    if request.mode == Mode.CONSENSUS:
        reached = request.named("ConsensusReached")
        if not reached:
            return []
        winning = bytes(reached[0].args["outputHash"])
        voted = {r.args["node"] for r in request.named("ResultRevealed") if bytes(r.args["outputHash"]) == winning}
        return [c.args["node"] for c in request.named("ResultCommitted") if c.args["node"] in voted]
    return [s.args["node"] for s in request.named("ResultSubmitted")]


def _participants(request: _Request) -> set[str]:
    return {str(e.args["node"]) for e in request.events if "node" in e.args}


def _votes(request: _Request) -> list[dict[str, Any]]:
    """A CONSENSUS round's votes in commit order: commit, reveal, whether it agreed with the winner, any slash."""
    if request.mode != Mode.CONSENSUS:
        return []
    reached = request.named("ConsensusReached")
    winning = bytes(reached[0].args["outputHash"]) if reached else None
    revealed = {r.args["node"]: r for r in request.named("ResultRevealed")}
    slashed = {s.args["node"]: int(s.args["amount"]) for s in request.named("VoteSlashed")}
    votes = []
    for commit in request.named("ResultCommitted"):
        node = commit.args["node"]
        reveal = revealed.get(node)
        output_hash = bytes(reveal.args["outputHash"]) if reveal else None
        votes.append(
            {
                "node": node,
                "commitHash": hex_(bytes(commit.args["commitHash"])),
                "envHash": hex_(bytes(commit.args["envHash"])),
                "commitBlock": commit.block_number,
                "revealed": reveal is not None,
                "outputHash": None if output_hash is None else hex_(output_hash),
                "agreed": None if winning is None or output_hash is None else output_hash == winning,
                "slashed": node in slashed,
                "slashAmount": str(slashed.get(node, 0)),
            }
        )
    return votes


def _finality(status: Status, deadline: int, final_at: int, now: int) -> str:
    """Where a result stands: a SINGLE result is provisional (open to challenge) until `final_at`, every other one
    final when recorded; a dispute holds it (disputed) until it is confirmed or overturned. A pending request past
    its deadline can no longer be answered, only reclaimed."""
    if status == Status.PENDING:
        return "expired (fee reclaimable)" if now > deadline else "pending"
    if status == Status.FULFILLED and now < final_at:
        return "provisional"
    return {
        Status.FULFILLED: "final",
        Status.CONFIRMED: "final",
        Status.DISPUTED: "disputed",
        Status.OVERTURNED: "overturned",
        Status.NO_CONSENSUS: "failed",
        Status.REFUNDED: "refunded",
    }.get(status, status.name.lower())


def _verdict(document: Mapping[str, Any]) -> str:
    """What the chain says about the request, in one sentence (the browser's own check is the page's verdict)."""
    status = document["status"]
    if status == "FULFILLED":
        how = {
            "SINGLE": "one staked node's answer",
            "CONSENSUS": "the agreeing nodes' committed and revealed answer",
            "ZK": "a node's answer with a proof the model's verifier accepted on chain",
        }[document["mode"]]
        return f"recorded on chain as {how}; check it in this browser"
    if status == "PENDING":
        return "waiting for a result"
    if status == "NO_CONSENSUS":
        return "the nodes did not agree: no result was recorded"
    return f"ended {status}: no result"


def known_manifests(intra_op_threads: Iterable[int] = (1,)) -> dict[bytes, dict[str, Any]]:
    """The environment manifests this machine computes for the canonical runner settings, by hash."""
    from verinfer.inference import manifest  # onnxruntime: the explorer decodes manifests, the index needs none

    found: dict[bytes, dict[str, Any]] = {}
    for threads in intra_op_threads:
        for level in ("disabled", "basic", "extended", "all"):
            document = manifest.environment_manifest(threads, level)
            found[manifest.manifest_hash(document)] = document
    return found
