"""LogWatcher against a small in-memory chain, alone and with the ingest stage storing its batches in a journal:
range splitting, confirmations, reorg walk-back, RPC errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from eth_abi.abi import encode
from web3 import Web3
from web3.exceptions import BlockNotFound, Web3Exception

from verinfer.chain.abi import find_entry, topic
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.watcher import BlockRef, JsonRpcSource, LogWatcher, Web3Source
from verinfer.errors import ChainError
from verinfer.node.ingest import Ingest
from verinfer.node.journal import JobState, Journal
from verinfer.node.reorg import ReorgHandler
from verinfer.node.request import event_params
from verinfer.types import ModelTerms

pytestmark = pytest.mark.usefixtures("forge_build")

HUB = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
REQUESTER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MODEL = Web3.keccak(text="model")
CHAIN_ID = 31337
TERMS = ModelTerms(
    price=1, input_bytes=32, output_bytes=8, modes=7, deprecated=False, env_restricted=False, exists=True, scale=10**6
)


class FakeEth:
    """The three eth_* calls the watcher makes, over a list of blocks; `fork(n)` replaces blocks from n on."""

    def __init__(self, length: int) -> None:
        self.hashes: list[bytes] = []
        self.logs: dict[int, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.failing: str | None = None
        self._branch = 0
        self.mine(length)

    def mine(self, count: int = 1) -> None:
        for _ in range(count):
            self.hashes.append(Web3.keccak(text=f"branch {self._branch} block {len(self.hashes)}"))

    def fork(self, at: int) -> None:
        """Replaces blocks `at`.. with as many new, empty ones (anvil_reorg with no transactions)."""
        self._branch += 1
        length = len(self.hashes)
        del self.hashes[at:]
        self.logs = {n: logs for n, logs in self.logs.items() if n < at}
        self.mine(length - at)

    def request(self, request_id: int, block: int | None = None) -> int:
        """Puts an InferenceRequested log in `block` (a new block by default); returns the block number."""
        if block is None:
            self.mine()
            block = len(self.hashes) - 1
        entry = find_entry(load_artifact("InferenceHub").abi, "event", "InferenceRequested")
        self.logs.setdefault(block, []).append(
            {
                "address": HUB,
                "topics": [
                    topic(entry),
                    encode(["uint256"], [request_id]),
                    bytes(MODEL),
                    encode(["address"], [REQUESTER]),
                ],
                "data": encode(
                    ["uint256", "uint64", "uint32", "uint8", "uint8", "uint256", "bytes"],
                    [10**16, 1_700_000_000, 0, 0, 1, 0, bytes([request_id]) * 32],
                ),
                "blockNumber": block,
                "blockHash": self.hashes[block],
                "transactionHash": Web3.keccak(text=f"tx {request_id}"),
                "logIndex": 0,
            }
        )
        return block

    def _call(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.failing == name:
            raise Web3Exception(f"{name}: connection refused")

    @property
    def block_number(self) -> int:
        self._call("block_number", None)
        return len(self.hashes) - 1

    def get_block(self, number: int) -> dict[str, Any]:
        self._call("get_block", number)
        if number >= len(self.hashes):
            raise BlockNotFound(f"block {number} not found")
        return {"number": number, "hash": self.hashes[number]}

    def get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        self._call("get_logs", (query["fromBlock"], query["toBlock"]))
        assert query["address"] == HUB
        return [log for n in range(query["fromBlock"], query["toBlock"] + 1) for log in self.logs.get(n, [])]


class FakeWeb3:
    def __init__(self, length: int) -> None:
        self.eth = FakeEth(length)


@pytest.fixture
def chain() -> FakeWeb3:
    return FakeWeb3(length=11)  # blocks 0..10


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", CHAIN_ID, HUB) as journal:
        yield journal


class FakeHub:
    """The model terms ingestion reads, counted."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []

    def terms_of(self, model_id: bytes) -> ModelTerms:
        self.reads.append(model_id)
        return TERMS


class FakeNonces:
    def __init__(self) -> None:
        self.forgotten = 0

    def forget(self) -> None:
        self.forgotten += 1


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def watcher(chain: FakeWeb3, journal: Journal, **options: Any) -> Ingest:
    """The watcher on `chain`, its batches stored in `journal` by the ingest stage."""
    source = LogWatcher(Web3Source(cast(Web3, chain)), HUB, **options)
    return Ingest(source, journal, FakeHub(), ReorgHandler(journal, FakeNonces(), FakeLog()))


class Known(dict[int, bytes]):
    def block_hash(self, number: int) -> bytes | None:
        return self.get(number)


def ranges(chain: FakeWeb3) -> list[tuple[int, int]]:
    return [arg for name, arg in chain.eth.calls if name == "get_logs"]


def test_splits_the_scan_into_bounded_ranges(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.request(7, block=4)
    w = watcher(chain, journal, max_range=4)
    results = [w.poll() for _ in range(4)]
    assert [r.scanned for r in results] == [range(1, 5), range(5, 9), range(9, 11), range(11, 11)]
    assert ranges(chain) == [(1, 4), (5, 8), (9, 10)]
    assert [[e.request_id for e in r.requests] for r in results] == [[7], [], [], []]
    cursor = journal.cursor()
    assert cursor is not None
    assert (cursor.block_number, cursor.block_hash) == (10, chain.eth.hashes[10])


def test_records_requests_as_seen_with_their_block(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.request(3, block=2)
    (event,) = watcher(chain, journal).poll().requests
    job = journal.job(3)
    assert job is not None
    assert job.state is JobState.SEEN
    assert (job.block_number, job.block_hash) == (2, chain.eth.hashes[2])
    assert (job.params, job.input) == (event_params(event, TERMS), bytes([3]) * 32)
    assert journal.block_hash(2) == chain.eth.hashes[2]


def test_confirmations_hold_back_recent_blocks(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.request(1, block=9)
    w = watcher(chain, journal, confirmations=2)
    first = w.poll()
    assert (first.scanned, first.requests) == (range(1, 9), ())
    chain.eth.mine()
    assert [e.request_id for e in w.poll().requests] == [1]


def test_a_reorg_walks_back_to_the_last_matching_block_and_resets_jobs(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.request(1, block=3)
    chain.eth.request(2, block=6)
    w = watcher(chain, journal)
    w.poll()
    journal.mark_computed(2, b"out", b"\x01" * 32)
    chain.eth.fork(5)  # blocks 5..10 replaced; request 2 (block 6) gone, request 1 (block 3) stays
    result = w.poll()
    assert result.reorged_from == 4  # block 3 (recorded, holds request 1) is the newest hash that still matches
    assert result.scanned == range(4, 11)
    assert result.requests == ()
    job = journal.job(2)
    assert job is not None
    assert (job.state, job.reorgs, job.output) == (JobState.SEEN, 1, None)
    kept = journal.job(1)
    assert kept is not None
    assert kept.reorgs == 0


def test_a_reorg_past_every_recorded_block_rescans_from_the_start(chain: FakeWeb3, journal: Journal) -> None:
    w = watcher(chain, journal, start_block=3)
    w.poll()
    chain.eth.fork(4)
    result = w.poll()
    assert result.reorged_from == 3
    assert result.scanned == range(3, 11)


def test_a_reorg_deeper_than_the_window_rescans_from_the_start_block(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.mine(20)
    w = watcher(chain, journal, keep_blocks=5)
    w.poll()
    chain.eth.fork(10)
    batch = w.poll()  # a rollback below the records: never an error loop, the chain as it is wins
    assert w.rollbacks == 1
    assert batch.scanned.start == cast(LogWatcher, w.watcher).start_block


def test_a_shortened_chain_is_a_reorg(chain: FakeWeb3, journal: Journal) -> None:
    chain.eth.request(1, block=5)
    w = watcher(chain, journal)
    w.poll()
    del chain.eth.hashes[8:]
    result = w.poll()
    assert result.reorged_from == 6
    assert result.scanned == range(6, 8)


@pytest.mark.parametrize("fork_at", [9, 3], ids=["in-range", "below-cursor"])
def test_a_reorg_racing_the_scan_writes_nothing(chain: FakeWeb3, journal: Journal, fork_at: int) -> None:
    w = watcher(chain, journal, max_range=5)
    w.poll()  # cursor at 5
    before = journal.cursor()
    original = chain.eth.get_logs

    def get_logs_then_fork(query: dict[str, Any]) -> list[dict[str, Any]]:
        logs = original(query)
        chain.eth.fork(fork_at)
        return logs

    chain.eth.get_logs = get_logs_then_fork  # type: ignore[method-assign]
    assert w.poll().scanned == range(6, 6)
    assert journal.cursor() == before
    chain.eth.get_logs = original  # type: ignore[method-assign]
    assert w.poll().reorged_from == (None if fork_at > 5 else 1)


@pytest.mark.parametrize("call", ["block_number", "get_block", "get_logs"])
def test_rpc_errors_are_chain_errors_naming_the_call(chain: FakeWeb3, journal: Journal, call: str) -> None:
    chain.eth.failing = call
    expected = {"block_number": "eth_blockNumber", "get_block": "eth_getBlockByNumber", "get_logs": "eth_getLogs"}
    with pytest.raises(ChainError, match=expected[call]):
        watcher(chain, journal).poll()
    assert journal.cursor() is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"start_block": 0}, "start_block"), ({"max_range": 0}, "max_range"), ({"confirmations": -1}, "confirmations")],
)
def test_refuses_bad_options(chain: FakeWeb3, journal: Journal, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        watcher(chain, journal, **options)


# ------------------------------------------------------------------------------------------------ the watcher alone


def test_the_watcher_reports_batches_and_stores_nothing(chain: FakeWeb3) -> None:
    chain.eth.request(5, block=4)
    w = LogWatcher(Web3Source(cast(Web3, chain)), HUB, max_range=6)
    batch = w.poll(None, Known())
    assert batch.scanned == range(1, 7)
    assert [e.request_id for e in batch.requests] == [5]
    assert batch.end == BlockRef(6, chain.eth.hashes[6])
    assert dict(batch.block_hashes) == {4: chain.eth.hashes[4], 6: chain.eth.hashes[6]}
    assert batch.reorg is None
    # The caller decides what the position is: polling again from nothing scans the same blocks again.
    assert w.poll(None, Known()).scanned == range(1, 7)
    assert w.poll(batch.end, Known(batch.block_hashes)).scanned == range(7, 11)


def test_the_watcher_reports_a_reorg_with_its_ancestor(chain: FakeWeb3) -> None:
    w = LogWatcher(Web3Source(cast(Web3, chain)), HUB)
    known = Known({3: chain.eth.hashes[3], 10: chain.eth.hashes[10]})
    chain.eth.fork(5)
    batch = w.poll(BlockRef(10, known[10]), known)
    assert batch.reorg is not None
    assert (batch.reorg.first_replaced, batch.reorg.ancestor) == (4, BlockRef(3, chain.eth.hashes[3]))
    assert batch.scanned == range(4, 11)


def test_ingestion_reads_each_models_terms_once(chain: FakeWeb3, journal: Journal) -> None:
    for rid in (1, 2, 3):
        chain.eth.request(rid, block=2 + rid)
    ingest = watcher(chain, journal)
    ingest.poll()
    assert isinstance(ingest.hub, FakeHub)
    assert ingest.hub.reads == [bytes(MODEL)]
    assert all(len(journal.job(rid).params) == 352 for rid in (1, 2, 3))  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ over plain JSON-RPC


def rpc_source(chain: FakeWeb3, posts: list[list[str]]) -> JsonRpcSource:
    """`JsonRpcSource` (what the node uses) over the same fake chain, served as JSON-RPC; `posts` gets the methods
    of each POST."""

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        method, params = call["method"], call["params"]
        if method == "eth_blockNumber":
            return {"result": hex(chain.eth.block_number)}
        if method == "eth_getBlockByNumber":
            try:
                block = chain.eth.get_block(int(params[0], 16))
            except BlockNotFound:
                return {"result": None}
            return {"result": {"number": params[0], "hash": "0x" + block["hash"].hex()}}
        query = params[0]
        logs = chain.eth.get_logs(
            {**query, "fromBlock": int(query["fromBlock"], 16), "toBlock": int(query["toBlock"], 16)}
        )
        return {"result": [_as_json(log) for log in logs]}

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        posts.append([c["method"] for c in calls])
        answers = [{"jsonrpc": "2.0", "id": c["id"], **answer(c)} for c in calls]
        return httpx.Response(200, json=answers if isinstance(body, list) else answers[0])

    return JsonRpcSource(JsonRpc("http://127.0.0.1:8545", timeout=2, transport=httpx.MockTransport(respond)))


def _as_json(log: dict[str, Any]) -> dict[str, Any]:
    def hexed(value: Any) -> Any:
        return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else value

    out = {key: hexed(value) for key, value in log.items()}
    out["topics"] = [hexed(t) for t in log["topics"]]
    out["blockNumber"], out["logIndex"] = hex(log["blockNumber"]), hex(log["logIndex"])
    return out


def test_json_rpc_source_batches_and_reads_what_web3_reads(chain: FakeWeb3) -> None:
    posts: list[list[str]] = []
    over_rpc = LogWatcher(rpc_source(chain, posts), HUB, max_range=4)
    over_web3 = LogWatcher(Web3Source(cast(Web3, chain)), HUB, max_range=4)
    known = [Known(), Known()]
    positions: list[BlockRef | None] = [None, None]
    chain.eth.request(7, block=4)

    def both() -> list[Any]:
        batches = []
        for i, w in enumerate((over_rpc, over_web3)):
            batch = w.poll(positions[i], known[i])
            if batch.reorg is not None:
                positions[i] = batch.reorg.ancestor
            if batch.end is not None:
                positions[i] = batch.end
                known[i].update(batch.block_hashes)
            batches.append(batch)
        return batches

    for _ in range(4):
        rpc_batch, web3_batch = both()
        assert rpc_batch == web3_batch
    posts.clear()
    assert both()[0].scanned == range(11, 11)
    assert posts == [["eth_blockNumber", "eth_getBlockByNumber"]]  # an idle poll: one POST
    chain.eth.fork(8)
    chain.eth.request(9)
    posts.clear()
    rpc_batch, web3_batch = both()
    assert rpc_batch == web3_batch
    assert rpc_batch.reorged_from is not None
    # The head with the position's hash, the walk back, the range end, the logs, both re-checks in one.
    assert posts[0] == ["eth_blockNumber", "eth_getBlockByNumber"]
    assert posts[-1] == ["eth_getBlockByNumber", "eth_getBlockByNumber"]


def test_json_rpc_source_sees_a_reorg_racing_the_scan(chain: FakeWeb3, journal: Journal) -> None:
    posts: list[list[str]] = []
    source = LogWatcher(rpc_source(chain, posts), HUB, max_range=5)
    w = Ingest(source, journal, FakeHub(), ReorgHandler(journal, FakeNonces(), FakeLog()))
    w.poll()  # cursor at 5
    before = journal.cursor()
    original = chain.eth.get_logs

    def get_logs_then_fork(query: dict[str, Any]) -> list[dict[str, Any]]:
        logs = original(query)
        chain.eth.fork(3)
        return logs

    chain.eth.get_logs = get_logs_then_fork  # type: ignore[method-assign]
    assert w.poll().scanned == range(6, 6)
    assert journal.cursor() == before
    chain.eth.get_logs = original  # type: ignore[method-assign]
    assert w.poll().reorged_from == 1
