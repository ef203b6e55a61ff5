"""An RPC outage: every connection to the node's RPC endpoint is cut and refused for a few seconds (a local TCP proxy)
while requests keep arriving on the chain. The node backs off (capped at BACKOFF_CAP_S here, so the test is short)
and retries on its own, reports the failures in its metrics and health, and serves everything once the endpoint is
back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.node.integration.nodeworld import node_world, running
from tests.node.integration.tcpproxy import FlakyProxy, wait_until
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration

OUTAGE_S = 3.0  # at least this long, and until the node has failed MIN_ERRORS times
MIN_ERRORS = 3
ERRORS_CAP_S = 60.0
BACKOFF_CAP_S = 0.5
RECOVERY_S = 20.0


def test_node_rides_out_an_rpc_outage(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        proxy = FlakyProxy(int(world.anvil.rpc_url.rsplit(":", 1)[1]))
        try:
            config = world.config(0, rpc_url=proxy.url)
            with running(NodeService(config, backoff_start_s=0.1, backoff_cap_s=BACKOFF_CAP_S)) as service:
                before = world.request(3, seed=1)
                assert set(world.wait_final(before).values()) == {Status.FULFILLED}
                metrics = f"http://127.0.0.1:{service.metrics_port}"

                def errors() -> float:
                    return _metric(httpx.get(metrics + "/metrics").text, "verinfer_rpc_errors_total")

                with proxy.outage():
                    started = time.monotonic()
                    during = world.request(5, seed=2)  # straight to anvil: the chain goes on without the node
                    wait_until(lambda: errors() >= MIN_ERRORS, ERRORS_CAP_S)
                    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
                    assert set(world.statuses(during).values()) == {Status.PENDING}
                    assert proxy.refused > 0
                    assert errors() >= MIN_ERRORS
                recovered_in = wait_until(
                    lambda: set(world.statuses(during).values()) == {Status.FULFILLED}, RECOVERY_S
                )
                assert recovered_in < RECOVERY_S
                assert httpx.get(metrics + "/healthz").status_code == 200
        finally:
            proxy.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")
