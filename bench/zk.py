"""ZK mode costs: proving-pipeline times, key sizes and memory, and on-chain gas, for MLPs on this machine.

    .venv/bin/python bench/zk.py [--models 16-8-2,64-32-4]

Per model (verinfer.zk.models.mlp, calibrated on standard-normal rows), in a fresh child process so its peak memory
(ru_maxrss) is its own: prepare (gen_srs with a local INSECURE SRS at the circuit's logrows, setup, the Solidity
verifier), then witness and proof for two inputs. Then on a private anvil: the system deployed, the model's verifier
deployed and the model registered for ZK, one warm-up request + ZK submission, and the measured ones: verifyProof as
its own transaction, and submitZkResult (whole transaction, no-op consumer callback with a 100,000 gas limit).
Prints a Markdown table and writes it to bench/results/zk.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account
from web3 import Web3

from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import deploy
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.inference import codec
from verinfer.types import Mode

try:  # the [zk] extra (ezkl); [bench] and the README's [dev] include it
    from verinfer.zk import StepTimes, ZkArtifacts, ZkProof, instances_for, load_artifacts, prepare, prove
    from verinfer.zk.chain import register_prepared, submit_zk_result, verifier_artifact
    from verinfer.zk.models import calibration_rows, mlp
except ModuleNotFoundError as missing:  # one line, not a traceback
    sys.exit(f"bench/zk.py needs {missing.name}: pip install -e '.[zk]' (the README's '.[dev]' includes it)")

RESULTS = Path(__file__).resolve().parent / "results" / "zk.md"
ENV_HASH = Web3.keccak(text="env: zk bench")
PRICE = 10**16
CALLBACK_GAS = 100_000
GAS_TARGET = 650_000  # issue 7: the whole ZK submission of a 16-8-2 MLP


@dataclass(frozen=True)
class Offchain:
    """What the child process measured."""

    name: str
    model_id: bytes
    logrows: int
    seconds: dict[str, float]
    witness_seconds: float
    prove_seconds: float
    pk_bytes: int
    vk_bytes: int
    peak_rss_mb: float
    proofs: tuple[ZkProof, ZkProof]


@dataclass(frozen=True)
class Row:
    offchain: Offchain
    runtime_bytes: int
    proof_bytes: int
    verify_gas: int
    submit_gas: int


def _shape(name: str) -> tuple[int, int, int]:
    parts = tuple(int(p) for p in name.split("-"))
    if len(parts) != 3:
        raise SystemExit(f"a model is features-hidden-outputs, e.g. 16-8-2; got {name!r}")
    return parts[0], parts[1], parts[2]


def _offchain(name: str, cache: Path) -> Offchain:
    """Runs in a child process: prepare and two proofs, timed, with the process's peak memory."""
    features, hidden, outputs = _shape(name)
    model = cache / f"mlp_{name}.onnx"
    model.write_bytes(mlp(features, hidden, outputs, seed=0).SerializeToString())
    times = StepTimes()
    artifacts = prepare(model, calibration_rows(features), cache_dir=cache, progress=times)
    rng = np.random.default_rng(7)
    warm = prove(artifacts, codec.encode(rng.standard_normal(features), artifacts.scale))
    measured = prove(artifacts, codec.encode(rng.standard_normal(features), artifacts.scale))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return Offchain(
        name,
        bytes(artifacts.model_id),
        artifacts.logrows,
        dict(times.seconds),
        measured.witness_seconds,
        measured.prove_seconds,
        artifacts.pk_path.stat().st_size,
        artifacts.vk_path.stat().st_size,
        peak_kb / 1024,
        (warm, measured),
    )


class Chain:
    """A private deployment with one staked node and a no-op consumer."""

    def __init__(self, anvil: Anvil) -> None:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system([load_artifact("NoopConsumer").abi])
        deployer, node, self.user = (
            TxSender(w3, Account.from_key(anvil.accounts[i].private_key), decoder) for i in range(3)
        )
        self.system = System.bind(deployer, deploy(deployer))
        self.node = self.system.as_sender(node)
        self.node.register_node(ENV_HASH, [], 2 * 10**18)
        self.noop, _ = self.user.deploy(load_artifact("NoopConsumer"), self.system.hub.address)
        self.requested = EventCodec.from_abi(self.system.hub.abi, "InferenceRequested")

    def measure(self, artifacts: ZkArtifacts, offchain: Offchain) -> Row:
        model = register_prepared(self.system, artifacts, uri=f"file:///models/{offchain.name}.onnx", price=PRICE)
        self.node.sender.send(self.node.nodes.functions.setModels([model.model_id], True))
        for proof in offchain.proofs[:1]:  # warm-up: request counter and the node's balance become non-zero
            self._request_and_submit(model.model_id, proof)
        measured = offchain.proofs[1]
        verifier = self.user.w3.eth.contract(address=model.verifier, abi=list(verifier_artifact(artifacts).abi))
        verify = self.user.send(
            verifier.functions.verifyProof(measured.proof, instances_for(measured.input_bytes, measured.output_bytes))
        )
        submit_gas = self._request_and_submit(model.model_id, measured)
        runtime = len(self.user.w3.eth.get_code(model.verifier))
        return Row(offchain, runtime, len(measured.proof), int(verify["gasUsed"]), submit_gas)

    def _request_and_submit(self, model_id: bytes, proof: ZkProof) -> int:
        deadline = int(self.user.w3.eth.get_block("latest")["timestamp"]) + 3600
        receipt = self.user.send(
            self.noop.functions.request(model_id, proof.input_bytes, int(Mode.ZK), 1, CALLBACK_GAS, deadline),
            value=PRICE,
        )
        (log,) = self.requested.decode_all(receipt["logs"])
        event = InferenceRequested.from_log(log)
        submitted = submit_zk_result(self.node, event.request_id, event.params(self.node.terms_of(model_id)), proof)
        return int(submitted["gasUsed"])


def _step(seconds: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in seconds.items() if k.startswith(prefix))


def table(rows: list[Row]) -> str:
    lines = [
        "| model | logrows | gen_srs s | setup s | verifier s | witness s | prove s | pk MB | vk KB | peak RSS MB "
        "| verifier runtime B | proof B | verifyProof gas (tx) | submitZkResult gas (tx) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        o = row.offchain
        lines.append(
            f"| MLP {o.name} | {o.logrows} | {_step(o.seconds, 'srs'):.1f} | {_step(o.seconds, 'setup'):.1f} "
            f"| {_step(o.seconds, 'verifier'):.1f} | {o.witness_seconds:.3f} | {o.prove_seconds:.1f} "
            f"| {o.pk_bytes / 1e6:.1f} | {o.vk_bytes / 1e3:.1f} | {o.peak_rss_mb:.0f} | {row.runtime_bytes:,} "
            f"| {row.proof_bytes:,} | {row.verify_gas:,} | {row.submit_gas:,} |"
        )
    return "\n".join(lines)


def report(rows: list[Row]) -> str:
    return (
        "# ZK mode: proving costs and gas\n\n"
        "Measured by `.venv/bin/python bench/zk.py` on this machine (2 cores). Each model is an MLP features-hidden-"
        "outputs (Gemm, ReLU, Gemm) prepared with `verinfer.zk` defaults (scale 2^10, range checks 1024^3) and a "
        "locally generated, INSECURE SRS at the circuit's logrows; times are wall seconds for one run, the proof "
        "timings for the second input. Gas is receipt gasUsed on anvil, after a warm-up submission: verifyProof sent "
        "as its own transaction, and the whole submitZkResult (input check, instances, verifier, commitment, "
        f"payment, no-op callback with a {CALLBACK_GAS:,} gas limit). Target for the 16-8-2 MLP's submission: "
        f"≤ {GAS_TARGET:,}.\n\n" + table(rows) + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="16-8-2,64-32-4", help="comma-separated features-hidden-outputs")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="verinfer-zk-bench-") as tmp, Anvil.start() as anvil:
        cache = Path(tmp)
        chain = Chain(anvil)
        spawn = multiprocessing.get_context("spawn")
        for name in names:
            with spawn.Pool(1) as pool:
                offchain = pool.apply(_offchain, (name, cache))
            rows.append(chain.measure(load_artifacts(cache, offchain.model_id), offchain))
            print(f"measured MLP {name}", file=sys.stderr)
    text = report(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(table(rows))
    print(f"\nwritten to {RESULTS}")
    target = [row for row in rows if row.offchain.name == "16-8-2"]
    return 0 if all(row.submit_gas <= GAS_TARGET for row in target) else 1


if __name__ == "__main__":
    sys.exit(main())
