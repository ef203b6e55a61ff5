"""The devnet story, end to end: `devnet up` (anvil, contracts, demo models, three staked nodes running the node
service), then a lending pool asks for two applicants' credit scores; a node serves them; the pool's callback
approves one loan and refuses the other; anyone re-executes both results from chain data and confirms the
commitments; then a CONSENSUS request is served by the nodes that win its three seats (commit, reveal,
finalize), and a ZK request is proven by a node and its proof checked on chain before the result is recorded;
both verified too. It ends with the link to each request's page in the devnet's explorer, where the reader's own
browser checks the result again.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.types import RPCEndpoint

from verinfer.chain.artifacts import load_abi, load_artifact
from verinfer.chain.events import EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender, connect
from verinfer.demo.models import build_credit_model
from verinfer.devnet import Devnet, DevnetInfo
from verinfer.errors import ChainError
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client, InferenceResult
from verinfer.types import Mode, Status

ETHER = 10**18
SCALE = 1_000_000
THRESHOLD = SCALE // 2  # approve when P(default) < 0.5
SCORE_INDEX = 1
DECISIONS = {2: "approved", 3: "refused (risk)", 4: "refused (liquidity)"}
WAIT_S = 120.0


@dataclass(frozen=True)
class Outcome:
    """One served request as the story reports it."""

    request_id: int
    mode: Mode
    who: str
    score: float
    decision: str
    nodes: tuple[str, ...]
    env_hashes: tuple[bytes, ...]
    verified: bool
    model_id: bytes


def _wait(what: str, done: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise ChainError(f"the devnet did not {what} within {timeout:.0f}s; see the node logs")
        time.sleep(0.2)


def _travel(w3: Web3, seconds: int) -> None:
    """Moves the devnet's clock `seconds` on and mines a block there (anvil), instead of waiting them out."""
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def _lending(info: DevnetInfo, console: Console, work: Path) -> list[Outcome]:
    """Two applicants apply to the LendingPool; the nodes serve the scores; the callback decides; anyone verifies."""
    w3 = connect(info.rpc_url)
    decoder = RevertDecoder.for_system()
    credit = info.model("credit_risk")
    samples = build_credit_model(work / "models").samples  # the same bytes and id as the registered model
    lender = TxSender(w3, info.user_account(), decoder)
    pool, _ = lender.deploy(
        load_artifact("LendingPool"), info.deployment.hub.address, credit.model_id, THRESHOLD, SCORE_INDEX
    )
    lender.transfer(pool.address, 10 * ETHER)
    console.print(f"lender {lender.address} deployed LendingPool {pool.address} (funded with 10 ETH)")

    probabilities = OnnxRunner(credit.path).run_batch(samples)[:, SCORE_INDEX]
    applicants = [
        ("alice", info.spare[0], samples[int(np.argmin(probabilities))]),
        ("bob", info.spare[1], samples[int(np.argmax(probabilities))]),
    ]
    price = Client(info.rpc_url, info.user.private_key, info.deployment).system.terms_of(credit.model_id).price
    who: dict[int, str] = {}
    requested = EventCodec.from_abi(load_abi("InferenceHub"), "InferenceRequested")
    start = w3.eth.block_number + 1
    for name, account, features in applicants:
        sender = TxSender(w3, Account.from_key(account.private_key), decoder)
        pool_as = sender.bind(load_artifact("LendingPool"), pool.address)
        receipt = sender.send(
            pool_as.functions.applyForLoan(codec.quantize(features, SCALE).tolist(), ETHER), value=price
        )
        (event,) = requested.decode_all([log for log in receipt["logs"] if requested.matches(log)])
        who[int(event.args["requestId"])] = name
    console.print(f"alice and bob applied; the pool requested credit scores {sorted(who)} (SINGLE mode)")

    decided = EventCodec.from_abi(pool.abi, "LoanDecided")

    def decisions() -> list[dict[str, int]]:
        logs = w3.eth.get_logs({"address": pool.address, "fromBlock": start})
        return [dict(log.args) for log in decided.decode_all(list(logs))]

    # The pool asks for its callback at finality: a score is provisional until its challenge window passes
    # unchallenged; then the node that served it delivers the callback (`deliverFinal`) and the pool decides.
    hub = lender.bind(load_artifact("InferenceHub"), info.deployment.hub.address)
    _wait("serve both scores", lambda: all(Status(hub.functions.statusOf(r).call()) != Status.PENDING for r in who))
    # Anyone can re-execute a provisional result while its window runs (a watchtower does): verified now.
    verifier = Client(info.rpc_url, info.spare[2].private_key, info.deployment, cache_dir=work / "verify-cache")
    checked = {rid: _verified(verifier, verifier.handle(rid).result(timeout=0)) for rid in sorted(who)}
    window = int(hub.functions.params().call()[2])
    console.print(
        f"both scores delivered and re-executed by a verifier, provisional for the {window}s challenge window; "
        "the devnet's clock moves past it"
    )
    _travel(w3, window + 1)
    _wait("decide both loans", lambda: len(decisions()) == len(who))
    outcomes = []
    # In request order: with the lottery, the second request may be served (and decided) first.
    for args in sorted(decisions(), key=lambda decided_args: int(decided_args["requestId"])):
        rid = int(args["requestId"])
        result, matches = checked[rid]
        decision = DECISIONS.get(args["decision"], str(args["decision"]))
        outcomes.append(_outcome_of(result, who[rid], args["score"] / SCALE, decision, matches))
    return outcomes


def _consensus(info: DevnetInfo, work: Path) -> Outcome:
    """A CONSENSUS request (redundancy 3, one seat per node): the seats go by lottery (a node may win several),
    their holders commit, reveal and settle; the result names the agreeing nodes."""
    client = Client(info.rpc_url, info.user.private_key, info.deployment, cache_dir=work / "user-cache")
    credit = info.model("credit_risk")
    samples = build_credit_model(work / "models").samples
    handle = client.request(credit.model_id, samples[0], mode=Mode.CONSENSUS, redundancy=max(3, len(info.nodes)))
    _wait("settle the consensus round", lambda: handle.status() != Status.PENDING)
    result = handle.result(timeout=0)
    verifier = Client(info.rpc_url, info.spare[2].private_key, info.deployment, cache_dir=work / "verify-cache")
    score = float(result.output.reshape(-1)[SCORE_INDEX])
    return _outcome(verifier, result, "user", score, "-")


def _zk(info: DevnetInfo, work: Path) -> Outcome:
    """A ZK request for the credit model's ZK form: a node proves the inference, the hub checks the proof with the
    model's verifier before recording it, and anyone re-checks the proof (on chain and against the verifying key)."""
    client = Client(info.rpc_url, info.user.private_key, info.deployment, cache_dir=work / "user-cache")
    model = info.model("credit_risk_zk")
    samples = build_credit_model(work / "models").samples
    handle = client.request(model.model_id, samples[1], mode=Mode.ZK)
    _wait("prove and deliver the ZK request", lambda: handle.status() != Status.PENDING)
    result = handle.result(timeout=0)
    verifier = Client(info.rpc_url, info.spare[2].private_key, info.deployment, cache_dir=work / "verify-cache")
    logit = float(result.output.reshape(-1)[0])
    return _outcome(
        verifier, result, "user", 1.0 / (1.0 + math.exp(-logit)), "-", zk_artifacts_dir=info.state_dir / "zk"
    )


def _outcome(
    verifier: Client,
    result: InferenceResult,
    who: str,
    score: float,
    decision: str,
    zk_artifacts_dir: Path | None = None,
) -> Outcome:
    _, matches = _verified(verifier, result, zk_artifacts_dir)
    return _outcome_of(result, who, score, decision, matches)


def _verified(
    verifier: Client, result: InferenceResult, zk_artifacts_dir: Path | None = None
) -> tuple[InferenceResult, bool]:
    """The result and whether re-executing it from chain data gives the recorded commitment."""
    return result, verifier.verify(result.request_id, zk_artifacts_dir=zk_artifacts_dir).matches


def _outcome_of(result: InferenceResult, who: str, score: float, decision: str, verified: bool) -> Outcome:
    return Outcome(
        result.request_id,
        result.mode,
        who,
        score,
        decision,
        tuple(result.nodes),
        tuple(result.env_hashes),
        verified,
        result.model_id,
    )


def run(console: Console | None = None, state_dir: Path | None = None, nodes: int = 3) -> list[Outcome]:
    """Runs the whole story on a fresh devnet and returns what happened (also printed to `console`)."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)  # a log file or pipe: no terminal width to fit, keep the table readable
    work = Path(tempfile.mkdtemp(prefix="verinfer-demo-"))
    state = state_dir or work / "devnet"
    console.rule("[bold]verinfer devnet")
    with Devnet(
        state,
        nodes=nodes,
        deployment_file=work / "deployment.json",
        on_step=lambda step: console.print(f"[dim]…[/dim] {step}"),
    ) as devnet:
        info = devnet.info
        console.print(f"anvil at {info.rpc_url}; hub {info.deployment.hub.address}")
        for model in info.models:
            console.print(f"model {model.name}: id = keccak256(file) = 0x{model.model_id.hex()}")
        for node in info.nodes:
            console.print(f"node {node.index} {node.address}: staked, serving, metrics on :{node.metrics_port}")
        outcomes = _lending(info, console, work)
        outcomes.append(_consensus(info, work))
        outcomes.append(_zk(info, work))
        _print_table(console, outcomes)
        _print_pages(console, info, outcomes)
    return outcomes


def _print_pages(console: Console, info: DevnetInfo, outcomes: list[Outcome]) -> None:
    if info.explorer_url is None:
        return
    console.print(f"Explorer {info.explorer_url}: check each result in your own browser")
    for o in outcomes:
        console.print(f"  request {o.request_id} ({o.mode.name}, {o.who}): {info.request_url(o.request_id)}")
    console.print("[dim](the devnet and its explorer stop with the story; `verinfer devnet up` runs one that stays up)")


def _print_table(console: Console, outcomes: list[Outcome]) -> None:
    table = Table(title="Requests served on the devnet")
    for column in ("request", "mode", "who", "model", "env", "node(s)", "P(default)", "decision", "verified"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            str(o.request_id),
            o.mode.name,
            o.who,
            f"0x{o.model_id.hex()[:10]}…",
            ", ".join(f"0x{e.hex()[:8]}…" for e in dict.fromkeys(o.env_hashes)),
            ", ".join(f"{n[:8]}…" for n in o.nodes),
            f"{o.score:.4f}",
            o.decision,
            "✓" if o.verified else "✗ MISMATCH",
        )
    console.print(table)


def main() -> None:
    outcomes = run()
    if not outcomes or not all(o.verified for o in outcomes):
        raise SystemExit("demo failed: a result did not verify")


if __name__ == "__main__":
    main()
