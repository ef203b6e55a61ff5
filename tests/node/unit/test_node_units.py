"""The node service's building blocks, each alone: hand-laid calldata and event decoding against eth_abi, the
journal's transaction records and bulk transitions, fee arithmetic, the stopwatch, the metrics endpoint, and the
batched compute stage isolating bad inputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import onnx
import pytest
from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.support import gemm_softmax
from verinfer.chain import lottery
from verinfer.chain.abi import abi_type, find_entry, selector, topic
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.jsonrpc import JsonRpc, RpcError
from verinfer.chain.system import System
from verinfer.chain.txmanager import FEE_BUMP, TxManager, is_nonce_used
from verinfer.errors import ChainError, ModelError
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner
from verinfer.node.calldata import HubCalldata
from verinfer.node.compute import LoadedModel
from verinfer.node.hub import FALLBACK_GRACE_S, HubView
from verinfer.node.journal import SCHEMA_VERSION, IllegalTransitionError, JobState, Journal, JournalError
from verinfer.node.metrics import Health, MetricsServer, NodeMetrics
from verinfer.node.profile import Stopwatch
from verinfer.node.request import decode_params, encode_params, event_params, params_of
from verinfer.types import Mode, ModelId, ModelSpec, ModelTerms, RequestParams, checksum

pytestmark = pytest.mark.usefixtures("forge_build")

HUB = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
REQUESTER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TERMS = ModelTerms(
    price=10, input_bytes=32, output_bytes=16, modes=7, deprecated=False, env_restricted=True, exists=True, scale=10**6
)


# ------------------------------------------------------------------------------------------------------- calldata

params_strategy = st.builds(
    RequestParams,
    model_id=st.binary(min_size=32, max_size=32),
    input_hash=st.binary(min_size=32, max_size=32),
    requester=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    fee=st.integers(0, 2**256 - 1),
    deadline=st.integers(0, 2**64 - 1),
    callback_gas_limit=st.integers(0, 2**32 - 1),
    output_bytes=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(list(Mode)),
    redundancy=st.integers(0, 255),
    lottery=st.integers(0, 2**256 - 1),
    env_restricted=st.booleans(),
)


def submit_results_reference(items: list[tuple[int, RequestParams, bytes]]) -> bytes:
    """The oracle: `submitResults` calldata through eth_abi."""
    entry = find_entry(load_artifact("InferenceHub").abi, "function", "submitResults")
    rows = [(rid, params.as_abi(), output) for rid, params, output in items]
    return selector(entry) + encode([abi_type(p) for p in entry["inputs"]], [rows])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2**256 - 1), params_strategy, st.binary(max_size=100)), max_size=6))
def test_submit_results_calldata_is_what_eth_abi_encodes(items: list[tuple[int, RequestParams, bytes]]) -> None:
    calldata = HubCalldata()
    encoded = [(rid, encode_params(params), output) for rid, params, output in items]
    assert calldata.submit_results(encoded) == submit_results_reference(items)
    assert all(decode_params(encode_params(params)) == params for _, params, _ in items)


def test_submit_results_calldata_concrete_case() -> None:
    params = RequestParams(
        ModelId(b"\x01" * 32),
        b"\x02" * 32,
        checksum(REQUESTER),
        10**15,
        2**40,
        0,
        16,
        Mode.SINGLE,
        1,
        False,
        2**200 + 5,
    )
    calldata = HubCalldata()
    items = [(1, params, b"\xaa" * 16), (2, params, b"")]
    encoded = [(rid, encode_params(p), output) for rid, p, output in items]
    assert calldata.submit_results(encoded) == submit_results_reference(items)


# ---------------------------------------------------------------------------------------------------- event decode


def _requested_log(
    request_id: int, fee: int, deadline: int, cb_gas: int, mode: int, redundancy: int, data: bytes, lottery: int = 0
) -> dict[str, Any]:
    entry = find_entry(load_artifact("InferenceHub").abi, "event", "InferenceRequested")
    return {
        "address": HUB,
        "topics": [
            "0x" + t.hex()
            for t in (topic(entry), encode(["uint256"], [request_id]), b"\x07" * 32, encode(["address"], [REQUESTER]))
        ],
        "data": "0x"
        + encode(
            ["uint256", "uint64", "uint32", "uint8", "uint8", "uint256", "bytes"],
            [fee, deadline, cb_gas, mode, redundancy, lottery, data],
        ).hex(),
        "blockNumber": "0x2a",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "logIndex": "0x0",
    }


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 2**256 - 1),
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0, 1, 2]),
    st.integers(0, 255),
    st.binary(max_size=200),
    st.integers(0, 2**256 - 1),
)
def test_fast_request_decode_matches_the_abi_decoder(
    rid: int, fee: int, deadline: int, cb_gas: int, mode: int, redundancy: int, data: bytes, lottery: int
) -> None:
    log = _requested_log(rid, fee, deadline, cb_gas, mode, redundancy, data, lottery)
    codec_ = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
    slow = InferenceRequested.from_log(codec_.decode(log))
    assert InferenceRequested.from_raw_log(log) == slow
    # What ingestion journals (the complete params, terms included), and what the node reads back, agree with
    # eth_abi too.
    packed = event_params(slow, TERMS)
    assert packed == encode(
        ["bytes32", "bytes32", "address", "uint256", "uint64", "uint32", "uint32", "uint8", "uint8", "bool", "uint256"],
        [
            slow.model_id,
            keccak(data),
            REQUESTER,
            fee,
            deadline,
            cb_gas,
            TERMS.output_bytes,
            mode,
            redundancy,
            True,
            lottery,
        ],
    )
    assert decode_params(packed) == slow.params(TERMS)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"model_id": b"\x05" * 31}, "model_id must be 32 bytes"),
        ({"deadline": 2**64}, "deadline must be an integer"),
        ({"redundancy": 256}, "redundancy must be an integer"),
        ({"requester": "0x" + "zz" * 20}, "hex string"),
    ],
)
def test_event_params_out_of_range_fail_as_the_request_params_do(change: dict[str, Any], problem: str) -> None:
    fields: dict[str, Any] = {
        "request_id": 7,
        "model_id": b"\x05" * 32,
        "requester": REQUESTER,
        "fee": 1,
        "deadline": 2,
        "callback_gas_limit": 3,
        "mode": Mode.SINGLE,
        "redundancy": 1,
        "lottery": 4,
        "input": b"in",
        "block_number": 9,
    }
    event = InferenceRequested(**{**fields, **change})
    with pytest.raises(ValueError, match=problem):
        event.params(TERMS)
    with pytest.raises(ValueError, match=problem):
        event_params(event, TERMS)
    good = InferenceRequested(**fields)
    assert event_params(good, TERMS) == encode_params(good.params(TERMS))


def test_decoded_params_are_shared_values_of_their_bytes() -> None:
    params = RequestParams(b"\x01" * 32, b"\x02" * 32, REQUESTER, 5, 6, 7, 8, Mode.ZK, 1, True, 9)  # type: ignore[arg-type]
    packed = encode_params(params)
    assert decode_params(packed) == params
    assert decode_params(bytes(bytearray(packed))) is decode_params(packed)  # equal bytes, decoded once
    with pytest.raises(JournalError, match="expected 352"):
        decode_params(packed[:-1])


def test_fast_request_decode_refuses_a_truncated_log() -> None:
    log = _requested_log(1, 1, 1, 0, 0, 1, b"abc")
    log["data"] = log["data"][: 2 + 2 * 100]
    with pytest.raises(ChainError, match="InferenceRequested log"):
        InferenceRequested.from_raw_log(log)


def test_request_reads_back_journalled_params(tmp_path: Path) -> None:
    event = InferenceRequested(7, b"\x05" * 32, REQUESTER, 123, 456, 789, Mode.CONSENSUS, 3, 2**100, b"in", 9)  # type: ignore[arg-type]
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        job = journal.upsert_seen(7, event_params(event, TERMS), b"in", 9, b"\x01" * 32)
        request = params_of(job)
    assert (
        request.model_id,
        request.input_hash,
        request.requester,
        request.fee,
        request.deadline,
        request.callback_gas_limit,
        request.output_bytes,
        request.mode,
        request.redundancy,
        request.env_restricted,
    ) == (b"\x05" * 32, keccak(b"in"), REQUESTER, 123, 456, 789, 16, Mode.CONSENSUS, 3, True)


# --------------------------------------------------------------------------------------------------------- journal


def test_inflight_txs_are_the_distinct_transactions_of_each_state_in_flight(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        journal.upsert_seen_many([(rid, b"p", b"i", 5, b"\x01" * 32) for rid in range(1, 61)])
        journal.mark_computed_many([(rid, b"out", b"\x02" * 32) for rid in range(1, 61)])
        batches = [bytes([b]) * 32 for b in (9, 3, 7)]
        for i, tx in enumerate(batches):  # three batch transactions of ten jobs each
            journal.txs.record(tx, i, "submit", b"raw")
            journal.mark_submitted_many(range(1 + 10 * i, 11 + 10 * i), tx, i)
        journal.mark_confirmed_many(range(21, 31))  # the third batch settled: no longer in flight
        for rid in (41, 42):
            journal.store_salt(rid, bytes([rid]) * 32)
            journal.txs.record(bytes([rid]) * 32, rid, "commit", b"raw")
            journal.mark_committed(rid, bytes([rid]) * 32, rid)
        journal.txs.record(b"\x05" * 32, 99, "reveal", b"raw")
        journal.mark_revealed(42, b"\x05" * 32, 99)
        assert journal.inflight_txs() == [
            (b"\x03" * 32, JobState.SUBMITTED),
            (b"\x05" * 32, JobState.REVEALED),
            (b"\x09" * 32, JobState.SUBMITTED),
            (bytes([41]) * 32, JobState.COMMITTED),
        ]
        with Journal(tmp_path / "j.sqlite", 31337, REQUESTER) as other:  # another hub in the same file: nothing
            assert other.inflight_txs() == []


def test_transactions_are_recorded_replaced_mined_and_unmined(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        journal.upsert_seen(1, b"p", b"i", 5, b"\x01" * 32)
        journal.mark_computed(1, b"out", b"\x02" * 32)
        first, second = b"\x0a" * 32, b"\x0b" * 32
        journal.txs.record(first, 4, "submit", b"raw-1")
        journal.mark_submitted(1, first, 4)
        assert journal.inflight_txs() == [(first, JobState.SUBMITTED)]
        journal.txs.record(second, 4, "submit", b"raw-2")  # a fee bump: same nonce
        journal.replace_tx(1, second, 4)
        assert [t.hash for t in journal.txs.with_nonce(4)] == [first, second]
        assert [j.request_id for j in journal.jobs_with_tx(second)] == [1]
        assert journal.jobs_with_tx(first) == []
        journal.txs.set_mined(second, 9)
        assert journal.request_ids_with_tx_mined_from(9) == [1]
        assert [t.hash for t in journal.txs.mined_since(8)] == [second]
        assert journal.txs.unmine_from(9) == 1
        assert journal.request_ids_with_tx_mined_from(0) == []
        assert journal.request_ids_with_tx(second) == [1]


def test_replace_tx_needs_a_job_in_flight(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        journal.upsert_seen(1, b"p", b"i", 5, b"\x01" * 32)
        with pytest.raises(JournalError, match="only a job with a transaction in flight"):
            journal.replace_tx(1, b"\x0a" * 32, 1)


def test_bulk_transitions_are_all_or_nothing_and_name_the_offender(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        for rid in (1, 2, 3):
            journal.upsert_seen(rid, b"p", b"i", 5, b"\x01" * 32)
        journal.mark_computed_many([(1, b"a", b"\x01" * 32), (2, b"b", b"\x02" * 32)])
        with pytest.raises(IllegalTransitionError, match="request 2"):
            journal.mark_computed_many([(3, b"c", b"\x03" * 32), (2, b"b", b"\x02" * 32)])
        job3 = journal.job(3)
        assert job3 is not None
        assert job3.state is JobState.SEEN  # nothing moved
        journal.mark_submitted_many([1, 2], b"\x0c" * 32, 3)
        journal.mark_confirmed_many([1])
        assert [journal.job(r).state for r in (1, 2)] == [JobState.CONFIRMED, JobState.SUBMITTED]  # type: ignore[union-attr]


def test_requeue_puts_a_reverted_delivery_back_with_an_attempt_counted(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        journal.upsert_seen(1, b"p", b"i", 5, b"\x01" * 32)
        journal.mark_computed(1, b"out", b"\x02" * 32)
        journal.mark_submitted(1, b"\x0a" * 32, 4)
        assert journal.requeue([1, 99], "InsufficientGasForCallback(...)") == 1
        job = journal.job(1)
        assert job is not None
        assert (job.state, job.submit_tx_hash, job.attempts, job.output) == (JobState.COMPUTED, None, 1, b"out")


# ------------------------------------------------------------------------------------------------------------ fees


class _Fees(TxManager):
    """TxManager's fee arithmetic with the chain's reads replaced by fixed values."""

    def __init__(self, base_fee: int, tip: int, cap: int | None = None) -> None:
        self._base_fee, self._tip, self._max_fee_wei = base_fee, tip, cap


def test_fees_leave_room_for_the_base_fee_to_double() -> None:
    assert _Fees(100, 7).fees() == (207, 7)


def test_a_replacement_bumps_both_fees_by_at_least_the_bump() -> None:
    max_fee, tip = _Fees(100, 7).fees(floor=(1_000, 50))
    assert max_fee >= 1_000 * FEE_BUMP
    assert tip >= 50 * FEE_BUMP


def test_the_fee_cap_is_kept_or_named() -> None:
    assert _Fees(100, 7, cap=150).fees() == (150, 7)
    with pytest.raises(ChainError, match=r"exceed fees\.max_fee_wei"):
        _Fees(200, 7, cap=150).fees()


@pytest.mark.parametrize(
    ("message", "used"),
    [
        ("nonce too low: next nonce 5, tx nonce 4", True),
        ("already known", True),
        ("replacement transaction underpriced", False),
        ("insufficient funds for gas * price + value", False),
    ],
)
def test_nonce_errors_are_told_apart(message: str, used: bool) -> None:
    assert is_nonce_used(RpcError("eth_sendRawTransaction", -32000, message)) is used


# ------------------------------------------------------------------------------------------------------- stopwatch


def test_stopwatch_counts_nested_sections_once() -> None:
    sw = Stopwatch()
    with sw("outer"), sw("inner"):
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass
    assert sw.seconds["inner"] >= 0.02
    assert sw.seconds["outer"] < sw.seconds["inner"]
    assert sw.total() == pytest.approx(sw.seconds["inner"] + sw.seconds["outer"])


class StakedHub(HubView):
    """`HubView` with the registry's stakes given (no chain), counting the lottery's ticket hashes."""

    def __init__(self, me: str, stakes: dict[str, int], now: float) -> None:
        super().__init__(cast(System, None), cast(JsonRpc, None), checksum(me), wall=lambda: now)
        self.stakes = {checksum(node): stake for node, stake in stakes.items()}

    def _standing_of(self, node: str, model_id: bytes) -> tuple[int, int]:
        return self.stakes.get(checksum(node), 0), 0

    def _ticket_stakes(self, model_id: bytes, requested_at: int) -> dict[ChecksumAddress, int]:
        return dict(self.stakes)

    def _still_open(self, request_id: int) -> bool:
        return True


def test_seats_open_computes_each_requests_windows_once_per_stakes(monkeypatch: pytest.MonkeyPatch) -> None:
    me, other = REQUESTER, HUB
    draw = lottery.Lottery(seed=5, requested_at=1_000, serving_stake_gwei=3, ticket_delay=4)
    params = RequestParams(b"\x01" * 32, b"\x02" * 32, REQUESTER, 0, 10**9, 0, 8, Mode.SINGLE, 1, False, draw.pack())  # type: ignore[arg-type]
    hashes = [0]
    ticket_hash = lottery.ticket_hash

    def counted(*args: Any) -> int:
        hashes[0] += 1
        return ticket_hash(*args)

    monkeypatch.setattr(lottery, "ticket_hash", counted)
    for stakes in ({me: 10**9}, {me: 10**9, other: 2 * 10**9}):
        for now in (1_000, 1_010, 1_040):
            hub = StakedHub(me, stakes, now)
            for rid in range(1, 40):
                ranked = lottery.assignment(draw, rid, hub.stakes)
                mine = lottery.opens_at(draw, rid, me, 0, stakes[me])
                if ranked[0].node == checksum(me):
                    expected = 1 if mine <= now - 1 else 0
                else:
                    expected = 0 if now - 1 < max(mine, ranked[0].opens_at + FALLBACK_GRACE_S) else 1
                hashes[0] = 0
                assert hub.seats_open(rid, params, 0) == expected
                assert hashes[0] == len(stakes)  # one ticket per serving node, this node's included
                assert hub.seats_open(rid, params, 0) == expected
                assert hashes[0] == len(stakes)  # asked again: nothing recomputed
    hub = StakedHub(me, {me: 10**9}, 1_000)
    hub.seats_open(3, params, 0)
    hub.stakes[checksum(other)] = 10**9  # another node joins: the ranking is drawn again
    hashes[0] = 0
    hub.seats_open(3, params, 0)
    assert hashes[0] == 2


def test_seats_quiet_holds_while_every_window_answered_for_stays_closed() -> None:
    draw = lottery.Lottery(seed=5, requested_at=1_000, serving_stake_gwei=1, ticket_delay=4)
    deadline = 1_020
    params = RequestParams(b"\x01" * 32, b"\x02" * 32, REQUESTER, 0, deadline, 0, 8, Mode.SINGLE, 1, False, draw.pack())  # type: ignore[arg-type]
    hub = StakedHub(REQUESTER, {REQUESTER: 10**9}, 0)
    closed = [rid for rid in range(1, 60) if lottery.opens_at(draw, rid, REQUESTER, 0, 10**9) > 1_000]
    hub.begin_seats()
    assert all(hub.seats_open(rid, params, 1_000) == 0 for rid in closed)
    first = min(lottery.opens_at(draw, rid, REQUESTER, 0, 10**9) for rid in closed)
    assert hub.seats_quiet(len(closed), first - 1)
    assert not hub.seats_quiet(len(closed), first)  # the first window opened
    assert not hub.seats_quiet(len(closed) + 1, 1_000)  # a request it was not asked about
    hub.begin_seats()
    late = RequestParams(b"\x01" * 32, b"\x02" * 32, REQUESTER, 0, 1_001, 0, 8, Mode.SINGLE, 1, False, draw.pack())  # type: ignore[arg-type]
    hub.seats_open(closed[0], late, 1_000)
    assert hub.seats_quiet(1, 1_000)
    assert not hub.seats_quiet(1, 1_001)  # its deadline came first
    opened = next(rid for rid in range(1, 60) if rid not in closed)
    hub.begin_seats()
    hub.seats_open(closed[0], params, 1_000)
    assert hub.seats_open(opened, params, 1_000) == 1
    assert not hub.seats_quiet(2, 1_000)  # an answer that starts work is never quiet


def test_stopwatch_counts_a_section_that_raises() -> None:
    sw = Stopwatch()

    def spin_then_fail() -> None:
        with sw("outer"), sw("inner"):
            end = time.thread_time() + 0.01
            while time.thread_time() < end:
                pass
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        spin_then_fail()
    assert sw.seconds["inner"] >= 0.01
    with sw("outer"):
        pass  # the stack was unwound: this section is on its own
    assert sw.seconds["outer"] < sw.seconds["inner"]


# --------------------------------------------------------------------------------------------------------- metrics


def test_metrics_and_health_are_served() -> None:
    metrics, clock = NodeMetrics(), [0.0]
    health = Health(stale_after=10, clock=lambda: clock[0])
    server = MetricsServer(metrics, health, "127.0.0.1", 0)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(base + "/healthz").status_code == 503  # not a single step yet
        health.ok()
        metrics.fulfilled.labels("SINGLE").inc(3)
        assert httpx.get(base + "/healthz").text == "ok\n"
        assert 'verinfer_requests_fulfilled_total{mode="SINGLE"} 3.0' in httpx.get(base + "/metrics").text
        clock[0] = 11
        health.failed("eth_blockNumber failed: connection refused")
        stale = httpx.get(base + "/healthz")
        assert stale.status_code == 503
        assert "connection refused" in stale.text
        assert httpx.get(base + "/nope").status_code == 404
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------------------- compute


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = tmp_path_factory.mktemp("m") / "tiny.onnx"
    onnx.save(gemm_softmax(batch="n"), path)
    spec = ModelSpec("file:///tiny.onnx", (1, 4), (1, 2), 1_000_000, 1, Mode.mask([Mode.SINGLE]))
    return LoadedModel(b"\x00" * 32, spec, OnnxRunner(path))


def test_a_batch_gives_each_input_its_own_canonical_output(tiny_model: LoadedModel) -> None:
    rng = np.random.default_rng(3)
    inputs = [codec.encode(rng.normal(size=(1, 4)), 1_000_000) for _ in range(64)]
    batched = tiny_model.compute(inputs)
    alone = [tiny_model.compute([one])[0] for one in inputs]
    assert batched == alone
    assert all(isinstance(out, bytes) and len(out) == 16 for out in batched)


def test_a_malformed_input_fails_alone_and_names_the_problem(tiny_model: LoadedModel) -> None:
    good = codec.encode(np.ones((1, 4)), 1_000_000)
    out = tiny_model.compute([good, b"\x00" * 24, good])
    assert isinstance(out[0], bytes)
    assert out[0] == out[2]
    assert isinstance(out[1], ModelError)
    assert "malformed input" in str(out[1])
    assert "takes 32 bytes, got 24" in str(out[1])


def test_a_version_2_journal_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with Journal(path, 31337, HUB) as journal:
        journal.upsert_seen(1, b"p", b"i", 5, b"\x01" * 32)
    with sqlite3.connect(path) as db:  # what a version 2 file looks like: no proof column
        db.execute("ALTER TABLE jobs DROP COLUMN proof")
        db.execute("PRAGMA user_version = 2")
    with Journal(path, 31337, HUB) as journal:
        job = journal.job(1)
        assert job is not None
        assert (job.state, job.proof) == (JobState.SEEN, None)
        journal.mark_proven(1, b"out", b"\x02" * 32, b"proof")
        proven = journal.job(1)
        assert proven is not None
        assert proven.proof == b"proof"
        assert journal.db.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def test_upsert_seen_many_inserts_new_jobs_and_checks_known_ones(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite", 31337, HUB) as journal:
        journal.upsert_seen(1, b"p1", b"i1", 5, b"\x01" * 32)
        journal.upsert_seen(2, b"p2", b"i2", 5, b"\x01" * 32)
        journal.mark_computed(2, b"out", b"\x02" * 32)
        # 1 moved to another block (a reorg re-mined it), 3 and 4 are new.
        journal.upsert_seen_many(
            [(1, b"p1", b"i1", 6, b"\x03" * 32), (3, b"p3", b"i3", 6, b"\x03" * 32), (4, b"p4", b"i4", 6, b"\x03" * 32)]
        )
        jobs = {rid: journal.job(rid) for rid in (1, 3, 4)}
        assert [(j.state, j.block_number, j.input) for j in jobs.values() if j] == [
            (JobState.SEEN, 6, b"i1"),
            (JobState.SEEN, 6, b"i3"),
            (JobState.SEEN, 6, b"i4"),
        ]
        # 2's id now names another request: the old record is quarantined, the new one recorded (never a crash).
        journal.upsert_seen_many([(5, b"p5", b"i5", 7, b"\x04" * 32), (2, b"other", b"i2", 7, b"\x04" * 32)])
        replaced = journal.job(2)
        assert replaced is not None
        assert (replaced.state, replaced.params) == (JobState.SEEN, b"other")
        assert journal.notes == [(2, "quarantined")]
        assert journal.quarantined() == 1


# ------------------------------------------------------------------------------------------------------ wallet


def test_a_low_balance_pauses_serving_loudly_and_a_refund_resumes_it() -> None:
    from verinfer.node.metrics import Health, NodeMetrics
    from verinfer.node.wallet import Wallet

    class Log:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def warning(self, event: str, **_: object) -> None:
            self.lines.append(("warning", event))

        def info(self, event: str, **_: object) -> None:
            self.lines.append(("info", event))

    health, metrics, log = Health(stale_after=30.0), NodeMetrics(), Log()
    health.ok()
    wallet = Wallet(health, metrics, log, min_balance_wei=None, batch_gas=1_000_000)
    assert wallet.update(balance=10**18, base_fee=7) is False
    assert wallet.update(balance=13_999_999, base_fee=7) is True  # under 1M gas x 2 x 7 wei
    assert metrics.wallet_paused._value.get() == 1
    healthy, why = health.status()
    assert not healthy
    assert "cannot pay for gas" in why
    assert wallet.update(balance=14_000_000, base_fee=7) is False
    assert health.status() == (True, "ok")
    assert log.lines == [
        ("warning", "wallet balance low: serving paused until it is funded"),
        ("info", "wallet funded again: serving resumed"),
    ]
    assert Wallet(health, metrics, log, min_balance_wei=5, batch_gas=1).threshold(base_fee=10**9) == 5


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("nonce too low", "nonce_used"),
        ("already known", "nonce_used"),
        ("replacement transaction underpriced", "nonce_occupied"),
        ("Nonce too high. Expected nonce to be 3 but got 5.", "nonce_high"),
        ("max fee per gas less than block base fee", "fee"),
        ("insufficient funds for gas * price + value", "transient"),
        ("txpool is full", "transient"),
        ("intrinsic gas too low", "permanent"),
    ],
)
def test_send_errors_are_classified_so_nonce_and_transient_ones_are_never_refusals(message: str, kind: str) -> None:
    from verinfer.chain.txmanager import classify_send_error

    assert classify_send_error(RpcError("eth_sendRawTransaction", -32000, message)) == kind
