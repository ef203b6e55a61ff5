"""The node service: `setup()` connects, checks and registers; `run()` ticks the scheduler until `stop()` or
SIGTERM/SIGINT; `close()` releases everything. The journal is consistent at every moment (each step is one SQLite
transaction), so a `kill -9` is survivable too; a clean stop just finishes the current tick first.

    service = NodeService(load_config(Path("node.toml")))
    service.setup()
    service.run_forever()      # installs the signal handlers; returns after SIGTERM/SIGINT
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from verinfer.chain.deploy import load_deployment
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect, rpc
from verinfer.chain.watcher import LogWatcher, RawSource
from verinfer.config import NodeConfig, load_config
from verinfer.errors import ChainError, ConfigError, ContractRevert, VerinferError
from verinfer.inference.manifest import environment_manifest, manifest_hash
from verinfer.inference.model_store import ModelStore
from verinfer.keys import load_account
from verinfer.node import logs
from verinfer.node.compute import ModelCatalog
from verinfer.node.context import NodeContext
from verinfer.node.journal import Journal
from verinfer.node.metrics import Health, MetricsServer, NodeMetrics
from verinfer.node.prover import ProvingPool
from verinfer.node.scheduler import Scheduler, TickReport
from verinfer.node.txmanager import TxManager
from verinfer.sdk.operator import Operator
from verinfer.types import Eligibility, Mode

BACKOFF_START_S = 0.25
BACKOFF_CAP_S = 5.0  # an RPC outage is retried at least this often, so the node resumes within seconds of its end
HEALTH_STALE_FACTOR = 10


@dataclass(frozen=True)
class Registration:
    """What the node found and did at start-up."""

    address: str
    env_hash: bytes
    models: tuple[bytes, ...]
    actions: tuple[str, ...]


class NodeService:
    """The node: `setup()`, then `run()` (or `run_forever()`), then `close()`.

    A step that fails on the RPC is retried after a pause that starts at `backoff_start_s` and doubles up to
    `backoff_cap_s`: the cap bounds how long after an outage ends the node resumes (tests use a short one).
    """

    def __init__(
        self,
        config: NodeConfig,
        *,
        log: Any | None = None,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
    ) -> None:
        if not 0 < backoff_start_s <= backoff_cap_s:
            raise ConfigError(
                f"backoff_start_s ({backoff_start_s}) must be positive and at most backoff_cap_s ({backoff_cap_s})"
            )
        self.config = config
        self.backoff_start_s = backoff_start_s
        self.backoff_cap_s = backoff_cap_s
        self.log = log if log is not None else logs.logger()
        self.metrics = NodeMetrics()
        self.health = Health(stale_after=max(config.poll_interval_s * HEALTH_STALE_FACTOR, 30.0))
        self._stop = threading.Event()
        self._server: MetricsServer | None = None
        self.ctx: NodeContext | None = None
        self.scheduler: Scheduler | None = None
        self.registration: Registration | None = None

    # -------------------------------------------------------------------------------------------------- set-up

    def setup(self) -> None:
        cfg = self.config
        w3 = connect(cfg.rpc_url, timeout=cfg.tx.rpc_timeout_s)
        chain_id = int(rpc(lambda: w3.eth.chain_id, "read the chain id"))
        if cfg.chain_id is not None and cfg.chain_id != chain_id:
            raise ConfigError(
                f"chain_id = {cfg.chain_id} in the config, but {cfg.rpc_url} is chain {chain_id}: "
                "fix chain_id or rpc_url"
            )
        deployment = load_deployment(chain_id, cfg.deployment_file)
        account = load_account(cfg.keys, chain_id)
        decoder = RevertDecoder.for_system()
        system = System.bind(TxSender(w3, account, decoder), deployment)
        env_hash = manifest_hash(environment_manifest(cfg.runner.intra_op_threads, cfg.runner.graph_optimization_level))
        journal = Journal(cfg.journal_path, chain_id, deployment.hub.address)
        txm = TxManager(
            w3,
            account,
            cfg.rpc_url,
            chain_id=chain_id,
            decoder=decoder,
            timeout=cfg.tx.rpc_timeout_s,
            tip_wei=cfg.tx.tip_wei,
            max_fee_wei=cfg.tx.max_fee_wei,
        )
        ctx = NodeContext(
            system=system,
            journal=journal,
            txm=txm,
            catalog=None,  # type: ignore[arg-type]  # set just below
            metrics=self.metrics,
            log=self.log.bind(node=account.address),
            env_hash=env_hash,
            confirmations=cfg.confirmations,
            max_batch_items=cfg.batch.max_items,
            max_batch_gas=cfg.batch.max_gas,
            min_fee_wei=cfg.policy.min_fee_wei,
            policy_gas_per_result=cfg.policy.gas_per_result,
            modes=cfg.modes,
            stuck_after_s=cfg.tx.stuck_after_s,
            max_attempts=cfg.tx.max_attempts,
        )
        store = ModelStore(cfg.model_cache_dir, max_bytes=cfg.max_model_bytes, timeout=cfg.fetch_timeout_s)
        if Mode.ZK in cfg.modes and cfg.zk.artifacts_dir is not None:
            ctx.prover = ProvingPool(cfg.zk.artifacts_dir, cfg.zk.workers)
        ctx.catalog = ModelCatalog(
            store,
            ctx.spec,
            intra_op_threads=cfg.runner.intra_op_threads,
            graph_optimization_level=cfg.runner.graph_optimization_level,
        )
        self.ctx = ctx
        self.log = ctx.log
        self.registration = self._register(ctx)
        watcher = LogWatcher(
            w3,
            deployment.hub.address,
            journal,
            start_block=max(deployment.start_block, 1),
            confirmations=cfg.confirmations,
            max_range=cfg.max_log_range,
            timer=ctx.stopwatch,
            source=RawSource(txm.raw),
        )
        self.scheduler = Scheduler(ctx, watcher)
        if cfg.metrics.enabled:
            self._server = MetricsServer(self.metrics, self.health, cfg.metrics.host, cfg.metrics.port)
            self._server.start()
        self.scheduler.recover()
        self.log.info(
            "node ready",
            chain_id=chain_id,
            hub=deployment.hub.address,
            env_hash="0x" + env_hash.hex(),
            models=len(self.registration.models),
            metrics_port=self.metrics_port,
            actions=list(self.registration.actions),
        )

    @property
    def metrics_port(self) -> int | None:
        return self._server.port if self._server is not None else None

    def _register(self, ctx: NodeContext) -> Registration:
        """Registers the node, or brings its stake, environment and models up to the config (`registration`)."""
        cfg = self.config.registration
        operator = Operator(ctx.system)
        wanted = self._wanted_models(operator)
        status = operator.status(wanted)
        if status.unbonding:
            raise ConfigError(
                f"node {ctx.address} is unbonding (until {status.unbonding_ends_at}): it cannot serve; "
                "withdraw and register again, or use another key"
            )
        if not cfg.auto:
            if not status.registered or any(e != Eligibility.ELIGIBLE for e in status.eligibility.values()):
                raise ConfigError(
                    f"node {ctx.address} is not registered and eligible for its models "
                    "(registration.auto = false): run `verinfer node register` or set auto = true"
                )
            return Registration(ctx.address, ctx.env_hash, tuple(wanted), ())
        stake_goal = max(cfg.stake_wei or 0, status.min_stake)
        actions: list[str] = []
        try:
            if not status.registered:
                operator.register(ctx.env_hash, wanted, stake_goal)
                actions.append(f"registered with {stake_goal} wei stake and {len(wanted)} models")
            else:
                if status.stake < stake_goal:
                    operator.add_stake(stake_goal - status.stake)
                    actions.append(f"added {stake_goal - status.stake} wei stake")
                if status.env_hash != ctx.env_hash:
                    operator.update_environment(ctx.env_hash)
                    actions.append("updated the environment hash")
                missing = [m for m, e in status.eligibility.items() if e == Eligibility.MODEL_NOT_SERVED]
                if missing:
                    operator.set_models(missing, True)
                    actions.append(f"now serves {len(missing)} more models")
        except ContractRevert as exc:
            raise ChainError(f"registering node {ctx.address} failed: {exc}") from exc
        for action in actions:
            self.log.info("registration", action=action)
        return Registration(ctx.address, ctx.env_hash, tuple(wanted), tuple(actions))

    def _wanted_models(self, operator: Operator) -> list[bytes]:
        """The model ids from `registration.models`, or every live model this node's modes can serve ("all")."""
        chosen = self.config.registration.models
        if chosen != ("all",):
            return [bytes.fromhex(m[2:]) for m in chosen]
        wanted: list[bytes] = []
        for model_id in operator.registered_models():
            terms = operator.system.terms_of(model_id)
            if not terms.deprecated and any(terms.allows(mode) for mode in self.config.modes):
                wanted.append(model_id)
        return wanted

    # ----------------------------------------------------------------------------------------------------- run

    def tick(self) -> TickReport:
        """One scheduler step (what `run` repeats)."""
        if self.scheduler is None:
            raise VerinferError("NodeService.tick() before setup()")
        return self.scheduler.tick()

    def run(self, max_ticks: int | None = None) -> None:
        """Ticks until `stop()` (or `max_ticks`); RPC failures back off (capped) and are retried, never fatal."""
        if self.scheduler is None:
            raise VerinferError("NodeService.run() before setup()")
        backoff = self.backoff_start_s
        ticks = 0
        while not self._stop.is_set() and (max_ticks is None or ticks < max_ticks):
            ticks += 1
            try:
                report = self.scheduler.tick()
            except (ChainError, OSError) as exc:
                self.metrics.rpc_errors.inc()
                self.health.failed(str(exc))
                self.log.warning("step failed; retrying", error=str(exc), retry_in_s=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_cap_s)
                continue
            backoff = self.backoff_start_s
            self.health.ok()
            if report.seen or report.computed or report.sent or report.confirmed or report.failed:
                self.log.info(
                    "tick",
                    seen=report.seen,
                    computed=report.computed,
                    sent=report.sent,
                    confirmed=report.confirmed,
                    failed=report.failed,
                )
            busy = report.computed or report.sent or report.seen
            self._stop.wait(0.0 if busy else self.config.poll_interval_s)
        self.log.info("node stopped", ticks=ticks)

    def run_forever(self) -> None:
        """`run()` with SIGTERM and SIGINT handled: the current tick finishes, then everything closes."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            self.log.info("signal received; stopping after this step", signal=signal.Signals(signum).name)
            self._stop.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.run()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.ctx is not None:
            if self.ctx.prover is not None:
                self.ctx.prover.close()
            self.ctx.txm.close()
            self.ctx.journal.close()
            self.ctx = None


def run_node(config_path: Path | None, *, json_logs: bool | None = None) -> None:
    """What `verinfer node run --config PATH` does: load and validate the config, set up, run until a signal."""
    logs.configure(json=json_logs)
    service = NodeService(load_config(config_path))
    try:
        service.setup()
    except BaseException:
        service.close()
        raise
    service.run_forever()
