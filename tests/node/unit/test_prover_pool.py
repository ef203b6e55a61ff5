"""The proving pool against a proof that kills its worker (a circuit whose proving exhausts the machine's memory
gets its worker killed by the kernel): that proof fails naming the cause, and the node goes on proving the others.
Before, the dead worker broke the process pool for good and the next submission raised out of the scheduler."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from verinfer.errors import ModelError
from verinfer.node.prover import Proven, ProvingPool

CAP_S = 60.0  # a guard against a hang, not a timing assertion


def fake_prove(artifacts_dir: str, model_id: bytes, input_data: bytes) -> Proven:
    """Runs in the pool's worker: `b"oom"` kills the worker as the kernel's OOM killer would; the rest is proven."""
    if input_data == b"oom":
        os.kill(os.getpid(), signal.SIGKILL)
    return Proven(output=input_data[::-1], proof=model_id + input_data, seconds=0.0)


def collect(pool: ProvingPool, count: int) -> dict[int, Proven | ModelError]:
    outcomes: dict[int, Proven | ModelError] = {}
    deadline = time.monotonic() + CAP_S
    while len(outcomes) < count and time.monotonic() < deadline:
        outcomes.update(pool.finished())
        time.sleep(0.02)
    assert len(outcomes) == count, f"only {sorted(outcomes)} of {count} proofs finished within {CAP_S}s"
    return outcomes


def test_a_proof_that_kills_its_worker_fails_alone_and_proving_goes_on(tmp_path: Path) -> None:
    pool = ProvingPool(tmp_path, workers=1, prove=fake_prove)
    try:
        pool.submit(1, b"m", b"first")
        pool.submit(2, b"m", b"oom")
        pool.submit(3, b"m", b"after")  # waiting behind the hostile proof, not inside the pool it breaks
        pool.submit(3, b"m", b"after")  # a second submission of a request id is a no-op
        assert pool.busy == 3
        assert all(pool.has(request_id) for request_id in (1, 2, 3))
        outcomes = collect(pool, 3)
        assert outcomes[1] == Proven(b"tsrif", b"mfirst", 0.0)
        assert isinstance(outcomes[2], ModelError)
        assert "proving worker died mid-proof" in str(outcomes[2])
        assert "out of memory" in str(outcomes[2])
        assert outcomes[3] == Proven(b"retfa", b"mafter", 0.0)
        assert pool.restarts == 1
        assert pool.busy == 0

        pool.submit(4, b"m", b"later")  # the fresh pool serves on
        assert collect(pool, 1) == {4: Proven(b"retal", b"mlater", 0.0)}
    finally:
        pool.close()


def test_the_pool_holds_no_more_proofs_than_workers(tmp_path: Path) -> None:
    """Queued proofs wait outside the process pool, so a dead worker takes only the proofs it was running."""
    pool = ProvingPool(tmp_path, workers=2, prove=fake_prove)
    try:
        for request_id in range(1, 6):
            pool.submit(request_id, b"m", b"x%d" % request_id)
        assert pool.proving == 2
        assert pool.busy == 5
        outcomes = collect(pool, 5)
        assert {rid: out.output for rid, out in outcomes.items() if isinstance(out, Proven)} == {
            rid: b"%dx" % rid for rid in range(1, 6)
        }
    finally:
        pool.close()
