"""The node's fee policy prices the requester's callback: a request whose callback gas no escrow pays is skipped
(the deliverer would burn it for a 1,000 wei fee), while the same request with its callback's gas escrowed is served
and the unused escrow goes back to the requester."""

from __future__ import annotations

import time
from pathlib import Path

import onnx
import pytest

from tests.node.integration.nodeworld import node_world, running
from tests.node.support import gemm_softmax
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = pytest.mark.integration

CHEAP = 1_000  # wei: far below any callback's gas
CALLBACK_GAS = 2_000_000
CAP = 10**10  # 10 gwei per gas: above the devnet's base fee


def test_fee_policy_refuses_a_callback_its_escrow_does_not_cover(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        path = tmp_path / "cheap.onnx"
        onnx.save_model(gemm_softmax(seed=5), path)
        cheap = world.client.register_model(path, path.as_uri(), CHEAP, [Mode.SINGLE])
        row = [[0.1, 0.2, 0.3, 0.4]]
        with running(NodeService(world.config(0))) as service:
            unpaid = world.client.request(cheap, row, callback_gas_limit=CALLBACK_GAS)
            paid = world.client.request(cheap, row, callback_gas_limit=CALLBACK_GAS, callback_gas_price=CAP)
            paid.result(timeout=60.0)
            assert service.journal is not None
            journal = service.journal
            deadline = time.monotonic() + 30
            while (job := journal.job(unpaid.request_id)) is None or job.state is not JobState.FAILED:
                assert time.monotonic() < deadline, "the unpaid request was neither skipped nor served"
                time.sleep(0.1)
            assert job.fail_reason is not None
            assert job.fail_reason.startswith(f"skipped: fee share {CHEAP} wei < "), job.fail_reason
            assert f"its {CALLBACK_GAS}-gas callback escrowed at 0 wei/gas" in job.fail_reason, job.fail_reason
        assert unpaid.status() == Status.PENDING  # left for its requester to reclaim after the deadline
        # The requester is an account without code: its callback costs nothing, so the whole escrow came back.
        assert world.client.balance() == CAP * CALLBACK_GAS
        node = world.owner.hub.functions.balanceOf(world.node_address(0)).call()
        assert node == CHEAP  # the fee; no callback gas was burned, none reimbursed
