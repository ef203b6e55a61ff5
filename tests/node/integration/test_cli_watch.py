"""`verinfer watch` on a real anvil: a node whose config leaves the watchtower off, started with `verinfer watch`,
re-executes a lying node's SINGLE result and challenges it; SIGTERM stops it cleanly. The world is the one of
test_node_watchtower.py (a liar serving SINGLE, an honest node on committee duty)."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import lie, node_world, running
from tests.node.integration.test_node_watchtower import (
    HONEST,
    LIAR,
    WATCHTOWER,
    config,
    dispute_events,
    dispute_of,
    open_every_seat,
    wait_until,
)
from tests.node.support import next_second
from verinfer.node.service import NodeService
from verinfer.types import Status

pytestmark = pytest.mark.integration

OPEN = 1


def test_watch_turns_the_watchtower_on(tmp_path: Path, forge_build: Path) -> None:
    log = tmp_path / "watch.log"
    with node_world(tmp_path) as world, ExitStack() as stack:
        stack.enter_context(running(NodeService(world.config(LIAR, **config(world, LIAR))), lie))
        stack.enter_context(running(NodeService(world.config(HONEST, **config(world, HONEST)))))
        # The file says no watchtower and no committee duty: only the command line turns them on.
        settings = {**config(world, WATCHTOWER), "watch": {"watchtower": False, "committee": False}}
        path = world.config_file(WATCHTOWER, **settings, metrics={"enabled": False})
        assert "watchtower = false" in path.read_text()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "verinfer", "watch", "--config", str(path), "--json-logs"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until("the watchtower to start", lambda: '"node ready"' in log.read_text())
            next_second(world.w3)
            (rid,) = world.request(1)
            wait_until("the watchtower's challenge", lambda: world.owner.status_of(rid) == Status.DISPUTED)
            (opened,) = dispute_events(world, "DisputeOpened")
            assert opened.args["challenger"] == world.node_address(WATCHTOWER)
            assert opened.args["node"] == world.node_address(LIAR)
            open_every_seat(world, rid)
            wait_until("the dispute to resolve", lambda: dispute_of(world, rid)[0] != OPEN)
            assert world.owner.status_of(rid) == Status.OVERTURNED
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        assert process.returncode == 0, log.read_text()[-3000:]
