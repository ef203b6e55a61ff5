"""The devnet story, end to end: `devnet up` (anvil, contracts, demo models, three staked nodes running the node
service), then a lending pool asks for two applicants' credit scores; a node serves them; the pool's callback
approves one loan and refuses the other; anyone re-executes both results from chain data and confirms the
commitments; then a CONSENSUS request is served by the nodes that win its three seats (commit, reveal,
finalize), and a ZK request is proven by a node and its proof checked on chain before the result is recorded;
both verified too. It ends with the link to each request's page in the devnet's explorer, where the reader's own
browser checks the result again.

Then text: an agent asks the demo language model a question in CONSENSUS, answered by the nodes that win its
three seats (they agree on the token ids) and verified by regenerating the answer token by token; and a DAO's
proposal is classified by the spam classifier, a string in and P(spam) out, verified by re-running it.

Last, a lying node: bob, refused, applies again, and mallory's node (staked far above the honest nodes, so the
lottery gives it his request first) answers with P(default) = 0. The honest nodes are watchtowers: one re-executes
the provisional answer, sees the mismatch and challenges it; a committee drawn from the others re-executes in
commit-reveal; the dispute overturns the lie and slashes the liar, the pool's fee comes back out of the slash, and
the pool, which waits for final results, decides on the committee's score: refused. The devnet's clock is moved past
each window instead of waiting it out.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from eth_account import Account
from eth_typing import ChecksumAddress
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from verinfer.chain.artifacts import load_abi, load_artifact
from verinfer.chain.events import EventCodec
from verinfer.chain.lottery import Lottery
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.config import RunnerConfig
from verinfer.demo.models import build_credit_model
from verinfer.devnet import Devnet, DevnetInfo
from verinfer.errors import ChainError, ConfigError
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client, InferenceResult
from verinfer.sdk.client import request_logs, request_params
from verinfer.sdk.disputes import balance_of
from verinfer.sdk.operator import Operator, environment_hash
from verinfer.types import DisputeState, Mode, Status

ETHER = 10**18
SCALE = 1_000_000
THRESHOLD = SCALE // 2  # approve when P(default) < 0.5
SCORE_INDEX = 1
DECISIONS = {2: "approved", 3: "refused (risk)", 4: "refused (liquidity)"}
WAIT_S = 120.0
ALICE, BOB, VERIFIER, MALLORY = range(4)  # indexes into the devnet's spare accounts
LIAR_STAKE = 1_000 * ETHER
"""The lying node's stake: some 99% of the credit model's serving stake, so its ticket nearly always opens first."""
LIE_LOAN = 5 * ETHER
"""What bob asks for the second time, with the liar on his side."""
LIE_ATTEMPTS = 3
MIN_NODES, MAX_NODES = 2, 4
LIE_LEAD_S = 2
"""How long before every honest node's window the liar's must open for its answer to be surely the first (block
times are whole seconds, and the honest nodes are running)."""


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
    caught: Caught | None = None
    """For the lying node's request: its lie and the dispute that overturned it."""
    question: str | None = None
    """For a text request: the prompt or the text classified (`decision` holds the answer or the verdict)."""


@dataclass(frozen=True)
class Caught:
    """The lying node's chapter: its lie, the dispute that overturned it, and what the lie cost."""

    liar: ChecksumAddress
    lie_score: float
    """The P(default) the liar recorded (the request's `score` is the final one)."""
    lie_verified: bool
    """Whether re-executing the liar's provisional result gave it (it must not)."""
    loan: int
    challenger: ChecksumAddress
    bond: int
    committee: tuple[ChecksumAddress, ...]
    honest_nodes: tuple[ChecksumAddress, ...]
    """The devnet's nodes (all watchtowers), none of them the liar."""
    dispute: DisputeState
    status: Status
    stake_before: int
    stake_after: int
    slashed: int
    """What `DisputeResolved` says the liar lost."""
    refund: int
    """What the pool's hub balance gained: its fee, refunded out of the slash."""
    challenger_paid: int
    """The challenger's balance in the dispute contract: its bond back and half of the slash left after the refund."""


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


def _open_pool(info: DevnetInfo, console: Console) -> Contract:
    """The lender deploys a LendingPool on the credit model and funds it."""
    lender = TxSender(connect(info.rpc_url), info.user_account(), RevertDecoder.for_system())
    pool, _ = lender.deploy(
        load_artifact("LendingPool"),
        info.deployment.hub.address,
        info.model("credit_risk").model_id,
        THRESHOLD,
        SCORE_INDEX,
    )
    lender.transfer(pool.address, 10 * ETHER)
    console.print(f"lender {lender.address} deployed LendingPool {pool.address} (funded with 10 ETH)")
    return pool


def _applicants(info: DevnetInfo, work: Path) -> dict[str, npt.NDArray[np.float64]]:
    """Alice's features are the credit model's safest sample, bob's its riskiest."""
    samples = build_credit_model(work / "models").samples  # the same bytes and id as the registered model
    probabilities = OnnxRunner(info.model("credit_risk").path).run_batch(samples)[:, SCORE_INDEX]
    return {"alice": samples[int(np.argmin(probabilities))], "bob": samples[int(np.argmax(probabilities))]}


def _apply(info: DevnetInfo, pool: Contract, account: int, features: npt.NDArray[np.float64], amount: int) -> int:
    """Spare account `account` applies to the pool for `amount` wei, paying the model's price; the request's id."""
    w3 = connect(info.rpc_url)
    sender = TxSender(w3, Account.from_key(info.spare[account].private_key), RevertDecoder.for_system())
    price = System.bind(sender, info.deployment).terms_of(info.model("credit_risk").model_id).price
    pool_as = sender.bind(load_artifact("LendingPool"), pool.address)
    receipt = sender.send(pool_as.functions.applyForLoan(codec.quantize(features, SCALE).tolist(), amount), value=price)
    requested = EventCodec.from_abi(load_abi("InferenceHub"), "InferenceRequested")
    (event,) = requested.decode_all([log for log in receipt["logs"] if requested.matches(log)])
    return int(event.args["requestId"])


def _decisions(w3: Web3, pool: Contract, start: int) -> list[dict[str, int]]:
    """The pool's `LoanDecided` events from block `start`, oldest first."""
    logs = w3.eth.get_logs({"address": pool.address, "fromBlock": start})
    return [dict(log.args) for log in EventCodec.from_abi(pool.abi, "LoanDecided").decode_all(list(logs))]


def _lending(info: DevnetInfo, console: Console, work: Path, pool: Contract) -> list[Outcome]:
    """Two applicants apply to the LendingPool; the nodes serve the scores; the callback decides; anyone verifies."""
    w3 = connect(info.rpc_url)
    lender = TxSender(w3, info.user_account(), RevertDecoder.for_system())
    applicants = _applicants(info, work)
    start = w3.eth.block_number + 1
    who = {
        _apply(info, pool, ALICE, applicants["alice"], ETHER): "alice",
        _apply(info, pool, BOB, applicants["bob"], ETHER): "bob",
    }
    console.print(f"alice and bob applied; the pool requested credit scores {sorted(who)} (SINGLE mode)")

    def decisions() -> list[dict[str, int]]:
        return _decisions(w3, pool, start)

    # The pool asks for its callback at finality: a score is provisional until its challenge window passes
    # unchallenged; then the node that served it delivers the callback (`deliverFinal`) and the pool decides.
    hub = lender.bind(load_artifact("InferenceHub"), info.deployment.hub.address)
    _wait("serve both scores", lambda: all(Status(hub.functions.statusOf(r).call()) != Status.PENDING for r in who))
    # Anyone can re-execute a provisional result while its window runs (a watchtower does): verified now.
    verifier = _verifier(info, work)
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
    verifier = _verifier(info, work)
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
    verifier = _verifier(info, work)
    logit = float(result.output.reshape(-1)[0])
    return _outcome(
        verifier, result, "user", 1.0 / (1.0 + math.exp(-logit)), "-", zk_artifacts_dir=info.state_dir / "zk"
    )


AGENT_QUESTION = "Q: How is an answer checked? A:"
PROPOSAL = "raise the usdc reserve factor to fifteen percent to rebuild the insurance fund"


def _text(info: DevnetInfo, work: Path) -> list[Outcome]:
    """An agent's question to the language model in CONSENSUS (the seats' holders commit and reveal the same token
    ids), verified by regeneration; and a proposal scored by the spam classifier, verified by re-running it."""
    client = Client(info.rpc_url, info.user.private_key, info.deployment, cache_dir=work / "user-cache")
    lm = info.model("zen_lm")
    asked = client.generate(lm.model_id, AGENT_QUESTION, Mode.CONSENSUS, max(3, len(info.nodes)))
    spam = info.model("proposal_spam")
    classified = client.classify(spam.model_id, PROPOSAL)
    _wait("answer the agent's question", lambda: asked.status() != Status.PENDING)
    _wait("classify the proposal", lambda: classified.status() != Status.PENDING)
    verifier = _verifier(info, work)
    answer = asked.result(timeout=0)
    score = float(classified.result(timeout=0).output.reshape(-1)[0])
    verdict = "spam" if score >= 0.5 else "not spam"
    return [
        dataclasses.replace(
            _outcome(verifier, answer, "agent", math.nan, (answer.text or "").strip()), question=AGENT_QUESTION
        ),
        dataclasses.replace(_outcome(verifier, classified.result(timeout=0), "dao", score, verdict), question=PROPOSAL),
    ]


def _lying_node(info: DevnetInfo, console: Console, work: Path, pool: Contract) -> Outcome:
    """Bob, refused, applies again with mallory's node on his side: it stakes enough to be first in the lottery and
    answers with P(default) = 0. The honest nodes' watchtowers re-execute the answer and one challenges it; a
    committee of the others (never the liar or the challenger) re-executes in commit-reveal; the dispute overturns
    the lie, slashes the liar and refunds the pool's fee; the pool decides on the committee's score."""
    w3 = connect(info.rpc_url)
    credit = info.model("credit_risk")
    mallory = Client(info.rpc_url, info.spare[MALLORY].private_key, info.deployment, cache_dir=work / "liar-cache")
    liar, system = mallory.address, mallory.system
    honest = tuple(node.address for node in info.nodes)
    stake_before = _register_liar(w3, mallory, credit.model_id)
    share = stake_before / (stake_before + sum(_stake(system, node, credit.model_id) for node in honest))
    console.print(
        f"bob, refused, applies again for {LIE_LOAN // ETHER} ETH: mallory registers node {liar} with "
        f"{stake_before / ETHER:g} ETH at stake ({share:.1%} of the credit model's serving stake), to be first in "
        "the lottery, and will answer with P(default) = 0"
    )
    refunds_before = _hub_balance(system, pool.address)
    start = w3.eth.block_number + 1
    rid, opens_at = _application_the_liar_serves_first(info, console, work, pool, mallory)
    _at(w3, opens_at)  # the liar's window, still before any honest node's
    lie = _lie(mallory, rid)
    verifier = _verifier(info, work)
    lie_verified = verifier.verify(rid).matches
    console.print(
        f"mallory's node answered request {rid} with P(default) = {lie:.4f} before any honest node's window opened; "
        f"re-executed from chain data it does {'' if lie_verified else 'not '}match: the provisional score would "
        f"approve bob's {LIE_LOAN // ETHER} ETH once final"
    )

    _wait("challenge the lie", lambda: system.status_of(rid) == Status.DISPUTED)
    opened = mallory.finality(rid).dispute
    if opened is None:
        raise ChainError(f"request {rid} is DISPUTED but the dispute contract shows no dispute")
    name = {node.address: f"node {node.index}" for node in info.nodes}
    console.print(
        f"{name.get(opened.challenger, opened.challenger)} ({opened.challenger}), a watchtower, re-executed it, "
        f"saw the mismatch and challenged with a {opened.bond / ETHER:g} ETH bond; a committee of 3 seats is drawn "
        "from the other nodes by the stake-weighted lottery, and the devnet's clock moves until every seat is open"
    )
    _at(w3, Lottery.unpack(opened.lottery).opens_to_all_at + 1)

    def ended() -> bool:
        dispute = mallory.finality(rid).dispute
        return dispute is not None and dispute.state != DisputeState.OPEN

    _wait("commit, reveal and resolve the dispute", ended)
    final = mallory.finality(rid)
    dispute = final.dispute
    if dispute is None:
        raise ChainError(f"request {rid}'s dispute vanished")
    # The dispute's resolution called the pool back (CALLBACK_ON_FINAL) in the same transaction.
    decided = [d for d in _decisions(w3, pool, start) if int(d["requestId"]) == rid]
    if not decided:
        raise ChainError(f"request {rid}'s dispute ended {dispute.state.name} but the pool decided nothing")
    (resolved,) = request_logs(system, "DisputeResolved", rid, start, contract=system.disputes)
    result, matches = _verified(verifier, verifier.handle(rid).result(timeout=0))
    caught = Caught(
        liar=liar,
        lie_score=lie,
        lie_verified=lie_verified,
        loan=LIE_LOAN,
        challenger=dispute.challenger,
        bond=dispute.bond,
        committee=dispute.members,
        honest_nodes=honest,
        dispute=dispute.state,
        status=final.status,
        stake_before=stake_before,
        stake_after=_stake(system, liar, credit.model_id),
        slashed=int(resolved.args["slashed"]),
        refund=_hub_balance(system, pool.address) - refunds_before,
        challenger_paid=balance_of(system, dispute.challenger),
    )
    score, decision = decided[0]["score"] / SCALE, DECISIONS.get(decided[0]["decision"], str(decided[0]["decision"]))
    console.print(
        f"the committee ({', '.join(name.get(m, m) for m in dispute.members)}) revealed P(default) = {score:.4f}; "
        f"the dispute ended {dispute.state.name}, the liar lost {caught.slashed / ETHER:g} ETH of stake, and the "
        f"pool, which waits for final results, decided: {decision}"
    )
    outcome = _outcome_of(result, "bob + liar", score, decision, matches)
    return dataclasses.replace(outcome, caught=caught)


def _application_the_liar_serves_first(
    info: DevnetInfo, console: Console, work: Path, pool: Contract, liar: Client
) -> tuple[int, int]:
    """Bob applies until the lottery opens the liar's window `LIE_LEAD_S` before every honest node's (its stake makes
    that nearly certain, but not certain); the request's id and when the liar may answer it."""
    bob = _applicants(info, work)["bob"]
    for _attempt in range(LIE_ATTEMPTS):
        rid = _apply(info, pool, BOB, bob, LIE_LOAN)
        windows = liar.handle(rid).assignment().windows
        mine = next(w.opens_at for w in windows if w.node == liar.address)
        if all(mine + LIE_LEAD_S <= w.opens_at for w in windows if w.node != liar.address):
            return rid, mine
        console.print(f"  the lottery opened an honest node's window near the liar's on request {rid}: bob tries again")
    raise ChainError(
        f"in {LIE_ATTEMPTS} applications the lottery never gave the liar's {LIAR_STAKE // ETHER} ETH node the first "
        "window: the story's odds are off (was the honest nodes' stake raised?)"
    )


def _register_liar(w3: Web3, liar: Client, model_id: bytes) -> int:
    """Registers the liar's node for `model_id` with `LIAR_STAKE`, in the environment the honest nodes run; its stake.
    The clock then moves a second: tickets go to stakes older than the request."""
    env_hash = environment_hash(RunnerConfig().intra_op_threads, RunnerConfig().graph_optimization_level)
    Operator(liar.system).register(env_hash, [model_id], LIAR_STAKE)
    _travel(w3, 1)
    return _stake(liar.system, liar.address, model_id)


def _lie(liar: Client, request_id: int) -> float:
    """The liar's answer, submitted as any node submits (`submitResult`): the applicant is certain to repay. Returns
    the P(default) it recorded."""
    _event, params = request_params(liar.system, request_id)
    spec = liar.model(params.model_id)
    lie = np.array([1.0, 0.0]).reshape(spec.output_shape)  # P(repay), P(default)
    liar.system.sender.send(
        liar.system.hub.functions.submitResult(request_id, params.as_abi(), codec.encode(lie, spec.scale))
    )
    return float(lie.reshape(-1)[SCORE_INDEX])


def _at(w3: Web3, timestamp: int) -> None:
    """Moves the devnet's clock on to `timestamp` unless it is there already."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    if timestamp > now:
        _travel(w3, timestamp - now)


def _stake(system: System, node: str, model_id: bytes) -> int:
    """`node`'s stake as the registry weighs it for `model_id`, in wei."""
    return int(system.sender.call(system.nodes.functions.standing(node, model_id))[2])


def _hub_balance(system: System, account: str) -> int:
    """`account`'s withdrawable balance on the hub (refunds land there), in wei."""
    return int(system.sender.call(system.hub.functions.balanceOf(account)))


def _verifier(info: DevnetInfo, work: Path) -> Client:
    """An account that takes part in nothing: it re-executes results from chain data and the model file alone."""
    return Client(info.rpc_url, info.spare[VERIFIER].private_key, info.deployment, cache_dir=work / "verify-cache")


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
    if not MIN_NODES <= nodes <= MAX_NODES:
        raise ConfigError(
            f"the story runs {MIN_NODES} to {MAX_NODES} nodes (a challenger and a committee for the lying node, and "
            f"spare accounts for the applicants, a verifier and the liar), got {nodes}"
        )
    work = Path(tempfile.mkdtemp(prefix="verinfer-demo-"))
    state = state_dir or work / "devnet"
    console.rule("[bold]verinfer devnet")
    with Devnet(
        state,
        nodes=nodes,
        deployment_file=work / "deployment.json",
        on_step=lambda step: console.print(f"[dim]…[/dim] {step}"),
        watchtower=True,  # the honest nodes catch the lying node
    ) as devnet:
        info = devnet.info
        console.print(f"anvil at {info.rpc_url}; hub {info.deployment.hub.address}")
        for model in info.models:
            console.print(f"model {model.name}: id = keccak256(file) = 0x{model.model_id.hex()}")
        for node in info.nodes:
            console.print(
                f"node {node.index} {node.address}: staked, serving, watching, metrics on :{node.metrics_port}"
            )
        pool = _open_pool(info, console)
        outcomes = _lending(info, console, work, pool)
        outcomes.append(_consensus(info, work))
        outcomes.append(_zk(info, work))
        outcomes.append(_lying_node(info, console, work, pool))
        outcomes.extend(_text(info, work))
        _print_table(console, [o for o in outcomes if o.caught is None and o.question is None])
        for outcome in outcomes:
            _print_caught(console, outcome)
        _print_text(console, [o for o in outcomes if o.question is not None])
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


def _print_text(console: Console, outcomes: list[Outcome]) -> None:
    table = Table(title="Text answered on the devnet")
    for column in ("request", "mode", "who", "asked", "answer", "node(s)", "verified"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            str(o.request_id),
            o.mode.name,
            o.who,
            o.question or "",
            o.decision if math.isnan(o.score) else f"{o.decision} (P(spam) = {o.score:.3f})",
            ", ".join(f"{n[:8]}…" for n in dict.fromkeys(o.nodes)),
            "✓ regenerated" if o.verified and math.isnan(o.score) else "✓" if o.verified else "✗ MISMATCH",
        )
    console.print(table)


def _print_caught(console: Console, outcome: Outcome) -> None:
    caught = outcome.caught
    if caught is None:
        return
    table = Table(title=f"A lying node, caught (request {outcome.request_id})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("on chain")
    committee = ", ".join(f"{m[:8]}…" for m in caught.committee)
    rows = [
        ("liar", f"{caught.liar} (mallory's node), not one of the devnet's nodes"),
        ("its answer", f"P(default) = {caught.lie_score:.4f} for bob (re-executed: {_matches(caught.lie_verified)})"),
        ("challenged by", f"{caught.challenger} (a watchtower), bond {caught.bond / ETHER:g} ETH"),
        ("committee", f"{committee} (3 seats, neither the liar nor the challenger)"),
        ("dispute", f"{caught.dispute.name}; the request is {caught.status.name}"),
        (
            "final answer",
            f"P(default) = {outcome.score:.4f}, the committee's (re-executed: {_matches(outcome.verified)})",
        ),
        ("pool's decision", f"{outcome.decision}, made only once the result was final"),
        ("liar's stake", f"{caught.stake_before / ETHER:g} ETH -> {caught.stake_after / ETHER:g} ETH"),
        ("slashed", f"{caught.slashed / ETHER:g} ETH"),
        ("pool's fee", f"{caught.refund / ETHER:g} ETH refunded out of the slash"),
        ("challenger", f"{caught.challenger_paid / ETHER:g} ETH to withdraw (bond back and half the rest)"),
        (
            "the attack",
            f"cost {caught.slashed / ETHER:g} ETH of stake for a {caught.loan / ETHER:g} ETH loan never paid: the "
            "stake that bought the first window is the stake at risk",
        ),
    ]
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)


def _matches(ok: bool) -> str:
    return "matches" if ok else "MISMATCH"


def main() -> None:
    outcomes = run()
    if not outcomes or not all(o.verified for o in outcomes):
        raise SystemExit("demo failed: a result did not verify")


if __name__ == "__main__":
    main()
