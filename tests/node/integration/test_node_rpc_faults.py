"""A hostile or overloaded RPC endpoint: 15 % of the node's calls get an HTML 502 page, malformed JSON, a truncated
body, a 429 with Retry-After or an answer slower than the timeout. Each call is retried (capped), a stage whose call
still fails does not stop the others, and the node serves every request exactly once without ever exiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.node.integration.faultproxy import FAULTS, FaultProxy
from tests.node.integration.nodeworld import node_world, tally
from tests.node.integration.tcpproxy import wait_until
from tests.node.support import next_second
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration

WAVES = 6
PER_WAVE = 10
FINAL_CAP_S = 120.0


def test_malformed_rpc_answers_survived(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        proxy = FaultProxy(world.anvil.rpc_url, rate=0.15, slow_s=1.5)
        try:
            config = world.config(0, rpc_url=proxy.url, tx={"rpc_timeout_s": 1.0, "stuck_after_s": 5.0})
            service = NodeService(config, backoff_start_s=0.05, backoff_cap_s=0.5)
            service.setup()
            next_second(world.w3)  # tickets go to stake older than the request
            proxy.enable()  # from here on the running node meets the faults
            thread = threading.Thread(target=service.run, name="node", daemon=True)
            thread.start()
            try:
                ids: list[int] = []
                for wave in range(WAVES):
                    ids += world.request(PER_WAVE, seed=wave)  # straight to anvil
                    time.sleep(0.5)
                statuses = world.wait_final(ids, timeout=FINAL_CAP_S)
                assert thread.is_alive()  # no answer killed it
                assert set(statuses.values()) == {Status.FULFILLED}, statuses
                assert all(proxy.faults[kind] > 0 for kind in FAULTS), proxy.faults
                print(f"faults injected: {dict(proxy.faults)}; forwarded {proxy.forwarded}")
                proxy.disable()
                health = f"http://127.0.0.1:{service.metrics_port}/healthz"
                wait_until(lambda: httpx.get(health).status_code == 200, 30.0)
            finally:
                service.stop()
                thread.join(timeout=30)
                service.close()
            assert not thread.is_alive()
        finally:
            proxy.close()
        result = tally(world, "RPC faults: 15% HTML 502 / malformed / truncated / 429 / slow", ids)
        assert (result.final_once, result.lost, result.twice) == (len(ids), 0, 0)
        assert world.hub_events("ResultSkipped") == []  # nothing was delivered twice and skipped by the hub
