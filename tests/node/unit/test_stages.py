"""Each stage of the node alone, on a real journal in a temporary file and fakes for everything else (a sender, a
hub reader, a clock, a model catalog, a proving pool): compute, submit, consensus, track, prove, the reorg handler
and the upgrade of schema 3 journals at ingestion."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from verinfer.chain import commitments
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.jsonrpc import RpcError
from verinfer.chain.nonces import NonceManager
from verinfer.chain.txmanager import Receipt, Signed
from verinfer.chain.watcher import KnownBlocks, LogBatch, Position
from verinfer.errors import ContractRevert, ModelError
from verinfer.node.calldata import HubCalldata
from verinfer.node.compute import Compute, Policy
from verinfer.node.consensus import Consensus
from verinfer.node.ingest import Ingest
from verinfer.node.journal import SCHEMA_VERSION, JobState, Journal
from verinfer.node.metrics import NodeMetrics
from verinfer.node.ports import Model, Round
from verinfer.node.prove import Prove
from verinfer.node.prover import Proven
from verinfer.node.reorg import ReorgHandler
from verinfer.node.request import LEGACY_PARAMS_BYTES, event_params, params_of
from verinfer.node.submit import Submit
from verinfer.node.track import Track
from verinfer.types import Mode, ModelId, ModelTerms, RequestId, RequestParams, SkipReason, Status, checksum

pytestmark = pytest.mark.usefixtures("forge_build")

HUB = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
NODE = checksum("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
REQUESTER = checksum("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
MODEL = ModelId(b"\x07" * 32)
OTHER_MODEL = ModelId(b"\x08" * 32)
TERMS = ModelTerms(
    price=10, input_bytes=4, output_bytes=8, modes=7, deprecated=False, env_restricted=False, exists=True, scale=10**6
)
NOW = 1_700_000_000
LOTTERY = 5 << 136  # the fakes open every window; the word only has to travel
BLOCK_HASH = b"\x01" * 32


# ------------------------------------------------------------------------------------------------------------ fakes


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.lines.append((level, event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self._record("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._record("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._record("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._record("error", event, fields)

    def events(self) -> list[str]:
        return [event for _, event, _ in self.lines]


class FakeChainNonces:
    """The pending count a NonceManager reads."""

    def __init__(self) -> None:
        self.pending = 0

    def pending_nonce(self, address: str) -> int:
        return self.pending


class FakeSender:
    """Estimates, signs and broadcasts without a chain: a revert is chosen per call data, a signed transaction's
    hash is the keccak of its nonce and data, and everything sent is remembered."""

    def __init__(self) -> None:
        self.address = NODE
        self.nonces = NonceManager(FakeChainNonces(), NODE)
        self.reverts: list[tuple[bytes, ContractRevert]] = []  # (bytes the data contains, the revert)
        self.estimates: list[bytes] = []
        self.sent: list[Signed] = []
        self.raw_sent: list[bytes] = []
        self.refuse_raw: RpcError | None = None
        self.mined: dict[bytes, Receipt] = {}
        self.pooled: set[bytes] = set()
        self.replay_reason: str | None = "InsufficientGasForCallback(requestId=1)"
        self.block_reads: list[list[int]] = []

    def estimate_gas(self, to: str, data: bytes) -> int:
        self.estimates.append(data)
        for needle, revert in self.reverts:
            if needle in data:
                raise revert
        return 100_000

    def sign(self, to: str, data: bytes, gas: int, kind: str) -> Signed:
        nonce = self.nonces.reserve()
        return Signed(bytes(keccak(nonce.to_bytes(8, "big") + data)), nonce, b"raw:" + data, kind, 2_000, 100)

    def broadcast(self, signed: Sequence[Signed]) -> list[RpcError | None]:
        self.sent.extend(signed)
        self.pooled.update(tx.hash for tx in signed)
        return [None] * len(signed)

    def receipts(self, hashes: Iterable[bytes]) -> dict[bytes, Receipt | None]:
        return {h: self.mined.get(h) for h in hashes}

    def known(self, hashes: Iterable[bytes]) -> dict[bytes, bool]:
        return {h: h in self.pooled or h in self.mined for h in hashes}

    def block_transactions(self, numbers: Iterable[int]) -> dict[int, frozenset[bytes]]:
        wanted = sorted(set(numbers))
        self.block_reads.append(wanted)
        return {n: frozenset(h for h, r in self.mined.items() if r.block_number == n) for n in wanted}

    def broadcast_raw(self, raws: Sequence[bytes]) -> list[RpcError | None]:
        self.raw_sent.extend(raws)
        return [self.refuse_raw] * len(raws)

    def replacement(self, raw: bytes, kind: str) -> Signed:
        return Signed(bytes(keccak(b"bumped" + raw)), 0, b"bumped" + raw, kind, 3_000, 200)

    def resign(self, raw: bytes, kind: str) -> Signed:
        return self.sign(HUB, raw, 100_000, kind)

    def cancel(self, nonce: int, floor: tuple[int, int] | None = None) -> Signed:
        return Signed(bytes(keccak(b"cancel" + nonce.to_bytes(8, "big"))), nonce, b"cancel", "cancel", 21_000, 100)

    def revert_reason(self, raw: bytes, block_number: int) -> str | None:
        return self.replay_reason


@dataclass
class FakeHub:
    statuses: dict[int, Status] = field(default_factory=dict)
    rounds: dict[int, Round] = field(default_factory=dict)
    ineligible: dict[bytes, str] = field(default_factory=dict)
    own_events: dict[tuple[str, int], bytes] = field(default_factory=dict)
    terms_reads: list[bytes] = field(default_factory=list)
    unassigned: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)
    escalations: dict[int, int] = field(default_factory=dict)  # request id => block of its ConsensusEscalated
    votes: dict[int, int] = field(default_factory=dict)  # request id => this node's vote seats
    head: int = 100

    def terms_of(self, model_id: bytes) -> ModelTerms:
        self.terms_reads.append(model_id)
        return TERMS

    def status_of(self, request_id: int) -> Status:
        return self.statuses.get(request_id, Status.PENDING)

    def statuses_of(self, request_ids: Sequence[int]) -> dict[int, Status]:
        return {rid: self.status_of(rid) for rid in request_ids}

    def round_of(self, request_id: int) -> Round:
        return self.rounds[request_id]

    def eligible(self, model_id: bytes) -> str | None:
        return self.ineligible.get(model_id)

    def seats_open(self, request_id: int, params: RequestParams, now: int) -> int | str:
        """Every seat open, unless the request is listed in `unassigned` (no ticket) or `waiting` (not yet)."""
        if request_id in self.unassigned:
            return "no lottery ticket"
        return 0 if request_id in self.waiting else (1 << max(params.redundancy, 1)) - 1

    def own_event_tx(self, event: str, request_id: int, from_block: int) -> bytes | None:
        return self.own_events.get((event, request_id))

    def escalated_between(self, from_block: int, to_block: int) -> list[int]:
        return [rid for rid, block in sorted(self.escalations.items()) if from_block <= block <= to_block]

    def block_number(self) -> int:
        return self.head

    def vote_seats(self, request_id: int) -> int:
        return self.votes.get(request_id, 0)


class FakeClock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def chain_time(self) -> int:
        return self.now


class FakeFees:
    def __init__(self, gas_price: int = 7) -> None:
        self.gas_price = gas_price  # base fee plus tip


class DoublingModel:
    """Output = input twice; an input starting with 0xff fails."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        self.batches.append(len(inputs))
        return [ModelError("malformed input: 0xff") if x[:1] == b"\xff" else x + x for x in inputs]


class FakeCatalog:
    def __init__(self) -> None:
        self.model = DoublingModel()

    def get(self, model_id: bytes) -> Model:
        if model_id != MODEL:
            raise ModelError(f"model 0x{model_id.hex()} cannot be fetched: gone.onnx")
        return self.model


class FakePool:
    def __init__(self) -> None:
        self.running: dict[int, tuple[bytes, bytes]] = {}
        self.done: list[tuple[int, Proven | ModelError]] = []

    @property
    def busy(self) -> int:
        return len(self.running)

    def has(self, request_id: int) -> bool:
        return request_id in self.running

    def submit(self, request_id: int, model_id: bytes, input_data: bytes) -> None:
        self.running[request_id] = (model_id, input_data)

    def finished(self) -> list[tuple[int, Proven | ModelError]]:
        done, self.done = self.done, []
        for request_id, _ in done:
            self.running.pop(request_id, None)
        return done

    def close(self) -> None:
        self.running.clear()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite", 31337, HUB) as journal:
        yield journal


def seen(
    journal: Journal,
    request_id: int,
    *,
    mode: Mode = Mode.SINGLE,
    model: ModelId = MODEL,
    fee: int = 10**15,
    deadline: int = NOW + 3_600,
    redundancy: int = 1,
    data: bytes = b"\x01\x02\x03\x04",
    block: int = 5,
    callback_gas: int = 0,
    lottery: int = LOTTERY,
) -> None:
    event = InferenceRequested(
        RequestId(request_id), model, REQUESTER, fee, deadline, callback_gas, mode, redundancy, lottery, data, block
    )
    journal.upsert_seen(request_id, event_params(event, TERMS), data, block, BLOCK_HASH)


def computed(journal: Journal, request_id: int, **options: Any) -> bytes:
    seen(journal, request_id, **options)
    output = b"out" + bytes([request_id])
    journal.mark_computed(request_id, output, bytes(keccak(output)))
    return output


def state(journal: Journal, request_id: int) -> JobState:
    job = journal.job(request_id)
    assert job is not None
    return job.state


def reason(journal: Journal, request_id: int) -> str:
    job = journal.job(request_id)
    assert job is not None
    assert job.fail_reason is not None
    return job.fail_reason


# ---------------------------------------------------------------------------------------------------------- compute


def compute_stage(journal: Journal, hub: FakeHub | None = None, **options: Any) -> tuple[Compute, FakeCatalog]:
    catalog = FakeCatalog()
    policy = options.pop("policy", Policy((Mode.SINGLE, Mode.CONSENSUS), min_fee_wei=0, gas_per_result=0))
    fees = options.pop("fees", FakeFees())
    stage = Compute(journal, catalog, hub or FakeHub(), FakeClock(), fees, policy, NodeMetrics(), FakeLog(), **options)
    return stage, catalog


def test_compute_runs_one_batch_per_model_and_journals_the_outputs(journal: Journal) -> None:
    for rid in (1, 2, 3):
        seen(journal, rid, data=bytes([rid]) * 4)
    stage, catalog = compute_stage(journal)
    done = stage.step()
    assert (done.computed, done.failed) == (3, 0)
    assert catalog.model.batches == [3]
    for rid in (1, 2, 3):
        job = journal.job(rid)
        assert job is not None
        assert (job.state, job.output, job.output_hash) == (
            JobState.COMPUTED,
            bytes([rid]) * 8,
            bytes(keccak(bytes([rid]) * 8)),
        )


def test_compute_refuses_a_fee_that_does_not_pay_for_the_callback(journal: Journal) -> None:
    # The deliverer burns the requester's callback gas: at base fee 7, a 2,000,000-gas callback costs 14,000,000 wei.
    # Without an escrow the fee pays it; an escrow pays it up to its cap per gas, and the fee the rest.
    seen(journal, 1, fee=10_000_000, callback_gas=2_000_000)
    seen(journal, 2, fee=14_000_000, callback_gas=2_000_000)
    seen(journal, 3, fee=10_000_000)
    escrowed_at_7 = LOTTERY | 7 << 168  # escrow 14,000,000: all the callback can cost at base fee 7
    seen(journal, 4, fee=14_000_001, callback_gas=2_000_000, lottery=escrowed_at_7)
    escrowed_at_3 = LOTTERY | 3 << 168  # escrow 6,000,000; 4 wei/gas above it: 8,000,000 from the fee
    seen(journal, 5, fee=6_000_000 + 7_999_999, callback_gas=2_000_000, lottery=escrowed_at_3)
    seen(journal, 6, fee=6_000_000 + 8_000_000, callback_gas=2_000_000, lottery=escrowed_at_3)
    stage, _ = compute_stage(journal)
    done = stage.step()
    assert (done.computed, done.failed) == (4, 2)
    assert reason(journal, 1) == (
        "skipped: fee share 10000000 wei < 14000000 wei (policy.min_fee_wei 0 + gas price 7 x 0 gas; its 2000000-gas "
        "callback escrowed at 0 wei/gas, 7 below the gas price)"
    )
    assert reason(journal, 5) == (
        "skipped: fee share 7999999 wei < 8000000 wei (policy.min_fee_wei 0 + gas price 7 x 0 gas; its 2000000-gas "
        "callback escrowed at 3 wei/gas, 4 below the gas price)"
    )
    for rid in (2, 3, 4, 6):
        assert state(journal, rid) is JobState.COMPUTED


def test_compute_prices_the_callback_at_its_gas_price_tip_included(journal: Journal) -> None:
    # A requester capping its escrow at the base fee (7) would have the node pay its tip (3) on every unit of a
    # 2,000,000-gas callback: 6,000,000 wei the fee must cover.
    at_base_fee = LOTTERY | 7 << 168
    seen(journal, 1, fee=14_000_000 + 5_999_999, callback_gas=2_000_000, lottery=at_base_fee)
    seen(journal, 2, fee=14_000_000 + 6_000_000, callback_gas=2_000_000, lottery=at_base_fee)
    stage, _ = compute_stage(journal, fees=FakeFees(gas_price=10))
    done = stage.step()
    assert (done.computed, done.failed) == (1, 1)
    assert reason(journal, 1).endswith("escrowed at 7 wei/gas, 3 below the gas price)")
    assert state(journal, 2) is JobState.COMPUTED


def test_compute_waits_for_its_lottery_window_and_skips_without_a_ticket(journal: Journal) -> None:
    seen(journal, 1)  # this node's window is open (or it is the primary)
    seen(journal, 2)  # its window, or its turn as a fallback, is still ahead
    seen(journal, 3)  # no ticket: its stake is newer than the request
    hub = FakeHub(unassigned={3}, waiting={2})
    stage, catalog = compute_stage(journal, hub)
    done = stage.step()
    assert (done.computed, done.failed) == (1, 1)
    assert catalog.model.batches == [1]
    assert state(journal, 1) is JobState.COMPUTED
    assert state(journal, 2) is JobState.SEEN  # left for a later step: no work before the node's turn
    assert reason(journal, 3) == "skipped: no lottery ticket"
    hub.waiting.clear()
    assert stage.step().computed == 1
    assert state(journal, 2) is JobState.COMPUTED


def test_compute_skips_what_this_node_does_not_serve_and_names_why(journal: Journal) -> None:
    seen(journal, 1, mode=Mode.ZK)  # not in the policy's modes (and no prover)
    seen(journal, 2, deadline=NOW)  # expired by chain time
    seen(journal, 3, model=OTHER_MODEL)  # not eligible
    seen(journal, 4, fee=10, redundancy=2)  # share 5 < policy's 6
    seen(journal, 5)
    hub = FakeHub(ineligible={OTHER_MODEL: "node registry says MODEL_NOT_SERVED"})
    stage, _ = compute_stage(journal, hub, policy=Policy((Mode.SINGLE,), min_fee_wei=6))
    done = stage.step()
    assert (done.computed, done.failed) == (1, 4)
    assert reason(journal, 1) == "skipped: mode ZK is not served by this node (config `modes`)"
    assert reason(journal, 2) == f"skipped: deadline {NOW} passed (chain time {NOW})"
    assert "MODEL_NOT_SERVED" in reason(journal, 3)
    assert reason(journal, 4).startswith("skipped: fee share 5 wei < 6 wei")
    assert state(journal, 5) is JobState.COMPUTED
    assert stage.metrics.failed.labels("fee")._value.get() == 1


def test_compute_fails_a_bad_input_or_model_alone(journal: Journal) -> None:
    seen(journal, 1, data=b"\xff\x00\x00\x00")
    seen(journal, 2)
    seen(journal, 3, model=OTHER_MODEL)
    stage, _ = compute_stage(journal)
    done = stage.step()
    assert (done.computed, done.failed) == (1, 2)
    assert reason(journal, 1) == "model: malformed input: 0xff"
    assert "gone.onnx" in reason(journal, 3)
    assert state(journal, 2) is JobState.COMPUTED


def test_compute_hands_zk_requests_to_the_provers_and_prove_journals_them(journal: Journal) -> None:
    seen(journal, 1, mode=Mode.ZK)
    seen(journal, 2, mode=Mode.ZK)
    pool = FakePool()
    prove = Prove(pool, journal, NodeMetrics(), FakeLog())
    stage, catalog = compute_stage(journal, policy=Policy((Mode.ZK,)), prover=prove)
    assert stage.step().computed == 0
    assert set(pool.running) == {1, 2}
    assert catalog.model.batches == []
    assert stage.step().computed == 0  # still proving: not started twice
    pool.done = [(1, Proven(b"o" * 8, b"proof", 1.5)), (2, ModelError("witness failed"))]
    done = stage.step()
    assert (done.computed, done.failed) == (1, 1)
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.output, job.proof) == (JobState.COMPUTED, b"o" * 8, b"proof")
    assert reason(journal, 2) == "prover: witness failed"


# ----------------------------------------------------------------------------------------------------------- submit


def submit_stage(journal: Journal, sender: FakeSender, **options: Any) -> Submit:
    options = {"max_batch_items": 2, "max_batch_gas": 10**7, **options}
    return Submit(journal, sender, HubCalldata(), HUB, NodeMetrics(), FakeLog(), **options)


def test_submit_batches_journals_before_broadcasting_and_sends_once(journal: Journal) -> None:
    for rid in (1, 2, 3):
        computed(journal, rid)
    sender = FakeSender()
    stage = submit_stage(journal, sender)
    assert stage.single(journal.jobs(JobState.COMPUTED)) == 2  # 2 + 1 items
    assert len(sender.sent) == 2
    assert len(sender.estimates) == 1  # the second batch is priced from the first's gas per item
    for tx in sender.sent:
        record = journal.txs.get(tx.hash)
        assert record is not None
        assert (record.nonce, record.raw, record.kind) == (tx.nonce, tx.raw, "submit")
    jobs = [journal.job(rid) for rid in (1, 2, 3)]
    assert [j.state for j in jobs if j] == [JobState.SUBMITTED] * 3
    assert [j.submit_tx_hash for j in jobs if j] == [sender.sent[0].hash] * 2 + [sender.sent[1].hash]


def test_submit_singles_out_a_reverting_item_by_halving(journal: Journal) -> None:
    for rid in (1, 2, 3, 4):
        computed(journal, rid)
    sender = FakeSender()
    bad = (3).to_bytes(32, "big") + journal.job(3).params  # type: ignore[union-attr]
    sender.reverts.append((bad, ContractRevert("RequestExpired", {"requestId": 3})))
    stage = submit_stage(journal, sender, max_batch_items=4)
    assert stage.single(journal.jobs(JobState.COMPUTED)) == 2  # [1, 2] and [4]
    assert reason(journal, 3) == "delivery reverts: RequestExpired(requestId=3)"
    assert [state(journal, rid) for rid in (1, 2, 4)] == [JobState.SUBMITTED] * 3


def test_submit_zk_sends_each_proven_result_alone(journal: Journal) -> None:
    seen(journal, 1, mode=Mode.ZK)
    journal.mark_proven(1, b"o" * 8, bytes(keccak(b"o" * 8)), b"proof")
    seen(journal, 2, mode=Mode.ZK)
    journal.mark_proven(2, b"p" * 8, bytes(keccak(b"p" * 8)), b"proof")
    sender = FakeSender()
    sender.reverts.append((b"p" * 8, ContractRevert("InvalidProof")))
    assert submit_stage(journal, sender).zk(journal.jobs(JobState.COMPUTED)) == 1
    assert state(journal, 1) is JobState.SUBMITTED
    assert reason(journal, 2) == "ZK delivery reverts: InvalidProof()"


# -------------------------------------------------------------------------------------------------------- consensus


def consensus_stage(journal: Journal, sender: FakeSender, hub: FakeHub, clock: list[float]) -> Consensus:
    return Consensus(
        journal,
        sender,
        hub,
        FakeClock(),
        HubCalldata(),
        HUB,
        NodeMetrics(),
        FakeLog(),
        retry_after_s=30.0,
        salts=lambda: b"\x5a" * 32,
        monotonic=lambda: clock[0],
    )


def mine(journal: Journal, tx_hash: bytes | None, block: int = 9) -> None:
    assert tx_hash is not None
    journal.txs.set_mined(tx_hash, block)


def test_consensus_commits_with_a_durable_salt_then_reveals_then_finalizes_once(journal: Journal) -> None:
    output = computed(journal, 1, mode=Mode.CONSENSUS, redundancy=2)
    sender, hub, clock = FakeSender(), FakeHub(), [0.0]
    stage = consensus_stage(journal, sender, hub, clock)
    assert stage.step(journal.jobs(JobState.COMPUTED)) == 1
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.salt) == (JobState.COMMITTED, b"\x5a" * 32)
    vote = commitments.vote(bytes(keccak(output)), b"\x5a" * 32, NODE)
    assert vote in sender.estimates[-1]
    # Not mined yet: nothing to reveal.
    hub.rounds[1] = Round(commits=2, reveals=0, reveal_ends_at=NOW + 60, winning_output_hash=b"")
    assert stage.step([]) == 0
    mine(journal, job.commit_tx_hash)
    assert stage.step([]) == 1
    job = journal.job(1)
    assert job is not None
    assert job.state is JobState.REVEALED
    assert output in sender.sent[-1].raw
    assert b"\x5a" * 32 in sender.sent[-1].raw
    mine(journal, job.reveal_tx_hash)
    # One vote still unrevealed and the window open: wait.
    hub.rounds[1] = Round(commits=2, reveals=1, reveal_ends_at=NOW + 60, winning_output_hash=b"")
    assert stage.step([]) == 0
    hub.rounds[1] = Round(commits=2, reveals=2, reveal_ends_at=NOW + 60, winning_output_hash=b"")
    assert stage.step([]) == 1
    assert sender.sent[-1].kind == "finalize"
    assert journal.txs.get(sender.sent[-1].hash) is not None  # recorded: its nonce is followed
    clock[0] = 29.0
    assert stage.step([]) == 0  # its own state: not sent again within retry_after_s
    clock[0] = 31.0
    assert stage.step([]) == 1
    hub.statuses[1] = Status.FULFILLED
    hub.rounds[1] = Round(commits=2, reveals=2, reveal_ends_at=NOW + 60, winning_output_hash=bytes(keccak(output)))
    assert stage.step([]) == 0
    assert state(journal, 1) is JobState.FINALIZED
    assert stage.finalize_sent == {}
    assert stage.metrics.fulfilled.labels("CONSENSUS")._value.get() == 1


def test_a_reveal_not_mined_by_half_its_window_is_flagged_at_risk_once(journal: Journal) -> None:
    computed(journal, 1, mode=Mode.CONSENSUS, redundancy=2)
    sender, hub = FakeSender(), FakeHub()
    stage = consensus_stage(journal, sender, hub, [0.0])
    assert isinstance(stage.clock, FakeClock)
    assert isinstance(stage.log, FakeLog)
    stage.step(journal.jobs(JobState.COMPUTED))
    mine(journal, journal.job(1).commit_tx_hash)  # type: ignore[union-attr]
    hub.rounds[1] = Round(commits=2, reveals=1, reveal_ends_at=NOW + 60, winning_output_hash=b"")
    assert stage.step([]) == 1  # the reveal goes out; the RPC drops it, it is never mined
    assert state(journal, 1) is JobState.REVEALED
    stage.clock.now = NOW + 29  # 31 s of 60 left
    stage.step([])
    assert (stage.reveals_at_risk, stage.metrics.reveals_at_risk._value.get()) == (set(), 0)
    stage.clock.now = NOW + 31  # 29 s left: under half
    stage.step([])
    stage.clock.now = NOW + 40
    stage.step([])
    errors = [fields for level, event, fields in stage.log.lines if level == "error" and "reveal at risk" in event]
    assert errors == [
        {
            "request_id": 1,
            "seconds_left": 29,
            "check": "the wallet's balance and the RPC endpoint (verinfer node status)",
        }
    ]  # once, when it became at risk
    assert (stage.reveals_at_risk, stage.metrics.reveals_at_risk._value.get()) == ({1}, 1)
    mine(journal, journal.job(1).reveal_tx_hash)  # type: ignore[union-attr]
    stage.step([])
    assert (stage.reveals_at_risk, stage.metrics.reveals_at_risk._value.get()) == (set(), 0)
    assert stage.reveals_due == {}


def test_consensus_adopts_its_own_commit_already_on_chain(journal: Journal) -> None:
    computed(journal, 1, mode=Mode.CONSENSUS, redundancy=2)
    sender, hub = FakeSender(), FakeHub(own_events={("ResultCommitted", 1): b"\xcc" * 32})
    sender.reverts.append((b"", ContractRevert("AlreadyCommitted", {"requestId": 1})))
    assert consensus_stage(journal, sender, hub, [0.0]).step(journal.jobs(JobState.COMPUTED)) == 0
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.commit_tx_hash, job.salt) == (JobState.COMMITTED, b"\xcc" * 32, b"\x5a" * 32)


def test_consensus_fails_a_round_that_did_not_fill_before_the_deadline(journal: Journal) -> None:
    computed(journal, 1, mode=Mode.CONSENSUS, redundancy=3, deadline=NOW - 1)
    sender, hub = FakeSender(), FakeHub()
    stage = consensus_stage(journal, sender, hub, [0.0])
    stage.step(journal.jobs(JobState.COMPUTED))
    mine(journal, journal.job(1).commit_tx_hash)  # type: ignore[union-attr]
    hub.rounds[1] = Round(commits=1, reveals=0, reveal_ends_at=0, winning_output_hash=b"")
    assert stage.step([]) == 0
    assert reason(journal, 1).startswith("round did not fill (1/3 commits) before the deadline")


def test_consensus_joins_an_escalated_round_it_had_no_seat_in(journal: Journal) -> None:
    computed(journal, 1, mode=Mode.CONSENSUS, redundancy=3)
    journal.mark_failed(1, "skipped: the round's seats went to better tickets while this node waited its turn")
    computed(journal, 2, mode=Mode.CONSENSUS, redundancy=3)
    journal.mark_failed(2, "skipped: mode")
    sender, hub, clock = FakeSender(), FakeHub(), [0.0]
    stage = consensus_stage(journal, sender, hub, clock)
    stage.join_escalations()
    assert state(journal, 1) is JobState.FAILED  # no escalation yet
    hub.escalations[1] = 101
    hub.head = 102
    clock[0] = 1.0
    stage.join_escalations()
    assert state(journal, 1) is JobState.FAILED  # polled every ESCALATION_POLL_S, not every tick
    clock[0] = 3.0
    stage.join_escalations()
    assert state(journal, 1) is JobState.SEEN  # served again, on the escalation's seats if the lottery gives any
    assert state(journal, 2) is JobState.FAILED  # its round did not escalate
    assert stage.escalations_joined == 1
    hub.escalations[2] = 90  # below the blocks already polled: not looked at again
    clock[0] = 6.0
    stage.join_escalations()
    assert state(journal, 2) is JobState.FAILED


def test_consensus_a_round_vote_not_revealed_before_the_escalation_fails(journal: Journal) -> None:
    computed(journal, 1, mode=Mode.CONSENSUS, redundancy=3)
    sender, hub = FakeSender(), FakeHub()
    stage = consensus_stage(journal, sender, hub, [0.0])
    stage.step(journal.jobs(JobState.COMPUTED))
    mine(journal, journal.job(1).commit_tx_hash)  # type: ignore[union-attr]
    hub.votes[1] = 0b001  # a seat of the round
    hub.rounds[1] = Round(1, 0, 0, b"", escalation_seats=7, escalated_at=NOW - 5, escalation_ends_at=NOW + 600)
    assert stage.step([]) == 0
    assert reason(journal, 1) == "the round escalated before this vote was revealed"


def test_consensus_a_round_voter_waits_for_its_escalation_to_finalize(journal: Journal) -> None:
    output = computed(journal, 1, mode=Mode.CONSENSUS, redundancy=3)
    sender, hub = FakeSender(), FakeHub()
    stage = consensus_stage(journal, sender, hub, [0.0])
    stage.step(journal.jobs(JobState.COMPUTED))
    mine(journal, journal.job(1).commit_tx_hash)  # type: ignore[union-attr]
    hub.rounds[1] = Round(commits=3, reveals=1, reveal_ends_at=NOW + 60, winning_output_hash=b"")
    assert stage.step([]) == 1  # revealed
    mine(journal, journal.job(1).reveal_tx_hash)  # type: ignore[union-attr]
    hub.votes[1] = 0b001
    escalating = Round(0, 0, 0, b"", escalation_seats=7, escalated_at=NOW - 5, escalation_ends_at=NOW + 600)
    hub.rounds[1] = escalating
    assert stage.step([]) == 0  # the fresh committee is still taking its seats: nothing to finalize
    hub.rounds[1] = Round(7, 7, NOW + 300, b"", escalation_seats=7, escalated_at=NOW - 5, escalation_ends_at=NOW + 600)
    assert stage.step([]) == 1  # every escalation vote revealed: finalize, with this node's output
    assert sender.sent[-1].kind == "finalize"
    assert output in sender.sent[-1].raw


# ------------------------------------------------------------------------------------------------------------ track


def track_stage(
    journal: Journal, sender: FakeSender, hub: FakeHub | None = None, **options: Any
) -> tuple[Track, FakeLog]:
    log = FakeLog()
    reorgs = ReorgHandler(journal, sender.nonces, log)
    return Track(journal, sender, hub or FakeHub(), reorgs, HUB, NodeMetrics(), log, max_attempts=3, **options), log


def submitted(journal: Journal, sender: FakeSender, ids: Sequence[int]) -> Signed:
    for rid in ids:
        computed(journal, rid)
    submit_stage(journal, sender, max_batch_items=len(ids)).single(journal.jobs(JobState.COMPUTED))
    return sender.sent[-1]


def receipt(tx: Signed, status: int, logs: Sequence[dict[str, Any]] = (), block: int = 12) -> Receipt:
    return Receipt(tx.hash, block, status, 50_000, 3, tuple(logs))


def result_log(event: str, request_id: int, data: bytes = b"") -> dict[str, Any]:
    topic = EventCodec.from_abi(load_artifact("InferenceHub").abi, event).topic
    return {
        "address": HUB.lower(),
        "topics": ["0x" + topic.hex(), "0x" + request_id.to_bytes(32, "big").hex(), "0x" + "00" * 12 + NODE[2:]],
        "data": "0x" + data.hex(),
    }


def test_track_confirms_what_the_receipt_says_this_node_served(journal: Journal) -> None:
    sender = FakeSender()
    tx = submitted(journal, sender, [1, 2])
    skipped = result_log("ResultSkipped", 2, int(SkipReason.NOT_PENDING).to_bytes(32, "big"))
    sender.mined[tx.hash] = receipt(tx, 1, [result_log("ResultSubmitted", 1), skipped])
    stage, _ = track_stage(journal, sender)
    assert stage.track(head=12) == 1
    assert state(journal, 1) is JobState.CONFIRMED
    assert reason(journal, 2) == "delivery: already final on chain (another node served it first)"
    record = journal.txs.get(tx.hash)
    assert record is not None
    assert record.mined_block == 12
    assert sender.nonces.gap() == ()  # confirmed


def test_track_requeues_a_reverted_delivery_until_the_attempt_cap(journal: Journal) -> None:
    sender = FakeSender()
    tx = submitted(journal, sender, [1])
    sender.mined[tx.hash] = receipt(tx, 0)
    stage, log = track_stage(journal, sender)
    stage.track(head=12)
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.attempts, job.last_error) == (
        JobState.COMPUTED,
        1,
        "InsufficientGasForCallback(requestId=1)",
    )
    assert "transaction reverted" in log.events()


def test_track_sends_a_lost_transaction_again_with_the_same_bytes(journal: Journal) -> None:
    sender = FakeSender()
    tx = submitted(journal, sender, [1])
    sender.pooled.clear()  # the RPC node forgot it (a restart, an outage)
    stage, log = track_stage(journal, sender)
    assert stage.track(head=12) == 0
    assert sender.raw_sent == [tx.raw]
    assert "transaction sent again" in log.events()


def test_track_fails_jobs_whose_transaction_is_refused_for_good_at_the_cap(journal: Journal) -> None:
    sender = FakeSender()
    submitted(journal, sender, [1])
    sender.pooled.clear()
    sender.refuse_raw = RpcError("eth_sendRawTransaction", -32000, "intrinsic gas too low")
    stage, _ = track_stage(journal, sender)
    for _ in range(3):
        stage.track(head=12)
    assert reason(journal, 1).startswith("submit refused by the RPC node: eth_sendRawTransaction: intrinsic gas")


def test_track_retries_a_transient_refusal_with_backoff_and_never_gives_up(journal: Journal) -> None:
    sender = FakeSender()
    submitted(journal, sender, [1])
    sender.pooled.clear()
    sender.refuse_raw = RpcError("eth_sendRawTransaction", -32000, "insufficient funds for gas * price + value")
    now = [0.0]
    stage, _ = track_stage(journal, sender, monotonic=lambda: now[0])
    for _ in range(10):
        now[0] += 10.0  # past any backoff
        stage.track(head=12)
    stage.track(head=12)  # within the backoff: not sent
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.attempts) == (JobState.SUBMITTED, 10)
    assert job.last_error is not None
    assert "insufficient funds" in job.last_error


def test_the_audit_reads_no_receipt_while_every_transaction_is_in_its_block(journal: Journal) -> None:
    sender = FakeSender()
    tx = submitted(journal, sender, [1])
    sender.mined[tx.hash] = receipt(tx, 1, [result_log("ResultSubmitted", 1)])
    stage, _ = track_stage(journal, sender)
    stage.track(head=12)
    read: list[bytes] = []
    receipts = sender.receipts

    def counted(hashes: Iterable[bytes]) -> dict[bytes, Receipt | None]:
        wanted = list(hashes)
        read.extend(wanted)
        return receipts(wanted)

    sender.receipts = counted  # type: ignore[method-assign]
    assert stage.audit(head=13) == 0
    assert (sender.block_reads, read) == ([[12]], [])  # one block's transaction list, no receipt
    sender.mined[tx.hash] = receipt(tx, 1, [result_log("ResultSubmitted", 1)], block=14)  # re-mined a block later
    assert stage.audit(head=15) == 0
    assert read == [tx.hash]  # missing from block 12: its receipt says where it went
    record = journal.txs.get(tx.hash)
    assert record is not None
    assert record.mined_block == 14
    assert state(journal, 1) is JobState.CONFIRMED


def test_the_audit_restarts_jobs_whose_mined_transaction_a_reorg_took_out(journal: Journal) -> None:
    sender = FakeSender()
    tx = submitted(journal, sender, [1])
    sender.mined[tx.hash] = receipt(tx, 1, [result_log("ResultSubmitted", 1)])
    stage, log = track_stage(journal, sender)
    stage.track(head=12)
    assert state(journal, 1) is JobState.CONFIRMED
    del sender.mined[tx.hash]
    assert stage.audit(head=13) == 1
    job = journal.job(1)
    assert job is not None
    assert (job.state, job.reorgs, job.output) == (JobState.SEEN, 1, None)
    record = journal.txs.get(tx.hash)
    assert record is not None
    assert record.mined_block is None
    assert sender.nonces.next_nonce is None  # forgotten: read from the chain again
    assert "reorg took out mined transactions" in log.events()


# ------------------------------------------------------------------------------------------------------------ reorg


def test_the_reorg_handler_restarts_jobs_by_event_block_and_by_mined_transaction(journal: Journal) -> None:
    seen(journal, 1, block=3)  # untouched
    computed(journal, 2, block=7)  # its event was replaced
    computed(journal, 3, block=3)
    journal.txs.record(b"\x33" * 32, 0, "submit", b"raw")
    journal.mark_submitted(3, b"\x33" * 32, 0)
    journal.txs.set_mined(b"\x33" * 32, 8)  # its result was replaced, its request not
    nonces = FakeSender().nonces
    nonces.reserve()
    log = FakeLog()
    assert ReorgHandler(journal, nonces, log).blocks_replaced(6) == [2, 3]
    assert [state(journal, rid) for rid in (1, 2, 3)] == [JobState.SEEN] * 3
    assert journal.job(1).reorgs == 0  # type: ignore[union-attr]
    assert journal.txs.get(b"\x33" * 32).mined_block is None  # type: ignore[union-attr]
    assert nonces.next_nonce is None
    assert log.lines[-1][1:] == ("reorg", {"first_replaced_block": 6, "jobs_restarted": 2})


# ----------------------------------------------------------------------------------------------------------- ingest


class NoLogs:
    keep_blocks = 16

    def poll(self, position: Position | None, known: KnownBlocks) -> LogBatch:
        return LogBatch((), range(1, 1), head=0)


def test_a_schema_3_journal_is_upgraded_and_its_rows_completed_with_the_terms(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    with Journal(path, 31337, HUB) as journal:
        old = b"".join(
            (
                (1).to_bytes(32, "big"),
                MODEL,
                bytes(12) + bytes.fromhex(REQUESTER[2:]),
                (10**15).to_bytes(32, "big"),
                (NOW + 60).to_bytes(32, "big"),
                (50_000).to_bytes(32, "big"),
                int(Mode.CONSENSUS).to_bytes(32, "big"),
                (3).to_bytes(32, "big"),
            )
        )
        assert len(old) == LEGACY_PARAMS_BYTES
        journal.upsert_seen(1, old, b"input", 5, BLOCK_HASH)
        journal.mark_computed(1, b"out", bytes(keccak(b"out")))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 3")
    with Journal(path, 31337, HUB) as journal:
        assert journal.db.schema_version() == SCHEMA_VERSION == 4
        hub = FakeHub()
        ingest = Ingest(NoLogs(), journal, hub, ReorgHandler(journal, FakeSender().nonces, FakeLog()))
        assert ingest.complete_legacy() == 1
        assert ingest.complete_legacy() == 0
        job = journal.job(1)
        assert job is not None
        assert job.state is JobState.COMPUTED  # only the params changed
        params = params_of(job)
        assert (params.model_id, params.input_hash, params.requester, params.fee, params.deadline) == (
            MODEL,
            bytes(keccak(b"input")),
            REQUESTER,
            10**15,
            NOW + 60,
        )
        assert (params.callback_gas_limit, params.mode, params.redundancy) == (50_000, Mode.CONSENSUS, 3)
        assert (params.output_bytes, params.env_restricted) == (TERMS.output_bytes, TERMS.env_restricted)
        assert hub.terms_reads == [MODEL]


def test_a_batch_an_rpc_ran_out_of_order_is_sent_again_in_nonce_order(journal: Journal) -> None:
    from verinfer.node.submit import broadcast

    class GapRefusingSender(FakeSender):
        """Takes a transaction only if its nonce is the account's next, and runs a batch's calls in reverse."""

        def __init__(self) -> None:
            super().__init__()
            self.account_nonce = 0
            self.posts: list[list[int]] = []

        def broadcast(self, signed: Sequence[Signed]) -> list[RpcError | None]:
            self.posts.append([tx.nonce for tx in signed])
            answers: dict[int, RpcError | None] = {}
            for i in reversed(range(len(signed))):
                if signed[i].nonce == self.account_nonce:
                    self.account_nonce += 1
                    answers[i] = None
                else:
                    answers[i] = RpcError("eth_sendRawTransaction", -32000, "Nonce too high. Expected 0")
            return [answers[i] for i in range(len(signed))]

    sender = GapRefusingSender()
    txs = [sender.sign(HUB, bytes([i]), 100_000, "commit") for i in range(3)]
    assert [tx.nonce for tx in txs] == [0, 1, 2]
    errors = broadcast(sender, txs, NodeMetrics(), FakeLog())
    assert errors == [None, None, None]
    assert sender.account_nonce == 3
    assert sender.posts[0] == [0, 1, 2]  # one batch, then the refused ones one by one, lowest nonce first
    assert sender.posts[1:] == [[1], [2]]


def test_a_slow_model_holds_only_its_own_requests_and_a_changed_request_is_not_given_a_stale_output(
    journal: Journal,
) -> None:
    import threading

    release = threading.Event()

    class SlowModel(DoublingModel):
        def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
            release.wait(5)
            return super().compute(inputs)

    seen(journal, 1, data=b"\x01\x01\x01\x01")
    stage, catalog = compute_stage(journal, lane_wait_s=0.05)
    catalog.model = SlowModel()
    assert stage.step().computed == 0  # the lane is busy: nothing waits for it
    assert stage.lanes.busy(MODEL)
    assert stage.step().computed == 0  # nor is the same job handed out twice
    # Meanwhile a reorg gives id 1 to another request (the journal updates a `seen` job in place).
    event = InferenceRequested(
        RequestId(1), MODEL, REQUESTER, 10**15, NOW + 3_600, 0, Mode.SINGLE, 1, LOTTERY, b"\x02" * 4, 6
    )
    journal.upsert_seen(1, event_params(event, TERMS), b"\x02" * 4, 6, BLOCK_HASH)
    release.set()
    for _ in range(100):
        if not stage.lanes.busy(MODEL):
            break
        stage.step()
    job = journal.job(1)
    assert job is not None
    if job.state is JobState.SEEN:  # the stale output was dropped; the new input is computed next
        stage.step()
        job = journal.job(1)
        assert job is not None
    assert (job.state, job.output) == (JobState.COMPUTED, b"\x02" * 8)
