"""Hostile models meet the sandbox: each model runs in a worker process with a wall-clock and a memory limit, so a
`Loop` of 10^9 iterations or a `Tile` sized by its input fails its own request with the reason `limit` (once: it is
not run again, not even after a restart) while every other request is served, and SIGTERM stops the node within
5 s even while a model is mid-call."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from eth_utils.crypto import keccak

from tests.node.hostile import loop_model, looping_text_classifier, tile_model
from tests.node.integration.nodeworld import PRICE, SCALE, NodeWorld, node_world, running, tally
from verinfer.inference.sandbox import Sandbox
from verinfer.node.journal import Job, JobState, Journal
from verinfer.node.service import NodeService
from verinfer.types import FORMAT_VARIABLE_INPUT, Mode, ModelSpec, Status

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0
MEMORY_MB = 256
FAIL_CAP_S = 60.0
STOP_LIMIT_S = 5.0


def register(world: NodeWorld, name: str, model: bytes) -> bytes:
    path = world.work / f"{name}.onnx"
    path.write_bytes(model)
    return bytes(world.client.register_model(path, path.as_uri(), PRICE, [Mode.SINGLE], scale=SCALE))


def request(world: NodeWorld, model_id: bytes, row: list[float]) -> int:
    return int(world.client.request(model_id, [row]).request_id)


def wait_failed(journal: Journal, ids: list[int], cap_s: float = FAIL_CAP_S) -> list[Job]:
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        jobs = [journal.job(rid) for rid in ids]
        if all(job is not None and job.state is JobState.FAILED for job in jobs):
            return [job for job in jobs if job is not None]
        time.sleep(0.1)
    raise AssertionError(f"not all of {ids} failed within {cap_s}s: {[journal.job(rid) for rid in ids]}")


def limit_metric(service: NodeService) -> float:
    return float(service.metrics.failed.labels("limit")._value.get())


def test_sandbox_loop_model_times_out(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        loop_id = register(world, "loop", loop_model().SerializeToString())
        config = world.config(0, sandbox={"timeout_s": TIMEOUT_S, "memory_mb": MEMORY_MB})
        with running(NodeService(config)) as service:
            hostile = [request(world, loop_id, [0.1, 0.2, 0.3, 0.4]) for _ in range(2)]
            honest = world.request(5)
            assert set(world.wait_final(honest).values()) == {Status.FULFILLED}
            assert service.journal is not None
            assert service.catalog is not None
            failed = wait_failed(service.journal, hostile)
            for job in failed:
                assert job.fail_reason is not None
                assert job.fail_reason.startswith("limit: ")
                assert f"within its {TIMEOUT_S:g}s limit (sandbox.timeout_s)" in job.fail_reason
            assert limit_metric(service) == len(hostile)
            sandbox = service.catalog.get(loop_id).runner
            assert isinstance(sandbox, Sandbox)
            breaches = sandbox.breaches
            time.sleep(3 * TIMEOUT_S)  # not retried: the failed requests are not run again
            assert sandbox.breaches == breaches
            assert httpx.get(f"http://127.0.0.1:{service.metrics_port}/healthz").status_code == 200
        # A restarted node does not run them again either: failed is final.
        with running(NodeService(config)) as again:
            more = world.request(2, seed=1)
            assert set(world.wait_final(more).values()) == {Status.FULFILLED}
            assert again.catalog is not None
            loaded = again.catalog._loaded.get(loop_id)  # loaded at start (warm-up), but never run
            assert loaded is None or (isinstance(loaded.runner, Sandbox) and loaded.runner.breaches == 0)
            assert limit_metric(again) == 0
        assert set(world.statuses(hostile).values()) == {Status.PENDING}
        assert tally(world, "sandbox: loop model (honest requests)", honest + more).final_once == len(honest + more)
        hostile_tally = tally(world, "sandbox: loop model (hostile requests, failed `limit`)", hostile)
        assert (hostile_tally.lost, hostile_tally.twice) == (len(hostile), 0)

        # SIGTERM mid-inference: a node whose model is looping (limit 120 s) stops within 5 s, its worker too.
        path = world.config_file(0, sandbox={"timeout_s": 120.0, "memory_mb": MEMORY_MB}, metrics={"enabled": False})
        log = tmp_path / "node.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "verinfer.node", "--config", str(path), "--json-logs"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            busy = request(world, loop_id, [0.5, 0.5, 0.5, 0.5])
            worker = wait_for_busy_worker(process.pid, 120.0)
            assert process.poll() is None, log.read_text()[-3000:]
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            stopped_in = time.monotonic() - started
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        print(f"SIGTERM mid-inference: stopped in {stopped_in:.2f}s")
        assert process.returncode == 0, log.read_text()[-3000:]
        assert stopped_in < STOP_LIMIT_S
        assert _gone(worker)
        assert world.statuses([busy]) == {busy: Status.PENDING}


SANDBOX_HOLDER = """
import sys
from verinfer.inference.sandbox import Sandbox, SandboxLimits
sandbox = Sandbox(sys.argv[1], limits=SandboxLimits(timeout_s=600.0, memory_bytes=1 << 28))
sandbox.run_batch([[0.5, 0.5, 0.5, 0.5]])
"""


def test_sandbox_worker_dies_with_a_killed_node(tmp_path: Path) -> None:
    """A node killed with SIGKILL cannot stop its workers: a busy one (a looping model) notices its node is gone and
    exits on its own instead of burning a core for the rest of its limit."""
    model = tmp_path / "loop.onnx"
    model.write_bytes(loop_model(iterations=10**12).SerializeToString())
    holder = subprocess.Popen([sys.executable, "-c", SANDBOX_HOLDER, str(model)], start_new_session=True)
    try:
        worker = wait_for_busy_worker(holder.pid, 120.0)
        holder.kill()
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not _gone(worker):
            time.sleep(0.1)
        assert _gone(worker), f"worker {worker} outlived its node"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)  # the fork server and its workers are in the holder's group
        holder.wait()


def test_sandbox_text_model_loop_times_out(tmp_path: Path, forge_build: Path) -> None:
    """Text models run in a sandbox worker too: a string classifier that loops fails its own request with the reason
    `limit`, and the node goes on serving."""
    with node_world(tmp_path) as world:
        path = world.work / "looping-text.onnx"
        path.write_bytes(looping_text_classifier().SerializeToString())
        model_id = bytes(keccak(path.read_bytes()))
        spec = ModelSpec(
            path.as_uri(), (64,), (1, 1), SCALE, PRICE, Mode.mask([Mode.SINGLE]), format=FORMAT_VARIABLE_INPUT
        )
        world.client.system.register_model(model_id, spec)  # past the SDK, whose registration would run it
        config = world.config(0, sandbox={"timeout_s": TIMEOUT_S, "memory_mb": MEMORY_MB})
        with running(NodeService(config)) as service:
            hostile = int(world.client.classify(model_id, "free tokens, click here").request_id)
            honest = world.request(3)
            assert set(world.wait_final(honest).values()) == {Status.FULFILLED}
            assert service.journal is not None
            (job,) = wait_failed(service.journal, [hostile])
            assert job.fail_reason is not None
            assert job.fail_reason.startswith("limit: ")
            assert f"within its {TIMEOUT_S:g}s limit (sandbox.timeout_s)" in job.fail_reason
            assert limit_metric(service) == 1
        assert world.statuses([hostile]) == {hostile: Status.PENDING}


def test_sandbox_memory_limit(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        tile_id = register(world, "tile", tile_model().SerializeToString())
        config = world.config(0, sandbox={"timeout_s": 30.0, "memory_mb": MEMORY_MB})
        with running(NodeService(config)) as service:
            small = request(world, tile_id, [3.0, 4.0, 0.0, 0.0])  # 12 values: served
            huge = request(world, tile_id, [20_000.0, 20_000.0, 0.0, 0.0])  # 1.6 GB asked for: refused
            honest = world.request(3)
            assert set(world.wait_final([*honest, small]).values()) == {Status.FULFILLED}
            assert service.journal is not None
            assert service.catalog is not None
            (job,) = wait_failed(service.journal, [huge])
            assert job.fail_reason is not None
            assert job.fail_reason.startswith("limit: ")
            assert "memory limit" in job.fail_reason
            assert "sandbox.memory_mb" in job.fail_reason
            assert limit_metric(service) == 1
            sandbox = service.catalog.get(tile_id).runner
            assert isinstance(sandbox, Sandbox)
            later = request(world, tile_id, [2.0, 2.0, 0.0, 0.0])  # the model still serves sane inputs
            assert world.wait_final([later]) == {later: Status.FULFILLED}
            assert sandbox.starts >= 2  # the breached worker was killed and a fresh one serves
        assert world.statuses([huge]) == {huge: Status.PENDING}
        served = tally(world, "sandbox: tile model (served requests)", [*honest, small, later])
        assert (served.final_once, served.twice) == (len(honest) + 2, 0)
        refused = tally(world, "sandbox: tile model (huge input, failed `limit`)", [huge])
        assert (refused.lost, refused.twice) == (1, 0)


def _descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (a model worker is a child of the node's fork server)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for its parent to reap it counts as gone, and so does one reaped mid-read)."""
    try:
        return _state(pid) == "Z"
    except FileNotFoundError:
        return True


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def wait_for_busy_worker(pid: int, cap_s: float) -> int:
    """The node's model worker once it has burnt more CPU than loading a model takes: the looping model is running.
    (Workers run multiprocessing's code, forked from its fork server, whose own imports take ~1 s of CPU.)"""
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        for child in _descendants(pid):
            try:
                if "multiprocessing" in _cmdline(child) and _cpu_ticks(child) >= 600:  # 6 s of CPU (100 ticks/s)
                    return child
            except FileNotFoundError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no busy model worker under the node (pid {pid}) within {cap_s}s")
