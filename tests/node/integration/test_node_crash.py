"""kill -9 at random moments: a node process is killed 20 times while 220 requests (160 SINGLE, 60 CONSENSUS) flow and
restarted each time. Every request ends final exactly once, the killed node never delivers a request twice and
never loses a consensus salt (it is never slashed)."""

from __future__ import annotations

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
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = pytest.mark.integration

KILLS = 20
SINGLE_PER_WAVE = 8  # 20 waves: 160 SINGLE + 60 CONSENSUS requests
CONSENSUS_PER_WAVE = 3


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "verinfer.node", "--config", str(config), "--json-logs"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_kill_9_at_random_points_loses_nothing_and_repeats_nothing(tmp_path: Path, forge_build: Path) -> None:
    rng = random.Random(20261125)
    log = tmp_path / "node0.log"
    with node_world(tmp_path) as world:
        config = world.config_file(0, metrics={"enabled": False})
        killed_node = world.node_address(0)
        # A steady second node joins consensus rounds only, so SINGLE requests have exactly one server: the victim.
        steady = NodeService(world.config(1, modes=["CONSENSUS"]))
        with running(steady):
            process = start(config, log)
            ids: list[int] = []
            waves = [(Mode.SINGLE, 1, SINGLE_PER_WAVE), (Mode.CONSENSUS, 2, CONSENSUS_PER_WAVE)]
            for kill in range(KILLS):
                for mode, redundancy, count in waves:
                    ids += world.request(count, mode=mode, redundancy=redundancy, seed=kill)
                time.sleep(rng.uniform(0.5, 4.0))  # anywhere: start-up, watching, computing, signing, sending
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
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
        # Kills landed both during start-up and while serving: most incarnations got to serve before dying.
        ready = log.read_text().count('"node ready"')
        assert KILLS // 2 <= ready <= KILLS + 1
