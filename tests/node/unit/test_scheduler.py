"""The scheduler's skip of compute steps that would change nothing, with fake stages: a step that found every
waiting request's window closed is not repeated while the hub says those windows stay closed, and is repeated as soon
as anything it reads may have changed (new jobs, a new head, a busy lane, MAX_QUIET_S)."""

from __future__ import annotations

from typing import Any, cast

from verinfer.chain.watcher import LogBatch
from verinfer.node.compute import Computed
from verinfer.node.journal import JobState
from verinfer.node.metrics import NodeMetrics
from verinfer.node.profile import Stopwatch
from verinfer.node.scheduler import MAX_QUIET_S, Scheduler, Stages


class FakeIngest:
    def __init__(self) -> None:
        self.head = 10
        self.new = 0

    def poll(self) -> LogBatch:
        requests, self.new = tuple(object() for _ in range(self.new)), 0
        return LogBatch(cast(Any, requests), range(self.head, self.head + 1), self.head)


class FakeLanes:
    def __init__(self) -> None:
        self.request_ids: set[int] = set()


class FakeCompute:
    def __init__(self) -> None:
        self.steps = 0
        self.prover = None
        self.lanes = FakeLanes()
        self.result = Computed()

    def step(self) -> Computed:
        self.steps += 1
        return self.result


class FakeStage:
    def audit(self, head: int) -> int:
        return 0

    def track(self, head: int) -> int:
        return 0

    def join_escalations(self) -> None:
        return None


class FakeStore:
    def __init__(self) -> None:
        self.seen = 5

    def backlog(self) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        counts[JobState.SEEN] = self.seen
        return counts

    def jobs(self, state: JobState, *, limit: int = 100, after: int = 0) -> list[Any]:
        return []


class FakeChain:
    def block_number(self) -> int:
        return 10

    def refresh_fees(self) -> int:
        return 1

    def balance(self) -> int:
        return 10**18

    def resync_nonces(self) -> object:
        return ()

    def foreign_nonce(self) -> int | None:
        return None


class FakeWindows:
    def __init__(self) -> None:
        self.quiet = True
        self.begun = 0
        self.asked: list[tuple[int, int]] = []

    def begin_seats(self) -> None:
        self.begun += 1

    def seats_quiet(self, requests: int, now: int) -> bool:
        self.asked.append((requests, now))
        return self.quiet


class World:
    def __init__(self, *, windows: bool = True) -> None:
        self.ingest, self.compute, self.store, self.windows = FakeIngest(), FakeCompute(), FakeStore(), FakeWindows()
        self.time = [0.0]
        stage = FakeStage()
        stages = Stages(
            ingest=cast(Any, self.ingest),
            compute=cast(Any, self.compute),
            submit=cast(Any, None),
            consensus=cast(Any, stage),
            track=cast(Any, stage),
        )
        self.scheduler = Scheduler(
            stages,
            self.store,
            FakeChain(),
            NodeMetrics(),
            Stopwatch(),
            0,
            windows=self.windows if windows else None,
            clock=cast(Any, type("Clock", (), {"chain_time": lambda _self: 1_234})()),
            monotonic=lambda: self.time[0],
        )

    def steps_after_tick(self) -> int:
        self.scheduler.tick()
        return self.compute.steps


def test_a_step_that_changed_nothing_is_not_repeated_while_the_windows_stay_closed() -> None:
    world = World()
    assert world.steps_after_tick() == 1
    assert world.steps_after_tick() == 1  # skipped: the hub says every window it answered for is still closed
    assert world.windows.asked == [(5, 1_234)]  # about the 5 seen jobs, at the chain's time
    world.windows.quiet = False  # a window opened (or a deadline passed)
    assert world.steps_after_tick() == 2
    world.windows.quiet = True
    assert world.steps_after_tick() == 2
    assert world.windows.begun == 2  # each step that ran counted its answers afresh


def test_anything_the_step_reads_changing_runs_it_again() -> None:
    world = World()
    world.steps_after_tick()
    world.ingest.new = 1  # a request recorded this tick
    assert world.steps_after_tick() == 2
    world.ingest.head = 11  # a new block: fees may have moved
    assert world.steps_after_tick() == 3
    world.store.seen = 6  # a job restarted (a reorg, an escalation)
    assert world.steps_after_tick() == 4
    world.compute.lanes.request_ids = {1}  # a lane is still computing
    assert world.steps_after_tick() == 5
    assert world.steps_after_tick() == 6
    world.compute.lanes.request_ids = set()
    assert world.steps_after_tick() == 7  # the step that collects the lane
    assert world.steps_after_tick() == 7
    world.time[0] += MAX_QUIET_S  # registry caches may have expired: look again at least this often
    world.compute.result = Computed(computed=1)
    assert world.steps_after_tick() == 8
    assert world.steps_after_tick() == 9  # a step that did something is never taken as quiet


def test_without_the_hubs_account_every_tick_computes() -> None:
    world = World(windows=False)
    assert [world.steps_after_tick() for _ in range(3)] == [1, 2, 3]
