"""`request_many` / `BulkRequests.request_ids` when the node forgets a transaction: a pool evicts it, a reorg or a
restart loses it. The requester waiting for its request ids sends it again (as a wallet rebroadcasts), so a
dropped request does not stall every request behind it on its nonce; a timeout names the missing transaction and
whether the node still holds it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import node_world
from verinfer.errors import ChainError
from verinfer.node.service import NodeService
from verinfer.sdk.bulk import BulkRequests, request_many
from verinfer.types import Status

pytestmark = pytest.mark.integration


def test_a_dropped_request_is_sent_again_and_the_ones_behind_it_are_mined(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        node = NodeService(world.config(0))
        node.setup()  # registers the node: a request for a model nobody serves is refused
        node.close()  # not running: the requests stay pending
        time.sleep(1.1)  # as in running(): a request must come after the stake it draws a ticket from
        assert world.rpc("evm_setAutomine", [False]).get("error") is None
        sent = request_many(world.client, world.model_id, world.rows(4, seed=5))
        dropped = sent.tx_hashes[1]  # the ones after it wait on its nonce
        assert world.rpc("anvil_dropTransaction", ["0x" + dropped.hex()]).get("error") is None
        assert world.rpc("eth_getTransactionByHash", ["0x" + dropped.hex()])["result"] is None
        assert world.rpc("evm_setIntervalMining", [1]).get("error") is None

        # Without the signed transactions nothing can be sent again: the wait ends naming the dropped one.
        with pytest.raises(ChainError, match=f"first, 0x{dropped.hex()}, is unknown to the node"):
            BulkRequests(sent.tx_hashes).request_ids(world.client, timeout=3.0)

        ids = sent.request_ids(world.client, timeout=60.0)
        assert len(set(ids)) == 4
        assert set(world.statuses(ids).values()) == {Status.PENDING}
        mined = world.rpc("eth_getTransactionReceipt", ["0x" + dropped.hex()])["result"]
        assert mined is not None
        assert int(mined["status"], 16) == 1
