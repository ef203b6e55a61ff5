"""Regenerates the generated parts of the documentation from the project's own code, so the pages cannot drift from it.

    .venv/bin/python scripts/docs_example.py           # rewrite every generated block in docs/
    .venv/bin/python scripts/docs_example.py --check   # exit 1, naming the blocks, if any page is out of date

A generated block sits between `<!-- generated:NAME -->` and `<!-- end generated:NAME -->` in a page. The blocks:

- `encoding-example` (docs/encoding.md): a worked byte-level example: an input vector, its fixed-point integers and
  their big-endian int64 bytes, the input hash, a tiny ONNX model run through the node's runner, the output bytes and
  hash, the request-parameter hash, an environment manifest hash, the result commitment's ABI preimage and keccak256,
  and a consensus vote hash. Everything is computed by `verinfer.inference.codec`, `verinfer.chain.commitments`,
  `verinfer.inference.manifest` and `verinfer.inference.runner`.
- `config-reference` (docs/operator.md): every field of `NodeConfig`, from the pydantic model itself.
- `metrics-reference` (docs/operator.md): every Prometheus metric of the node, from its registry.
- `cli-reference` (docs/cli.md): every `verinfer` command with its usage, help and options, from the CLI itself.
- `python-api` (docs/dapp-guide.md): the public Python API (`verinfer.__all__`) and the methods of its main classes.

tests/node/unit/test_docs_examples.py runs `--check`'s comparison, so a change to the code that moves a number or a
field fails the tests until this script is run again.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
import numpy as np
import onnx
import typer
import typer.main
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from onnx import TensorProto, helper
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from verinfer.chain import commitments
from verinfer.config import ENV_DELIMITER, ENV_PREFIX, NodeConfig
from verinfer.inference import codec
from verinfer.inference.manifest import canonical_json, manifest_hash
from verinfer.inference.runner import OnnxRunner
from verinfer.node.metrics import NodeMetrics
from verinfer.types import Mode, RequestParams

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# ---------------------------------------------------------------------------------------------------------------------
# The encoding example
# ---------------------------------------------------------------------------------------------------------------------

EXAMPLE_INPUT = (0.1, -1.2, 0.3, 2.0)
EXAMPLE_SCALE = 1_000_000
EXAMPLE_WEIGHTS = (0.5, 0.25, -1.0, 2.0)  # dyadic: exact in float32, so only the inputs carry rounding
EXAMPLE_BIAS = 0.125
EXAMPLE_REQUEST_ID = 1
EXAMPLE_REQUESTER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's dev account 0
EXAMPLE_NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil's dev account 1 (the devnet's node 1)
EXAMPLE_FEE = 10**15
EXAMPLE_DEADLINE = 1_800_000_000
EXAMPLE_CALLBACK_GAS = 120_000
EXAMPLE_SALT = bytes.fromhex("11" * 32)
EXAMPLE_MANIFEST: dict[str, Any] = {
    # A fixed sample with the keys a real manifest has (`verinfer env show` prints this machine's); a real one's hash
    # depends on the machine, so the example does not use this machine's.
    "verinfer": "0.1.0",
    "onnxruntime": "1.20.1",
    "provider": "CPUExecutionProvider",
    "intra_op_threads": 1,
    "inter_op_threads": 1,
    "execution_mode": "sequential",
    "graph_optimization_level": "basic",
    "deterministic_compute": True,
    "denormal_as_zero": False,
    "numpy": "2.2.1",
    "python": "3.11.11",
    "python_implementation": "CPython",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
    "machine": "x86_64",
    "byteorder": "little",
    "cpu": "Example CPU @ 3.00GHz",
    "cpu_flags": "avx avx2 fma sse2 sse4_1 sse4_2 ssse3",
}
ROUNDING_CASES = ((0.5, 1), (1.5, 1), (2.5, 1), (-0.5, 1), (-2.5, 1), (2.0000005, 10**6), (1.0000005, 10**6))
"""(x, scale) pairs that show round-half-even on the float64 product x * scale."""
STATUS_PENDING = 1  # Status.PENDING: the hub keeps the status in the lowest byte of the request's slot
STATUS_FULFILLED = 2
EXAMPLE_RESULT_AGE = 12
"""Seconds from the request to the example's SINGLE result (its slot keeps them, plus one: its window starts there)."""


def example_model() -> onnx.ModelProto:
    """score = features · W + b: one Gemm over a [1, 4] float input, a [1, 1] output."""
    n = len(EXAMPLE_WEIGHTS)
    graph = helper.make_graph(
        nodes=[helper.make_node("Gemm", ["features", "W", "b"], ["score"])],
        name="docs_example",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, n])],
        outputs=[helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 1])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, (n, 1), list(EXAMPLE_WEIGHTS)),
            helper.make_tensor("b", TensorProto.FLOAT, (1,), [EXAMPLE_BIAS]),
        ],
    )
    model = helper.make_model(graph, producer_name="verinfer-docs", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@dataclass(frozen=True)
class EncodingExample:
    """Every number of the worked example."""

    input_values: tuple[float, ...]
    scale: int
    input_ints: tuple[int, ...]
    input_bytes: bytes
    input_hash: bytes
    model_bytes: bytes
    model_id: bytes
    output_values: tuple[float, ...]
    output_ints: tuple[int, ...]
    output_bytes: bytes
    output_hash: bytes
    params: RequestParams
    params_preimage: bytes
    params_hash: bytes
    manifest_json: bytes
    env_hash: bytes
    commitment_preimage: bytes
    commitment: bytes
    vote_preimage: bytes
    vote: bytes


def encoding_example() -> EncodingExample:
    """Computes the example the way the SDK (encoding, hashing) and the node (decoding, running) do."""
    input_bytes = codec.encode([list(EXAMPLE_INPUT)], EXAMPLE_SCALE)
    input_hash = keccak(input_bytes)
    model_bytes = example_model().SerializeToString()
    model_id = keccak(model_bytes)
    with tempfile.TemporaryDirectory(prefix="verinfer-docs-") as tmp:
        path = Path(tmp) / "docs_example.onnx"
        path.write_bytes(model_bytes)
        runner = OnnxRunner(path, expected_id=model_id)
        # As the node does: canonical bytes -> float64 (int / scale) -> float32 -> onnxruntime -> canonical bytes.
        features = codec.decode(input_bytes, (1, len(EXAMPLE_INPUT)), EXAMPLE_SCALE).astype(np.float32)
        output = runner.run_batch(features)
    output_bytes = codec.encode(output, EXAMPLE_SCALE)
    output_hash = keccak(output_bytes)
    params = RequestParams(
        model_id=model_id,  # type: ignore[arg-type]  # RequestParams checks and wraps it
        input_hash=input_hash,
        requester=EXAMPLE_REQUESTER,  # type: ignore[arg-type]  # checksummed by RequestParams
        fee=EXAMPLE_FEE,
        deadline=EXAMPLE_DEADLINE,
        callback_gas_limit=EXAMPLE_CALLBACK_GAS,
        output_bytes=len(output_bytes),
        mode=Mode.SINGLE,
        redundancy=1,
        env_restricted=False,
        # seed | requestedAt | serving stake in gwei | ticket delay: what the hub fixed when the request was made.
        lottery=0x1234ABCD | (EXAMPLE_DEADLINE - 3_600) << 32 | (2 * 10**9) << 72 | 2 << 136,
    )
    params_preimage = abi_encode(["uint256", commitments.REQUEST_PARAMS_ABI], [EXAMPLE_REQUEST_ID, params.as_abi()])
    env_hash = manifest_hash(EXAMPLE_MANIFEST)
    commitment_preimage = abi_encode(
        ["uint256", "bytes32", "bytes32", "bytes32", "bytes32", "address"],
        [EXAMPLE_REQUEST_ID, model_id, input_hash, output_hash, env_hash, EXAMPLE_NODE],
    )
    vote_preimage = abi_encode(["bytes32", "bytes32", "address"], [output_hash, EXAMPLE_SALT, EXAMPLE_NODE])
    return EncodingExample(
        input_values=EXAMPLE_INPUT,
        scale=EXAMPLE_SCALE,
        input_ints=tuple(int(v) for v in codec.decode_ints(input_bytes)),
        input_bytes=input_bytes,
        input_hash=input_hash,
        model_bytes=model_bytes,
        model_id=model_id,
        output_values=tuple(float(v) for v in np.asarray(output, dtype=np.float64).reshape(-1)),
        output_ints=tuple(int(v) for v in codec.decode_ints(output_bytes)),
        output_bytes=output_bytes,
        output_hash=output_hash,
        params=params,
        params_preimage=params_preimage,
        params_hash=commitments.request_hash(EXAMPLE_REQUEST_ID, params),
        manifest_json=canonical_json(EXAMPLE_MANIFEST),
        env_hash=env_hash,
        commitment_preimage=commitment_preimage,
        commitment=commitments.result(EXAMPLE_REQUEST_ID, model_id, input_hash, output_hash, env_hash, EXAMPLE_NODE),
        vote_preimage=vote_preimage,
        vote=commitments.vote(output_hash, EXAMPLE_SALT, EXAMPLE_NODE),
    )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _words(data: bytes, labels: list[str]) -> str:
    """An ABI encoding as one 32-byte word per line, each with what it holds."""
    lines = []
    for index in range(len(data) // 32):
        label = labels[index] if index < len(labels) else ""
        lines.append(f"{data[index * 32 : (index + 1) * 32].hex()}  {label}".rstrip())
    return "\n".join(lines)


def _slot(hash_: bytes, status: int) -> bytes:
    return hash_[:-1] + bytes([status])


def _result_slot(commitment: bytes, params_hash: bytes, age: int, status: int) -> bytes:
    """A result's slot as `InferenceHub._packResult` lays it out: [255..128] the commitment's top 128 bits |
    [127..32] the parameter hash's top 96 bits | [31..8] a SINGLE result's age in seconds, plus one | [7..0] status."""
    return commitment[:16] + params_hash[:12] + (age + 1).to_bytes(3, "big") + bytes([status])


def render_encoding() -> str:
    ex = encoding_example()
    rows = "\n".join(
        f"| {i} | `{x!r}` | `{x * ex.scale!r}` | `{v}` | `{ex.input_bytes[i * 8 : (i + 1) * 8].hex()}` |"
        for i, (x, v) in enumerate(zip(ex.input_values, ex.input_ints, strict=True))
    )
    out_rows = "\n".join(
        f"| {i} | `{y!r}` | `{v}` | `{ex.output_bytes[i * 8 : (i + 1) * 8].hex()}` |"
        for i, (y, v) in enumerate(zip(ex.output_values, ex.output_ints, strict=True))
    )
    p = ex.params
    params_labels = [
        f"requestId = {EXAMPLE_REQUEST_ID}",
        "params.modelId",
        "params.inputHash",
        f"params.requester = {p.requester}",
        f"params.fee = {p.fee} wei",
        f"params.deadline = {p.deadline}",
        f"params.callbackGasLimit = {p.callback_gas_limit}",
        f"params.outputBytes = {p.output_bytes}",
        f"params.mode = {int(p.mode)} ({p.mode.name})",
        f"params.redundancy = {p.redundancy}",
        f"params.envRestricted = {str(p.env_restricted).lower()}",
    ]
    result_labels = [
        f"requestId = {EXAMPLE_REQUEST_ID}",
        "modelId",
        "inputHash",
        "outputHash",
        "envHash",
        f"node = {EXAMPLE_NODE}",
    ]
    vote_labels = ["outputHash", "salt", f"node = {EXAMPLE_NODE}"]
    weights = ", ".join(repr(w) for w in EXAMPLE_WEIGHTS)
    rounding = "\n".join(
        f"| `{x!r}` | `{scale:_}` | `{x * scale!r}` | `{int(codec.quantize([x], scale)[0])}` |"
        for x, scale in ROUNDING_CASES
    )
    return f"""\
**Input.** The model takes a `[1, 4]` tensor; the model's registered scale is `{ex.scale:_}`. The dApp's features are
`{list(ex.input_values)!r}`.

| element | x | x * scale (float64) | round-half-even, int64 | 8 bytes, big-endian two's complement |
|---:|---:|---:|---:|---|
{rows}

The input bytes ({len(ex.input_bytes)} bytes: 4 elements of 8 bytes, row-major, no header) and their hash:

```text
input     = {_hex(ex.input_bytes)}
inputHash = keccak256(input)
          = {_hex(ex.input_hash)}
```

**Model.** A one-operator ONNX graph, `score = features · W + b` with `W = [{weights}]ᵀ` and `b = {EXAMPLE_BIAS!r}`
(`example_model()` in the script), serialized to {len(ex.model_bytes)} bytes. Its id is the hash of those bytes:

```text
modelId = keccak256(file) = {_hex(ex.model_id)}
```

**Output.** The node decodes the input (int64 / scale, as float64, then float32), runs it with onnxruntime's CPU
provider, and encodes what comes out with the same scale:

| element | model output (float32, shown as float64) | round-half-even(y * scale), int64 | 8 bytes |
|---:|---:|---:|---|
{out_rows}

```text
output     = {_hex(ex.output_bytes)}
outputHash = keccak256(output)
           = {_hex(ex.output_hash)}
```

A consumer reads the element with `TensorCodec.valueAt(output, 0)` = `{ex.output_ints[0]}`, i.e.
`{ex.output_ints[0]} / {ex.scale:_}` = `{ex.output_ints[0] / ex.scale!r}`.

**Request parameters.** Say this is request `{EXAMPLE_REQUEST_ID}`, sent by `{p.requester}` with a fee of
`{p.fee}` wei, SINGLE mode, callback gas `{p.callback_gas_limit}`, deadline `{p.deadline}`. The hub stores
`keccak256(abi.encode(requestId, params))`, with the status in the lowest byte:

```text
{_words(ex.params_preimage, params_labels)}

paramsHash          = {_hex(ex.params_hash)}
slot while PENDING  = {_hex(_slot(ex.params_hash, STATUS_PENDING))}
```

**Environment hash.** keccak256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of the node's environment
manifest. For this sample manifest (a real one comes from `verinfer env show`):

```text
{ex.manifest_json.decode()}

envHash = {_hex(ex.env_hash)}
```

**Result commitment.** Node `{EXAMPLE_NODE}` submits the output. The hub records
`keccak256(abi.encode(requestId, modelId, inputHash, outputHash, envHash, node))`:

```text
{_words(ex.commitment_preimage, result_labels)}

commitment                 = {_hex(ex.commitment)}
slot once FULFILLED        = {_hex(_result_slot(ex.commitment, ex.params_hash, EXAMPLE_RESULT_AGE, STATUS_FULFILLED))}
commitmentOf(requestId)    = {_hex(commitments.stored_form(ex.commitment))}
```

Once fulfilled, the slot holds the commitment's top 128 bits, the parameter hash's top 96 bits (so the parameters
can be passed back and checked after delivery: a dispute or a final callback needs them), the result's age plus one
(here recorded {EXAMPLE_RESULT_AGE} s after the request: a SINGLE result is provisional until the request's
`revealWindow` after that) and the status. `ResultSubmitted` carries the full `commitment`; `commitmentOf` returns
its top 128 bits, and `verifyResult(requestId, modelId, inputHash, outputHash, envHash, node)` compares those.

**Rounding.** The integer is round-half-even of the IEEE float64 product `x * scale`, not of the exact decimal
product: the float64 product can land just off a tie.

| x | scale | x * scale (float64) | int64 |
|---:|---:|---:|---:|
{rounding}

**Consensus vote.** Had this been a CONSENSUS request, the node would first commit
`keccak256(abi.encode(outputHash, salt, node))`; with the salt `{_hex(EXAMPLE_SALT)}`:

```text
{_words(ex.vote_preimage, vote_labels)}

commitHash = {_hex(ex.vote)}
```
"""


# ---------------------------------------------------------------------------------------------------------------------
# The configuration reference
# ---------------------------------------------------------------------------------------------------------------------

CONFIG_MEANINGS: dict[str, str] = {
    "rpc_url": "The chain's JSON-RPC endpoint (http, https, ws or wss, with a host).",
    "chain_id": "If set, the node refuses to start unless the endpoint reports this chain id.",
    "deployment_file": "The deployment JSON (contract addresses, start block). Unset: `deployments/<chainId>.json`.",
    "keys": "The signing key (section below).",
    "keys.keystore_path": "An eth-account encrypted keystore (JSON keyfile). Exactly one of this and `private_key`.",
    "keys.private_key": "A raw hex private key. Refused unless the chain id is 31337 or 1337 (devnets).",
    "keys.password_file": "The keystore's password, in a file (one trailing newline dropped).",
    "keys.password_env": "The name of an environment variable holding the keystore's password.",
    "journal_path": "The SQLite (WAL) journal of requests and signed transactions. Keep it across restarts.",
    "model_cache_dir": "Where fetched model files are cached, named by model id (re-hashed on every read).",
    "max_model_bytes": "The largest model file the node fetches.",
    "journal_retention_s": "Finished jobs and their transactions are deleted from the journal this long after they "
    "finished (and once 64 blocks deep), so it stays bounded.",
    "fetch_timeout_s": "Timeout of each read while fetching a model.",
    "fetch_connect_timeout_s": "Timeout of connecting to a model's host.",
    "fetch_total_timeout_s": "A model download that takes longer than this is abandoned (retried later).",
    "fetch_min_bytes_per_s": "A model download slower than this on average (after fetch_timeout_s) is abandoned. "
    "Downloads run beside serving: other models are served meanwhile.",
    "confirmations": "How many blocks behind the head the node reads events; reorgs up to that depth are walked back.",
    "max_log_range": "The most blocks one `eth_getLogs` call covers.",
    "poll_interval_s": "How long the node sleeps after a step that found nothing to do.",
    "modes": 'The modes the node serves, by name. ZK also needs `zk.artifacts_dir`. Example: `["SINGLE", "ZK"]`.',
    "batch": "How SINGLE results are batched into `submitResults` (section below).",
    "batch.max_items": "The most results in one `submitResults` transaction (the hub takes at most 256).",
    "batch.max_gas": "A gas budget per batch transaction; a batch is split before it would exceed it.",
    "runner": "onnxruntime settings. They are part of the environment manifest, so changing them changes envHash.",
    "runner.intra_op_threads": "onnxruntime's intra-op threads (never 0, which would mean one per core).",
    "runner.graph_optimization_level": "onnxruntime's graph optimisation level.",
    "runner.arithmetic_class": "The arithmetic class the node states on chain (a name or number of "
    '`verinfer.types.ARITHMETIC_CLASSES`; see the protocol page); "auto" detects this machine\'s. Models that '
    "do not accept it are not served.",
    "registration.min_price_wei": 'Models priced below this are not served (with models = ["all"]).',
    "registration.refresh_s": "How often the running node looks for newly registered and deprecated models and "
    "declares or withdraws them (setModels), without a restart.",
    "sandbox": "Every model runs in a worker process of its own under these limits; a breach kills that worker and "
    "fails that request with the reason `limit` (not retried).",
    "sandbox.timeout_s": "Wall-clock seconds a model may take for one batch before its worker is killed.",
    "sandbox.memory_mb": "Memory (address space, MB) a model's worker may allocate beyond the loaded model.",
    "policy": "Which requests are worth serving (section below).",
    "policy.min_fee_wei": "Skip a request whose fee (a CONSENSUS node's share: fee / redundancy) is below this "
    "plus the gas estimate.",
    "policy.gas_per_result": "The gas estimate per transaction, multiplied by the gas price (1 transaction for SINGLE, "
    "3 for CONSENSUS); 0 turns the gas part off.",
    "metrics": "The Prometheus `/metrics` and `/healthz` endpoint (section below).",
    "watch": "Keeping other nodes honest: the watchtower and committee duty (section below).",
    "watch.watchtower": "Re-execute other nodes' SINGLE results for the models served and challenge a wrong one.",
    "watch.max_bond_wei": "The largest bond the watchtower puts up for one challenge.",
    "watch.committee": "Vote (commit, reveal) on the dispute seats the lottery gives this node, and settle disputes.",
    "watch.lookback_blocks": "At the first start, how far back the scans of results and disputes look.",
    "metrics.enabled": "Serve the endpoint at all.",
    "metrics.host": "The address the endpoint listens on.",
    "metrics.port": "Its port (0: any free port).",
    "registration": "What `verinfer node run` registers or tops up at start (section below).",
    "registration.auto": "Register, add stake, update the environment hash and declare models at start. "
    "`false`: only check, and refuse to start unless registered and eligible.",
    "registration.stake_wei": "The stake to hold. Unset: the registry's minimum stake.",
    "registration.models": 'Model ids to serve, or `["all"]`: every live model allowing one of `modes`, as '
    "registered when the node starts.",
    "tx": "How transactions are priced and retried (section below).",
    "tx.tip_wei": "The priority fee. Unset: the endpoint's `eth_maxPriorityFeePerGas`.",
    "tx.max_fee_wei": "A cap on `maxFeePerGas`.",
    "tx.stuck_after_s": "A transaction pending this long is re-sent with a higher fee.",
    "tx.max_attempts": "How often a reverted transaction's work is re-estimated and sent again before it fails.",
    "tx.rpc_timeout_s": "Timeout of each RPC call.",
    "tx.min_balance_wei": "Below this balance the node pauses new work (warning, verinfer_wallet_paused, /healthz "
    "fails) and resumes by itself once funded. Unset: one full batch (batch.max_gas) at twice the base fee.",
    "tx.deadline_margin_s": "A result is not sent (or sent again) when its deadline is less than this many seconds "
    "of chain time away: it would be mined late.",
    "zk": "ZK proving (section below).",
    "zk.artifacts_dir": "Where the ZK models' proving artifacts live (`<dir>/<modelId hex>/`), as "
    "`verinfer model register --zk` writes them. Required when `modes` includes ZK.",
    "zk.workers": "How many processes prove at once.",
}
"""What each field means. A test fails when a field of `NodeConfig` has no entry here or an entry names no field."""


def config_fields(model: type[BaseModel] = NodeConfig, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field of the config, sections first and then their fields, by dotted name."""
    for name, info in model.model_fields.items():
        dotted = prefix + name
        yield dotted, info
        section = _section(info)
        if section is not None:
            yield from config_fields(section, dotted + ".")


def _section(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        named = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(named) + (" or unset" if type(None) in args else "")
    if origin is tuple:
        inner = _type_name(args[0])
        return f"list of {'mode names' if inner == 'Mode' else inner}"
    if annotation is SecretStr:
        return "secret string"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _constraints(info: FieldInfo) -> str:
    """Bounds from the field's metadata and from inside Annotated members of an optional type."""
    metadata = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            metadata.extend(typing.get_args(arg)[1:])
            for inner in typing.get_args(arg)[1:]:
                metadata.extend(getattr(inner, "metadata", []))
    parts = []
    for meta in metadata:
        if isinstance(meta, annotated_types.Ge):
            parts.append(f"≥ {meta.ge:_}" if isinstance(meta.ge, int) else f"≥ {meta.ge}")
        elif isinstance(meta, annotated_types.Gt):
            parts.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Le):
            parts.append(f"≤ {meta.le:_}" if isinstance(meta.le, int) else f"≤ {meta.le}")
        elif isinstance(meta, annotated_types.MinLen):
            parts.append("non-empty")
    return ", ".join(dict.fromkeys(parts))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    default = info.default
    if default is PydanticUndefined or isinstance(default, BaseModel):
        return "(section)"
    if default is None:
        return "unset"
    if isinstance(default, tuple):
        items = ", ".join(f'"{item.name}"' if isinstance(item, Mode) else f'"{item}"' for item in default)
        return f"`[{items}]`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, int):
        return f"`{default}`"
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default}`"


def render_config() -> str:
    lines = [
        "| field | type | default | environment variable | meaning |",
        "|---|---|---|---|---|",
    ]
    for dotted, info in config_fields():
        parts = dotted.split(".")
        env = ENV_PREFIX + ENV_DELIMITER.join(parts).upper()
        if _section(info) is not None:
            kind, default = "section", ("**required**" if info.is_required() else f"`[{dotted}]`")
        else:
            constraints = _constraints(info)
            kind = _type_name(info.annotation) + (f" ({constraints})" if constraints else "")
            default = _default(info)
        meaning = CONFIG_MEANINGS.get(dotted, "")
        lines.append(f"| `{dotted}` | {kind} | {default} | `{env}` | {meaning} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# The metrics reference
# ---------------------------------------------------------------------------------------------------------------------

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]

    @property
    def series(self) -> tuple[str, ...]:
        """The names Prometheus scrapes for it (a counter's `_total`, a histogram's `_bucket`, `_sum`, `_count`)."""
        return tuple(self.name + suffix for suffix in SUFFIXES[self.kind])


def node_metrics() -> list[MetricInfo]:
    """The node's metrics, from a fresh `NodeMetrics` (its own registry), in declaration order."""
    metrics = NodeMetrics()
    found = []
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            (family,) = value.describe()
            labels = tuple(value._labelnames)  # prometheus_client keeps label names only here
            found.append(MetricInfo(family.name, family.type, family.documentation, labels))
    return found


def render_metrics() -> str:
    lines = ["| metric (as scraped) | type | labels | meaning |", "|---|---|---|---|"]
    for metric in node_metrics():
        series = ", ".join(f"`{s}`" for s in metric.series)
        labels = ", ".join(f"`{label}`" for label in metric.labels) or "-"
        lines.append(f"| {series} | {metric.kind} | {labels} | {metric.help} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# The CLI reference
# ---------------------------------------------------------------------------------------------------------------------


def cli_commands() -> Iterator[tuple[typer.Context, Any]]:
    """Every `verinfer` command and group with its context, depth first, in the CLI's own order."""
    from verinfer.cli import app  # the CLI imports the node service: only when this block is rendered

    root = typer.main.get_command(app)

    def walk(command: Any, ctx: typer.Context) -> Iterator[tuple[typer.Context, Any]]:
        yield ctx, command
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                yield from walk(sub, typer.Context(sub, info_name=name, parent=ctx))

    yield from walk(root, typer.Context(root, info_name="verinfer"))


def _cell(text: str, *, code: bool = False) -> str:
    """One table cell: on one line; a pipe escaped outside a code span (inside one it does not split the cell)."""
    flat = " ".join(text.split())
    return flat if code else flat.replace("|", "\\|")


def render_cli() -> str:
    sections = []
    for ctx, command in cli_commands():
        path = ctx.command_path
        usage = " ".join([path, *command.collect_usage_pieces(ctx)])
        lines = [f"### `{path}`", "", "```text", f"Usage: {usage}", "```", ""]
        if command.help:
            lines += ["```text", command.help.strip(), "```", ""]
        records = [record for param in command.params if (record := param.get_help_record(ctx)) is not None]
        if records:
            lines += ["| argument or option | meaning |", "|---|---|"]
            lines += [f"| `{_cell(names, code=True)}` | {_cell(help_)} |" for names, help_ in records]
            lines.append("")
        if hasattr(command, "list_commands"):
            lines += ["| command | what it does |", "|---|---|"]
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                lines.append(f"| `{path} {name}` | {_cell(sub.get_short_help_str(limit=300))} |")
            lines.append("")
        sections.append("\n".join(lines))
    return "\n".join(sections)


# ---------------------------------------------------------------------------------------------------------------------
# The Python API
# ---------------------------------------------------------------------------------------------------------------------

API_SUMMARIES = {
    # Names whose docstring does not describe them (NewTypes, a bare string, a class without one).
    "ModelId": "A model id: 32 bytes, keccak256 of the ONNX file (a `NewType` of `bytes`).",
    "RequestId": "A request id: the hub's counter, from 1 (a `NewType` of `int`).",
    "NodeService": "The node service that `verinfer node run` runs: `setup()`, `run()` / `run_forever()`, `stop()`.",
    "__version__": "The package version.",
}
API_MEMBER_SUMMARIES = {
    # Members without a docstring.
    "Client.address": "The client's account address.",
    "Operator.address": "The operator's account address.",
    "Operator.min_stake": "The registry's minimum stake, in wei.",
    "RequestHandle.status": "The request's status now (`statusOf`).",
}
API_CLASSES = ("Client", "RequestHandle", "Operator")
"""Classes whose public methods are listed with their signatures."""


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _signature(function: Any) -> str:
    """A signature as written in the source (annotations are strings under `from __future__ import annotations`)."""
    parts: list[str] = []
    for param in inspect.signature(function).parameters.values():
        if param.name == "self":
            continue
        text = param.name if param.kind != param.VAR_KEYWORD else f"**{param.name}"
        if param.kind == param.KEYWORD_ONLY and not any(p.startswith("*") for p in parts):
            parts.append("*")
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
        if param.default is not param.empty:
            default = param.default
            shown = f"{type(default).__name__}.{default.name}" if isinstance(default, enum.Enum) else repr(default)
            text += f" = {shown}"
        parts.append(text)
    returns = inspect.signature(function).return_annotation
    return f"({', '.join(parts)})" + (f" -> {_annotation(returns)}" if returns is not inspect.Signature.empty else "")


def _annotation(annotation: object) -> str:
    if isinstance(annotation, str):  # as written, under `from __future__ import annotations`
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def render_api() -> str:
    import verinfer

    lines = ["| name | what it is |", "|---|---|"]
    for name in verinfer.__all__:
        obj = getattr(verinfer, name)
        summary = API_SUMMARIES.get(name) or _summary(obj)
        kind = "exception" if inspect.isclass(obj) and issubclass(obj, BaseException) else ""
        lines.append(f"| `verinfer.{name}` | {_cell(summary)}{' (exception)' if kind else ''} |")
    lines.append("")
    for class_name in API_CLASSES:
        cls = getattr(verinfer, class_name)
        lines += [f"**`{class_name}`**", "", "| member | what it does |", "|---|---|"]
        for name, member in inspect.getmembers(cls):
            static = inspect.getattr_static(cls, name)
            if name.startswith("_") or not (inspect.isfunction(member) or isinstance(static, classmethod | property)):
                continue
            shown = name if isinstance(static, property) else f"{name}{_signature(member)}"
            doc = API_MEMBER_SUMMARIES.get(f"{class_name}.{name}") or _summary(
                static if isinstance(static, property) else member
            )
            lines.append(f"| `{_cell(shown, code=True)}` | {_cell(doc)} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# Blocks in pages
# ---------------------------------------------------------------------------------------------------------------------

BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "encoding-example": ("encoding.md", render_encoding),
    "config-reference": ("operator.md", render_config),
    "metrics-reference": ("operator.md", render_metrics),
    "cli-reference": ("cli.md", render_cli),
    "python-api": ("dapp-guide.md", render_api),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{re.escape(name)} [^\n]*-->\n)(.*?)(<!-- end generated:{re.escape(name)} -->)", re.DOTALL
    )


def block_in_page(name: str, docs: Path = DOCS) -> str:
    """The current text of block `name` in its page."""
    page, _ = BLOCKS[name]
    text = (docs / page).read_text()
    match = _pattern(name).search(text)
    if match is None:
        raise SystemExit(
            f"{page} has no block {name}: add `<!-- generated:{name} (scripts/docs_example.py) -->` and "
            f"`<!-- end generated:{name} -->` lines where it goes"
        )
    return match.group(2)


def write_block(name: str, content: str, docs: Path = DOCS) -> bool:
    """Puts `content` into block `name`; returns whether the page changed."""
    page, _ = BLOCKS[name]
    path = docs / page
    text = path.read_text()
    block_in_page(name, docs)  # refuses a page without the markers
    new = _pattern(name).sub(lambda m: m.group(1) + content + m.group(3), text, count=1)
    if new != text:
        path.write_text(new)
    return new != text


def stale_blocks(docs: Path = DOCS) -> list[str]:
    """The blocks whose page text differs from what the code gives now."""
    return [name for name, (_, render) in BLOCKS.items() if block_in_page(name, docs) != render()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_blocks()
        for name in stale:
            print(f"{BLOCKS[name][0]}: block {name} is out of date; run scripts/docs_example.py", file=sys.stderr)
        return 1 if stale else 0
    for name, (page, render) in BLOCKS.items():
        changed = write_block(name, render())
        print(f"{page}: {name} {'rewritten' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
