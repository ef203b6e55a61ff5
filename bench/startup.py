"""Start-up cost of the package face and the CLI: the median (and minimum) wall time of N fresh processes for each
command, and the modules each one loads (how many, and which of the heavy ones).

    .venv/bin/python bench/startup.py [--runs 15]

Prints a Markdown table and writes it to bench/results/startup.md. The chain-reading commands run against a local
devnet the script starts (anvil from the repository's node_modules, the contracts from out/): one tiny ONNX model
registered, one request served by hand, so `verinfer result` prints a real result. No timing is asserted anywhere;
`tests/node/unit/test_import_weight.py` pins which modules load, which is what keeps these numbers low.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from eth_account import Account
from onnx import TensorProto, helper, numpy_helper

from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, deploy, save_deployment
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk.client import Client
from verinfer.sdk.operator import environment_hash
from verinfer.types import Mode

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
HEAVY = ("web3", "onnx", "onnxruntime", "ezkl", "sklearn", "pydantic", "structlog", "verinfer.node")
PRICE = 10**15
SCALE = 1_000_000
DEPLOYER, NODE, USER = 0, 1, 2
STAKE = 2 * 10**18

# Runs the CLI in-process the way the console script does, then reports what it loaded (on stderr, after the output).
CLI_PROBE = """
import json, sys
from verinfer.cli import app
try:
    app(sys.argv[1:], prog_name="verinfer")
finally:
    heavy = HEAVY
    loaded = [h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules)]
    sys.stderr.write("\\nMODULES " + json.dumps({"count": len(sys.modules), "heavy": loaded}) + "\\n")
"""
IMPORT_PROBE = """
import json, sys
CODE
heavy = HEAVY
loaded = [h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules)]
sys.stderr.write("\\nMODULES " + json.dumps({"count": len(sys.modules), "heavy": loaded}) + "\\n")
"""


@dataclass(frozen=True)
class Case:
    name: str
    timed: list[str]
    """The command timed, as a user types it."""
    probe: list[str]
    """The same work run through a probe that reports the modules it loaded."""


@dataclass(frozen=True)
class Measured:
    case: Case
    median_s: float
    min_s: float
    modules: int
    heavy: list[str]


def python_case(code: str) -> Case:
    probe = IMPORT_PROBE.replace("CODE", code).replace("HEAVY", repr(HEAVY))
    return Case(f"python -c '{code}'", [sys.executable, "-c", code], [sys.executable, "-c", probe])


def cli_case(*args: str) -> Case:
    probe = CLI_PROBE.replace("HEAVY", repr(HEAVY))
    return Case(" ".join(["verinfer", *args]), [str(BIN / "verinfer"), *args], [sys.executable, "-c", probe, *args])


def measure(case: Case, runs: int, env: dict[str, str]) -> Measured:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(case.timed, env=env, capture_output=True, text=True, timeout=120, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{case.name} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    probed = subprocess.run(case.probe, env=env, capture_output=True, text=True, timeout=120, check=False)
    marker = [line for line in probed.stderr.splitlines() if line.startswith("MODULES ")]
    if probed.returncode != 0 or not marker:
        raise SystemExit(f"probe of {case.name} failed: {probed.stderr.strip()[-500:]}")
    report = json.loads(marker[-1].removeprefix("MODULES "))
    return Measured(case, statistics.median(times), min(times), int(report["count"]), list(report["heavy"]))


def tiny_model(path: Path) -> Path:
    """A 4 -> 2 linear model (Gemm), built here so that the bench needs no training library."""
    rng = np.random.default_rng(7)
    weights = numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["X", "W", "B"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@contextmanager
def served_request(work: Path) -> Iterator[tuple[dict[str, str], str, int]]:
    """A devnet with one fulfilled request: yields the environment for the CLI, the model id and the request id."""
    with Anvil.start() as anvil:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer = TxSender(w3, Account.from_key(anvil.accounts[DEPLOYER].private_key), decoder)
        deployment = deploy(deployer)
        save_deployment(deployment, work / "deployments" / f"{deployment.chain_id}.json")
        model = tiny_model(work / "tiny.onnx")
        owner = Client(anvil.rpc_url, anvil.accounts[DEPLOYER].private_key, deployment)
        model_id = owner.register_model(model, model.as_uri(), PRICE, [Mode.SINGLE])
        node_sender = TxSender(w3, Account.from_key(anvil.accounts[NODE].private_key), decoder)
        node = System.bind(node_sender, deployment)
        node.register_node(environment_hash(), [model_id], STAKE)
        user = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment)
        features = np.array([[0.5, -1.0, 2.0, 0.25]])
        handle = user.request(model_id, features)
        (event,) = [e for e in node.requested(deployment.hub.block) if e.request_id == handle.request_id]
        decoded = codec.decode(codec.encode(features, SCALE), (1, 4), SCALE).astype(np.float32)
        output = codec.encode(OnnxRunner(model).run_batch(decoded), SCALE)
        node.sender.send(
            node.hub.functions.submitResult(event.request_id, event.params(node.terms_of(model_id)).as_abi(), output)
        )
        env = {**os.environ, ENV_DEPLOYMENTS: str(work / "deployments"), "VERINFER_RPC_URL": anvil.rpc_url}
        yield env, "0x" + model_id.hex(), int(handle.request_id)


def table(rows: Sequence[Measured], runs: int, load: float) -> str:
    lines = [
        f"# Start-up (median and minimum of {runs} fresh processes)",
        "",
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load:.2f} at the start (`bench/startup.py --runs {runs}`).",
        "",
        "| command | median (s) | min (s) | modules loaded | heavy modules loaded |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        heavy = ", ".join(r.heavy) or "none"
        lines.append(f"| `{r.case.name}` | {r.median_s:.3f} | {r.min_s:.3f} | {r.modules} | {heavy} |")
    lines += [
        "",
        f"Heavy modules looked for: {', '.join(HEAVY)}. `python -c 'import web3'` is there for scale: a command that "
        "reads the chain pays for web3 and nothing above it.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per command (the median is reported)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="verinfer-startup-") as tmp, served_request(Path(tmp)) as served:
        env, model_id, request_id = served
        cases = [
            python_case("import verinfer"),
            python_case("from verinfer import Client, verify"),
            python_case("import web3"),
            cli_case("--help"),
            cli_case("node", "--help"),
            cli_case("result", "--help"),
            cli_case("model", "show", model_id, "--json"),
            cli_case("result", str(request_id), "--json"),
        ]
        rows = [measure(case, args.runs, env) for case in cases]
    report = table(rows, args.runs, load)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
