"""The devnet story, end to end on a local anvil: deploy, register the credit-risk model, stake a node, let the
lending pool ask for two applicants' scores, serve them, and verify both results by re-executing the model.

Until the node service exists (a later issue) the serving step runs here, by hand, with the same building blocks
the node will use: raw-log decoding, the hash-checked model store, the deterministic runner, the canonical codec.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account
from rich.console import Console
from rich.table import Table
from web3 import Web3

from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import deploy, save_deployment
from verinfer.chain.events import EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.demo.models import build_credit_model
from verinfer.errors import ChainError
from verinfer.inference import codec
from verinfer.inference.manifest import manifest, manifest_hash
from verinfer.inference.model_store import ModelStore
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client
from verinfer.types import Mode, ModelSpec, ModelTerms, Status

ETHER = 10**18
SCALE = 1_000_000
PRICE = ETHER // 1_000
NODE_STAKE = 2 * ETHER
THRESHOLD = SCALE // 2  # approve when P(default) < 0.5
SCORE_INDEX = 1
DECISIONS = {2: "approved", 3: "refused (risk)", 4: "refused (liquidity)"}


@dataclass(frozen=True)
class Outcome:
    """One served request as the story reports it."""

    request_id: int
    applicant: str
    score: float
    decision: str
    verified: bool


def _serve(node: System, from_block: int, store: ModelStore, uri: str, scale: int, shape: tuple[int, ...]) -> int:
    """What the node does: read requests from the raw logs, fetch the model by hash, run, submit as one batch."""
    requests = node.requested(from_block)
    # One hash-checked fetch, one session and one terms read per model, not per request.
    models: dict[bytes, tuple[OnnxRunner, ModelTerms]] = {}
    items = []
    for event in requests:
        if event.model_id not in models:
            runner = OnnxRunner(store.fetch(event.model_id, uri), expected_id=event.model_id)
            models[event.model_id] = (runner, node.terms_of(event.model_id))
        runner, terms = models[event.model_id]
        features = codec.decode(event.input, shape, scale).astype(np.float32)
        output = codec.encode(runner.run_batch(features), scale)
        items.append((event.request_id, event.params(terms).as_abi(), output))
    node.sender.send(node.hub.functions.submitResults(items))
    return len(items)


def run(console: Console | None = None) -> list[Outcome]:
    """Runs the whole story on a fresh anvil and returns what happened (also printed to `console`)."""
    console = console or Console()
    work = Path(tempfile.mkdtemp(prefix="verinfer-demo-"))
    with Anvil.start() as anvil:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer, operator, lender, alice, bob = (
            TxSender(w3, Account.from_key(a.private_key), decoder) for a in anvil.accounts[:5]
        )
        console.rule("[bold]verinfer devnet")
        deployment = deploy(deployer)
        path = save_deployment(deployment, work / "deployment.json")
        console.print(f"anvil at {anvil.rpc_url}; hub {deployment.hub.address} (addresses in {path})")

        model = build_credit_model(work / "models")
        model_id = Web3.keccak(model.path.read_bytes())
        uri = model.path.as_uri()
        spec = ModelSpec(
            uri=uri,
            input_shape=model.input_shape,
            output_shape=model.output_shape,
            scale=SCALE,
            price=PRICE,
            modes=Mode.mask([Mode.SINGLE, Mode.CONSENSUS]),
        )
        owner = System.bind(deployer, deployment)
        owner.register_model(model_id, spec)
        console.print(f"registered model credit_risk: id = keccak256(file) = 0x{model_id.hex()}")

        node = System.bind(operator, deployment)
        env = manifest(OnnxRunner(model.path, expected_id=model_id))
        env_hash = manifest_hash(env)
        node.register_node(env_hash, [model_id], NODE_STAKE)
        console.print(
            f"node {operator.address} staked 2 ETH; environment 0x{env_hash.hex()[:16]}… "
            f"(onnxruntime {env['onnxruntime']}, {env['intra_op_threads']} thread)"
        )

        pool, _ = lender.deploy(load_artifact("LendingPool"), deployment.hub.address, model_id, THRESHOLD, SCORE_INDEX)
        lender.transfer(pool.address, 10 * ETHER)
        probabilities = OnnxRunner(model.path).run_batch(model.samples)[:, SCORE_INDEX]
        applicants = [
            (alice, model.samples[int(np.argmin(probabilities))]),
            (bob, model.samples[int(np.argmax(probabilities))]),
        ]
        start = w3.eth.block_number + 1
        ids = {}
        for sender, features in applicants:
            pool_as = sender.bind(load_artifact("LendingPool"), pool.address)
            receipt = sender.send(
                pool_as.functions.applyForLoan(codec.quantize(features, SCALE).tolist(), ETHER), value=PRICE
            )
            (event,) = node.requested(receipt["blockNumber"], receipt["blockNumber"])
            ids[event.request_id] = sender.address
        console.print(f"the lending pool requested {len(ids)} credit scores")

        store = ModelStore(work / "cache", max_bytes=50_000_000, timeout=10.0)
        served = _serve(node, start, store, uri, SCALE, model.input_shape)
        console.print(f"the node served {served} requests in one submitResults batch")

        decided = EventCodec.from_abi(pool.abi, "LoanDecided")
        pool_logs = list(w3.eth.get_logs({"address": pool.address, "fromBlock": start}))
        outcomes = []
        # Anyone can verify: a client of an uninvolved account, trusting only the chain and the model file.
        verifier = Client(anvil.rpc_url, anvil.accounts[5].private_key, deployment, cache_dir=work / "verify-cache")
        for log in decided.decode_all(pool_logs):
            request_id = log.args["requestId"]
            if owner.status_of(request_id) != Status.FULFILLED:
                raise ChainError(f"request {request_id} was decided but is not FULFILLED on the hub")
            verified = verifier.verify(request_id).matches
            outcomes.append(
                Outcome(
                    request_id,
                    ids[request_id],
                    log.args["score"] / SCALE,
                    DECISIONS.get(log.args["decision"], str(log.args["decision"])),
                    verified,
                )
            )

        table = Table(title="Requests served on the devnet")
        for column in ("request", "model hash", "environment", "output P(default)", "decision", "verified"):
            table.add_column(column)
        for o in outcomes:
            table.add_row(
                str(o.request_id),
                f"0x{model_id.hex()[:10]}…",
                f"0x{env_hash.hex()[:10]}…",
                f"{o.score:.4f}",
                o.decision,
                "✓" if o.verified else "✗ MISMATCH",
            )
        console.print(table)
    return outcomes


def main() -> None:
    outcomes = run()
    if not outcomes or not all(o.verified for o in outcomes):
        raise SystemExit("demo failed: a result did not verify")


if __name__ == "__main__":
    main()
