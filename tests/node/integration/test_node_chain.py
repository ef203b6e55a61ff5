"""The node knows its chain and its key: a rollback below its records, a reused request id and a reset from genesis
(with the system redeployed at the same addresses) never crash-loop it: stale records are quarantined, loudly, and
the chain is served as it is. A second process on the same journal is refused at start; one on the same key with a
journal of its own is detected and stopped."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from tests.node.integration.nodeworld import DEPLOYER, PRICE, SCALE, node_world, running, tally
from verinfer.chain.deploy import deploy, save_deployment
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender
from verinfer.node.journal import JobState
from verinfer.node.lock import KeyInUseError
from verinfer.node.service import NodeService
from verinfer.types import Mode, Status

pytestmark = pytest.mark.integration


def test_chain_reset_does_not_crash_loop(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0)
        snapshot = world.rpc("evm_snapshot", [])["result"]
        with running(NodeService(config)):
            before = world.request(10, seed=1)
            assert set(world.wait_final(before).values()) == {Status.FULFILLED}
        # Rolled back below everything the journal recorded: its registration, the requests, the results.
        assert world.rpc("evm_revert", [snapshot])["result"] is True
        with running(NodeService(config)) as service:
            assert service.journal is not None
            journal = service.journal
            deadline = time.monotonic() + 30  # the old jobs restart, and fail: the hub knows none of them now
            while any((j := journal.job(rid)) is None or j.state is not JobState.FAILED for rid in before):
                assert time.monotonic() < deadline, [journal.job(rid) for rid in before]
                time.sleep(0.1)
            reused = world.request(5, seed=2)  # ids 1..5 again, other inputs
            assert reused == before[:5]
            assert set(world.wait_final(reused).values()) == {Status.FULFILLED}
            assert journal.quarantined() == 5
            ingest = service.scheduler.stages.ingest if service.scheduler else None
            assert ingest is not None
            assert ingest.quarantined == 5
            assert service.metrics.quarantined._value.get() == 5
            health = httpx.get(f"http://127.0.0.1:{service.metrics_port}/healthz")
            assert health.status_code == 200
            assert "quarantined" in health.text
            rollback = tally(world, "rollback below the journal, ids 1-5 reused", reused)
            assert (rollback.final_once, rollback.lost, rollback.twice) == (5, 0, 0)

        # A reset from genesis, the system deployed again at the same addresses: the journal is from another chain.
        assert "error" not in world.rpc("anvil_reset", [])
        deployer = TxSender(world.w3, Account.from_key(world.anvil.accounts[DEPLOYER].private_key), RevertDecoder())
        deployment = deploy(deployer)
        assert deployment.hub.address == world.owner.deployment.hub.address
        save_deployment(deployment, world.deployment_file)
        model_id = world.client.register_model(
            world.model.path, world.model.path.as_uri(), PRICE, [Mode.SINGLE, Mode.CONSENSUS], scale=SCALE
        )
        assert model_id == world.model_id
        for attempt in range(2):  # and again: no crash loop
            with running(NodeService(config)) as service:
                assert service.journal is not None
                fresh = world.request(4, seed=10 + attempt)
                assert set(world.wait_final(fresh).values()) == {Status.FULFILLED}
                if attempt == 0:
                    assert service.metrics.quarantined._value.get() > 0
                    assert "another chain" in httpx.get(f"http://127.0.0.1:{service.metrics_port}/healthz").text
                assert all(
                    job.fail_reason is None or "already" not in job.fail_reason
                    for job in service.journal.jobs(JobState.FAILED, limit=100)
                )
            reset = tally(world, f"reset from genesis + redeploy (start {attempt + 1})", fresh)
            assert (reset.final_once, reset.lost, reset.twice) == (4, 0, 0)


def _run_until_key_conflict(service: NodeService, name: str, stopped: dict[str, KeyInUseError]) -> threading.Thread:
    """`service.run()` on a thread; a `KeyInUseError` it stops with is kept in `stopped` under `name`."""

    def run() -> None:
        try:
            service.run()
        except KeyInUseError as exc:
            stopped[name] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def test_second_process_same_key_refused(tmp_path: Path, forge_build: Path) -> None:
    with node_world(tmp_path) as world:
        config = world.config(0)
        stopped: dict[str, KeyInUseError] = {}
        first = NodeService(config)
        first.setup()
        time.sleep(1.1)  # as in running(): tickets go to stakes older than the request
        services = {"first": first}
        threads = {"first": _run_until_key_conflict(first, "first", stopped)}
        try:
            warm = world.request(3, seed=1)
            assert set(world.wait_final(warm).values()) == {Status.FULFILLED}
            # The same journal: refused at start, with the fix.
            second = NodeService(config)
            with pytest.raises(KeyInUseError, match="another node process"):
                second.setup()
            second.close()
            # The same key with a journal of its own (an HA mistake): one of the two stops, naming the problem.
            # Which one depends on whose transaction the other sees first (on a loaded machine, either).
            other = NodeService(world.config(0, journal_path=tmp_path / "other" / "journal.sqlite"))
            other.setup()
            services["other"] = other
            threads["other"] = _run_until_key_conflict(other, "other", stopped)
            ids: list[int] = []
            deadline = time.monotonic() + 60
            while not stopped and time.monotonic() < deadline:
                ids += world.request(5, seed=len(ids) + 7)
                time.sleep(0.5)
            assert stopped, "the second process on the key was not detected"
            for exc in stopped.values():
                assert "another process is sending from this node's key" in str(exc)
            assert len(stopped) == 1, f"both processes on the key stopped: {stopped}"
            print(f"same key: the {next(iter(stopped))} process stopped")
            ids += world.request(5, seed=99)  # the one left serves on
            assert set(world.wait_final(ids, timeout=60).values()) == {Status.FULFILLED}
            assert len(stopped) == 1, f"both processes on the key stopped: {stopped}"
        finally:
            for service in services.values():
                service.stop()
            for thread in threads.values():
                thread.join(timeout=30)
            for service in services.values():
                service.close()
        result = tally(world, "second process on the same key (one stopped)", warm + ids)
        assert (result.final_once, result.lost, result.twice) == (len(warm + ids), 0, 0)
