"""Models come and go while the node runs: a model whose URI trickles bytes is fetched beside serving (and
abandoned under the minimum rate) while the other models keep being served, and a model registered after the node
started is declared (setModels, through the node's nonce manager) and served without a restart."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import PRICE, node_world, running, tally
from tests.node.support import gemm_softmax, next_second
from verinfer.node.journal import JobState
from verinfer.node.service import NodeService
from verinfer.types import Eligibility, Mode, Status, arithmetic_classes_mask

pytestmark = pytest.mark.integration


class Trickle:
    """Serves one file over HTTP a byte every `gap_s` seconds (a hostile or broken model host)."""

    def __init__(self, data: bytes, gap_s: float) -> None:
        self.sent = 0
        self.done = threading.Event()
        trickle = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for byte in data:
                        if trickle.done.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        trickle.sent += 1
                        time.sleep(gap_s)
                except OSError:
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/model.onnx"

    def close(self) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


def test_slow_uri_does_not_stall_other_models(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        data = gemm_softmax(seed=21).SerializeToString()
        path = tmp_path / "slow.onnx"
        path.write_bytes(data)
        trickle = Trickle(data, gap_s=0.5)
        try:
            slow_id = world.client.register_model(path, trickle.url, PRICE, [Mode.SINGLE])
            config = world.config(0, fetch_timeout_s=3.0, fetch_min_bytes_per_s=1_000)
            with running(NodeService(config)) as service:
                (slow,) = [world.client.request(slow_id, [[0.1, 0.2, 0.3, 0.4]]).request_id]
                started = time.monotonic()
                honest = world.request(10)
                assert set(world.wait_final(honest).values()) == {Status.FULFILLED}
                served_in = time.monotonic() - started
                assert trickle.sent < len(data)  # still downloading while the others were served
                assert service.journal is not None
                journal = service.journal
                deadline = time.monotonic() + 30
                while (job := journal.job(slow)) is None or job.state is not JobState.FAILED:
                    assert time.monotonic() < deadline, job
                    time.sleep(0.1)
                assert job.fail_reason is not None
                assert "too slow" in job.fail_reason
                assert "fetch_min_bytes_per_s" in job.fail_reason
                more = world.request(5, seed=2)  # and after it: still serving
                assert set(world.wait_final(more).values()) == {Status.FULFILLED}
            print(f"10 requests served in {served_in:.1f}s while the slow model was downloading")
            assert world.statuses([slow]) == {slow: Status.PENDING}
            result = tally(world, "slow model URI (1 byte / 0.5 s) beside 15 requests", honest + more)
            assert (result.final_once, result.lost, result.twice) == (15, 0, 0)
        finally:
            trickle.close()


def test_model_registered_after_start_is_served(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0, registration={"refresh_s": 0.5})
        with running(NodeService(config)) as service:
            warm = world.request(3)
            assert set(world.wait_final(warm).values()) == {Status.FULFILLED}
            path = tmp_path / "late.onnx"
            path.write_bytes(gemm_softmax(seed=31).SerializeToString())
            late_id = world.client.register_model(path, path.as_uri(), PRICE, [Mode.SINGLE])
            # The hub refuses a request for a model nobody serves (NoNodeServes): the node, running since before the
            # registration, must declare the new model by itself; then its stake holds tickets from the next second.
            deadline = time.monotonic() + 60
            while not world.owner.sender.call(world.owner.nodes.functions.serves(world.node_address(0), late_id)):
                assert time.monotonic() < deadline, "the running node never declared the model registered after start"
                time.sleep(0.2)
            next_second(world.w3)
            late = [world.client.request(late_id, [[0.1 * i, 0.2, 0.3, 0.4]]).request_id for i in range(4)]
            assert set(world.wait_final(late, timeout=60).values()) == {Status.FULFILLED}
            status, _ = world.owner.sender.call(world.owner.nodes.functions.eligibility(world.node_address(0), late_id))
            assert Eligibility(status) == Eligibility.ELIGIBLE
            assert service.models is not None
            assert late_id in service.models.served
            assert service.journal is not None
            assert service.journal.jobs(JobState.FAILED, limit=100) == []  # none skipped as "not eligible"
        result = tally(world, "model registered after start", late)
        assert (result.final_once, result.lost, result.twice) == (4, 0, 0)


def test_model_asking_more_stake_than_the_node_has_is_left_out(tmp_path: Path, forge_build: Path) -> None:
    """A publisher registers models whose stake at risk no node has (1,000 ETH), and one only WASM nodes may serve:
    a node serving "all" leaves them out, at start and while running, instead of sending a `setModels` the registry
    refuses as a whole (which would keep it from declaring the models registered beside them), and still serves the
    rest."""
    with node_world(tmp_path) as world:

        def register(seed: int, stake_at_risk: int, classes: int = 0) -> bytes:
            path = tmp_path / f"m{seed}.onnx"
            path.write_bytes(gemm_softmax(seed=seed).SerializeToString())
            return world.client.register_model(
                path, path.as_uri(), PRICE, [Mode.SINGLE], stake_at_risk=stake_at_risk, arithmetic_classes=classes
            )

        greedy_before = register(41, 1_000 * 10**18)
        config = world.config(0, registration={"refresh_s": 0.5})
        node = world.node_address(0)
        serves = world.owner.nodes.functions.serves
        with running(NodeService(config)) as service:
            greedy_after = register(42, 1_000 * 10**18)
            # A model only WASM nodes may serve (this node states its own class, x86-64 or other, never WASM).
            wasm_only = register(44, 0, classes=arithmetic_classes_mask(["wasm/onnxruntime-web"]))
            modest = register(43, 10**15)  # below the node's stake: served
            deadline = time.monotonic() + 60
            while not world.owner.sender.call(serves(node, modest)):
                assert time.monotonic() < deadline, "the node never declared the model its stake covers"
                time.sleep(0.2)
            assert service.models is not None
            while not {greedy_after, wasm_only} <= service.models.rejected:
                assert time.monotonic() < deadline, "the node never judged the model it cannot cover"
                time.sleep(0.2)
            assert not world.owner.sender.call(serves(node, greedy_before))
            assert not world.owner.sender.call(serves(node, greedy_after))
            assert not world.owner.sender.call(serves(node, wasm_only))
            next_second(world.w3)
            served = [world.client.request(modest, [[0.1 * i, 0.2, 0.3, 0.4]]).request_id for i in range(3)]
            assert set(world.wait_final(served, timeout=60).values()) == {Status.FULFILLED}
