"""kill -9 at points tied to the node's own progress: a node process is killed 20 times while 220 requests (160 SINGLE,
60 CONSENSUS) flow and restarted each time. Every fourth kill lands during start-up (right after the process starts);
the others land after the incarnation logged "node ready" and then a chosen number of "tick" lines (work seen,
computed, sent or confirmed), so each kill interrupts serving however slow the machine is. Every request ends final
exactly once, the killed node never delivers a request twice and never loses a consensus salt (it is never
slashed)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.node.integration.nodeworld import node_world, running
from tests.node.support import next_second
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 20
SINGLE_PER_WAVE = 8  # 20 waves: 160 SINGLE + 60 CONSENSUS requests
CONSENSUS_PER_WAVE = 3
PROGRESS_CAP_S = 120.0  # a generous cap on waiting for an incarnation's progress


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "verinfer.node", "--config", str(config), "--json-logs"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def events_since(log: Path, offset: int) -> list[str]:
    """The `event` of every complete JSON log line written after byte `offset`."""
    events = []
    with log.open("rb") as f:
        f.seek(offset)
        for line in f.read().split(b"\n")[:-1]:  # the last piece is an unfinished line (or empty)
            try:
                events.append(str(json.loads(line)["event"]))
            except (ValueError, KeyError):
                continue  # not one of the node's log lines (a traceback, a warning from a library)
    return events


def wait_for_progress(process: subprocess.Popen[bytes], log: Path, offset: int, ticks: int) -> None:
    """Returns once this incarnation logged "node ready" and then `ticks` "tick" lines (or, for the ticks only, once
    PROGRESS_CAP_S passed: the node may have run out of work). Not reaching "node ready" in time fails the test."""
    deadline = time.monotonic() + PROGRESS_CAP_S
    while True:
        events = events_since(log, offset)
        ready = "node ready" in events
        if ready and events[events.index("node ready") :].count("tick") >= ticks:
            return
        assert process.poll() is None, f"the node exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            assert ready, f'no "node ready" within {PROGRESS_CAP_S}s:\n{log.read_text()[-3000:]}'
            return
        time.sleep(0.05)


def test_kill_9_at_points_of_progress_loses_nothing_and_repeats_nothing(tmp_path: Path, forge_build: Path) -> None:
    rng = random.Random(20261125)
    log = tmp_path / "node0.log"
    with node_world(tmp_path) as world:
        config = world.config_file(0, metrics={"enabled": False})
        killed_node = world.node_address(0)
        # Two steady nodes join consensus rounds only (k >= 3 seats), so SINGLE requests have exactly one server: the
        # victim.
        steady = NodeService(world.config(1, modes=["CONSENSUS"]))
        steady2 = NodeService(world.config(2, modes=["CONSENSUS"]))
        with running(steady), running(steady2):
            offset = 0
            process = start(config, log)
            # The hub refuses requests for a model nobody serves, and tickets go to stake older than the request:
            # the victim registers in its first start-up, before the first wave.
            wait_for_progress(process, log, offset, ticks=0)
            next_second(world.w3)
            ids: list[int] = []
            waves = [(Mode.SINGLE, 1, SINGLE_PER_WAVE), (Mode.CONSENSUS, 3, CONSENSUS_PER_WAVE)]
            serving_kills = 0
            for kill in range(KILLS):
                for mode, redundancy, count in waves:
                    ids += world.request(count, mode=mode, redundancy=redundancy, seed=kill)
                if kill % 4 != 0:  # else a start-up kill: the process was just started
                    wait_for_progress(process, log, offset, ticks=rng.randint(0, 3))
                    serving_kills += 1
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                offset = log.stat().st_size if log.exists() else 0
                process = start(config, log)
            try:
                statuses = world.wait_final(ids, timeout=180)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        assert process.returncode == 0, log.read_text()[-3000:]
        assert len(ids) == KILLS * (SINGLE_PER_WAVE + CONSENSUS_PER_WAVE)
        assert Counter(statuses.values()) == {Status.FULFILLED: len(ids)}, log.read_text()[-3000:]
        delivered = Counter(e.args["requestId"] for e in world.hub_events("ResultSubmitted"))
        reached = Counter(e.args["requestId"] for e in world.hub_events("ConsensusReached"))
        assert all(delivered[rid] + reached[rid] == 1 for rid in ids)
        skipped_by_victim = [e for e in world.hub_events("ResultSkipped") if e.args["node"] == killed_node]
        assert skipped_by_victim == []  # a delivery sent twice would be skipped by the hub as NOT_PENDING
        assert [e for e in world.hub_events("VoteSlashed") if e.args["node"] == killed_node] == []
        # Kills landed both during start-up and while serving: every serving kill came after "node ready".
        ready = log.read_text().count('"node ready"')
        assert serving_kills == KILLS - KILLS // 4
        assert serving_kills <= ready <= KILLS + 1
