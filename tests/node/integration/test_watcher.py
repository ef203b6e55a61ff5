"""LogWatcher on the session anvil: requests made through the hub reach the journal once, confirmations hold back
recent blocks, and an `anvil_reorg` that drops a request is detected and undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.types import RPCEndpoint, TxReceipt

from tests.node.support import MODEL_ID, PRICE, Actors
from verinfer.chain.watcher import LogWatcher, Web3Source
from verinfer.node import logs
from verinfer.node.ingest import Ingest
from verinfer.node.journal import JobState, Journal
from verinfer.node.reorg import ReorgHandler
from verinfer.types import Mode

pytestmark = pytest.mark.integration


@pytest.fixture
def journal(system: Actors, w3: Web3, tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", w3.eth.chain_id, system.deployment.hub.address) as journal:
        yield journal


class NoNonces:
    def forget(self) -> None:
        """Nothing signed here: nothing to forget."""


def watcher(system: Actors, w3: Web3, journal: Journal, **options: Any) -> Ingest:
    """A watcher starting at the next block, so requests of the session's other tests are out of its sight; the
    ingest stage stores its batches in `journal`."""
    source = LogWatcher(Web3Source(w3), system.deployment.hub.address, start_block=w3.eth.block_number + 1, **options)
    return Ingest(source, journal, system.user, ReorgHandler(journal, NoNonces(), logs.logger()))


def request(system: Actors, tag: int) -> TxReceipt:
    deadline = int(system.user.sender.w3.eth.get_block("latest")["timestamp"]) + 3600
    fn = system.user.hub.functions.requestInference(MODEL_ID, bytes([tag]) * 32, Mode.SINGLE, 1, 0, deadline)
    return system.user.sender.send(fn, value=PRICE)


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), params)
    assert "error" not in response, response
    return response["result"]


def drain(w: Ingest) -> list[int]:
    """Polls until the watcher is caught up; the request ids it reported, in order."""
    seen: list[int] = []
    while True:
        result = w.poll()
        seen += [event.request_id for event in result.requests]
        if not result.scanned:
            return seen


def test_requests_are_reported_once_across_many_ranges(system: Actors, w3: Web3, journal: Journal) -> None:
    w = watcher(system, w3, journal, max_range=2)
    receipts = [request(system, tag) for tag in (1, 2, 3)]
    rpc(w3, "anvil_mine", [3])
    seen = drain(w)
    assert len(seen) == 3
    assert len(set(seen)) == 3
    assert drain(w) == []
    jobs = journal.jobs(JobState.SEEN)
    assert [job.request_id for job in jobs] == seen
    assert [(job.block_number, job.block_hash) for job in jobs] == [
        (r["blockNumber"], bytes(r["blockHash"])) for r in receipts
    ]
    assert [job.input for job in jobs] == [bytes([tag]) * 32 for tag in (1, 2, 3)]


def test_confirmations_hold_back_recent_blocks(system: Actors, w3: Web3, journal: Journal) -> None:
    w = watcher(system, w3, journal, confirmations=3)
    request(system, 1)
    assert drain(w) == []
    rpc(w3, "anvil_mine", [2])
    assert drain(w) == []
    rpc(w3, "anvil_mine", [1])
    assert len(drain(w)) == 1


def test_a_reorg_that_drops_a_request_resets_it_until_it_is_mined_again(
    system: Actors, w3: Web3, journal: Journal
) -> None:
    w = watcher(system, w3, journal)
    mined = request(system, 7)
    (request_id,) = drain(w)
    journal.mark_computed(request_id, b"output", b"\x01" * 32)

    rpc(w3, "anvil_reorg", [1, []])  # replaces the request's block with an empty one
    assert w3.eth.block_number == mined["blockNumber"]
    assert bytes(w3.eth.get_block(mined["blockNumber"])["hash"]) != bytes(mined["blockHash"])
    result = w.poll()
    assert result.reorged_from == mined["blockNumber"]
    assert result.requests == ()
    job = journal.job(request_id)
    assert job is not None
    assert (job.state, job.reorgs, job.output) == (JobState.SEEN, 1, None)
    assert journal.request_ids_from_block(mined["blockNumber"] + 1) == []

    again = request(system, 7)
    assert drain(w) == [request_id]
    job = journal.job(request_id)
    assert job is not None
    assert job.state is JobState.SEEN
    assert (job.block_number, job.block_hash) == (again["blockNumber"], bytes(again["blockHash"]))
