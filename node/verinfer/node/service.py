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

from eth_utils.crypto import keccak

from verinfer.chain.deploy import load_deployment
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect, rpc
from verinfer.chain.txmanager import TxManager
from verinfer.chain.watcher import JsonRpcSource, LogWatcher
from verinfer.config import NodeConfig, load_config
from verinfer.errors import ChainError, ConfigError, ContractRevert, ModelError, VerinferError
from verinfer.inference.manifest import environment_manifest, manifest_hash
from verinfer.inference.model_store import ModelStore
from verinfer.inference.sandbox import SandboxLimits
from verinfer.keys import load_account
from verinfer.node import logs
from verinfer.node.calldata import HubCalldata
from verinfer.node.committee import Committee
from verinfer.node.compute import Compute, ModelCatalog, Policy
from verinfer.node.consensus import Consensus
from verinfer.node.dispute_view import DisputeReader
from verinfer.node.final import FinalDeliveries
from verinfer.node.hub import ChainClock, HubView
from verinfer.node.ingest import Ingest
from verinfer.node.journal import JobState, Journal
from verinfer.node.lock import JournalLock
from verinfer.node.metrics import Health, MetricsServer, NodeMetrics
from verinfer.node.models import ModelFollower, unservable
from verinfer.node.profile import Stopwatch
from verinfer.node.prove import Prove
from verinfer.node.prover import ProvingPool
from verinfer.node.prune import Pruner
from verinfer.node.reexec import Reexecution
from verinfer.node.reorg import ReorgHandler
from verinfer.node.scheduler import Scheduler, Stages, TickReport
from verinfer.node.submit import Submit
from verinfer.node.track import Track
from verinfer.node.wallet import Wallet
from verinfer.node.watch import Watchtower
from verinfer.sdk.client import read_model, read_provenance
from verinfer.sdk.operator import Operator, local_arithmetic_class
from verinfer.types import Eligibility, Mode, ModelSpec

BACKOFF_START_S = 0.25
BACKOFF_CAP_S = 5.0  # an RPC outage is retried at least this often, so the node resumes within seconds of its end
HEALTH_STALE_FACTOR = 10
DISPUTE_SECRET_DOMAIN = b"verinfer dispute salt v1"


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
        self._cancel = threading.Event()  # set on close: kills model workers mid-call
        self._lock: JournalLock | None = None
        self._quarantined_seen = 0
        self._server: MetricsServer | None = None
        self.stopwatch = Stopwatch()
        self.env_hash = b""
        self.system: System | None = None
        self.journal: Journal | None = None
        self._journal_file_problem: str | None = None
        self.txm: TxManager | None = None
        self.catalog: ModelCatalog | None = None
        self.prover: Prove | None = None
        self.scheduler: Scheduler | None = None
        self.registration: Registration | None = None
        self.models: ModelFollower | None = None
        self.reexec: Reexecution | None = None
        self._dispute_secret = b""

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
        # Dispute salts come from the key: a node restarted after a committee commit can still reveal it.
        self._dispute_secret = bytes(keccak(DISPUTE_SECRET_DOMAIN + bytes(account.key)))
        decoder = RevertDecoder.for_system()
        system = System.bind(TxSender(w3, account, decoder), deployment)
        self.system = system
        self.env_hash = manifest_hash(
            environment_manifest(cfg.runner.intra_op_threads, cfg.runner.graph_optimization_level)
        )
        self.arithmetic_class = local_arithmetic_class(cfg.runner.arithmetic_class)
        self._lock = JournalLock(cfg.journal_path)
        self._lock.acquire()  # before the journal is opened: a second process on it is refused here
        self.journal = journal = Journal(cfg.journal_path, chain_id, deployment.hub.address)
        client = JsonRpc(cfg.rpc_url, timeout=cfg.tx.rpc_timeout_s, decoder=decoder)
        self._check_chain(journal, client, deployment.hub.address, chain_id)
        self.txm = txm = TxManager(
            client, account, chain_id=chain_id, tip_wei=cfg.tx.tip_wei, max_fee_wei=cfg.tx.max_fee_wei
        )
        self.log = log = self.log.bind(node=account.address)
        hub = HubView(system, client, account.address, max_log_range=cfg.max_log_range)
        store = ModelStore(
            cfg.model_cache_dir,
            max_bytes=cfg.max_model_bytes,
            limit_name="max_model_bytes",
            timeout=cfg.fetch_timeout_s,
            connect_timeout=cfg.fetch_connect_timeout_s,
            total_timeout=cfg.fetch_total_timeout_s,
            min_bytes_per_s=cfg.fetch_min_bytes_per_s,
        )
        self.catalog = ModelCatalog(
            store,
            lambda model_id: read_spec(system, model_id),
            intra_op_threads=cfg.runner.intra_op_threads,
            graph_optimization_level=cfg.runner.graph_optimization_level,
            sandbox=SandboxLimits(cfg.sandbox.timeout_s, cfg.sandbox.memory_mb * 2**20),
            cancel=self._cancel,
            log=log,
            mirrors_of=lambda model_id: read_provenance(system, model_id).mirrors,
        )
        if Mode.ZK in cfg.modes and cfg.zk.artifacts_dir is not None:
            self.prover = Prove(ProvingPool(cfg.zk.artifacts_dir, cfg.zk.workers), journal, self.metrics, log)
        self.registration = self._register()
        watcher = LogWatcher(
            JsonRpcSource(client),
            deployment.hub.address,
            start_block=max(deployment.start_block, 1),
            confirmations=cfg.confirmations,
            max_range=cfg.max_log_range,
            timer=self.stopwatch,
        )
        self.models = ModelFollower(
            hub,
            journal,
            txm,
            self.metrics,
            log,
            chosen=cfg.registration.models,
            modes=cfg.modes,
            min_price_wei=cfg.registration.min_price_wei,
            served=self.registration.models,
            refresh_s=cfg.registration.refresh_s,
            arithmetic_class=self.arithmetic_class,
        )
        stages = self._stages(journal, txm, hub, watcher, self.catalog, deployment.hub.address)
        self.scheduler = Scheduler(
            stages,
            journal,
            txm,
            self.metrics,
            self.stopwatch,
            cfg.confirmations,
            models=self.models,
            pruner=Pruner(journal, log, retention_s=cfg.journal_retention_s),
            wallet=Wallet(
                self.health, self.metrics, log, min_balance_wei=cfg.tx.min_balance_wei, batch_gas=cfg.batch.max_gas
            ),
            windows=hub,
            clock=ChainClock(txm),
        )
        if cfg.metrics.enabled:
            self._server = MetricsServer(self.metrics, self.health, cfg.metrics.host, cfg.metrics.port)
            self._server.start()
        self.scheduler.recover()
        stages.compute.warm(self.registration.models)  # sandboxed workers start beside the first ticks
        self.log.info(
            "node ready",
            chain_id=chain_id,
            hub=deployment.hub.address,
            env_hash="0x" + self.env_hash.hex(),
            models=len(self.registration.models),
            metrics_port=self.metrics_port,
            actions=list(self.registration.actions),
        )

    def _check_chain(self, journal: Journal, client: JsonRpc, hub: str, chain_id: int) -> None:
        """The journal's records must be from this chain: its genesis block and the hub's code. Records from another
        chain (a reset, a redeploy at the same address) are quarantined, loudly, and the node serves the chain as it
        is; a hub address with no code is a wrong deployment file, refused with the fix."""
        genesis = client.block(0)
        code = client.call("eth_getCode", hub, "latest")
        if genesis is None or not isinstance(code, str):
            raise ChainError(f"{self.config.rpc_url} did not answer with the genesis block and the hub's code")
        if code in ("0x", "0x0", ""):
            where = self.config.deployment_file or f"the packaged deployment for chain {chain_id}"
            raise ConfigError(
                f"there is no contract at the hub address {hub} on chain {chain_id}: {where} describes another chain "
                "(or this one was reset). Deploy the system (`verinfer deploy`) and point deployment_file at it"
            )
        identity = (bytes.fromhex(str(genesis["hash"])[2:]), bytes(keccak(hexstr=code)))
        known = journal.identity()
        if known is not None and known != identity:
            what = "genesis block" if known[0] != identity[0] else "hub code"
            moved = journal.forget_chain(f"the chain's {what} changed: the journal is from another chain")
            self.metrics.quarantined.inc(moved)
            self.health.notice("journal", f"{moved} records from another chain quarantined at start-up")
            self.log.error(
                "journal records are from another chain: quarantined; serving the chain as it is",
                changed=what,
                quarantined=moved,
                journal=str(journal.path),
            )
        journal.set_identity(*identity)

    def _stages(
        self,
        journal: Journal,
        txm: TxManager,
        hub: HubView,
        watcher: LogWatcher,
        catalog: ModelCatalog,
        hub_address: str,
    ) -> Stages:
        """The pipeline's stages, each given what it needs (the journal, the sender, the hub reader, ...)."""
        cfg, log = self.config, self.log
        reorgs = ReorgHandler(journal, txm.nonces, log)
        calldata = HubCalldata()
        metrics, sw = self.metrics, self.stopwatch
        watch, committee = self._watch_stages(journal, txm, hub, catalog)
        return Stages(
            watch=watch,
            committee=committee,
            ingest=Ingest(watcher, journal, hub, reorgs, timer=sw, log=log),
            compute=Compute(
                journal,
                catalog,
                hub,
                ChainClock(txm),
                txm,
                Policy(cfg.modes, cfg.policy.min_fee_wei, cfg.policy.gas_per_result),
                metrics,
                log,
                prover=self.prover,
                timer=sw,
                waiting_for=self.models.waiting_for if self.models is not None else None,
            ),
            submit=Submit(
                journal,
                txm,
                calldata,
                hub_address,
                metrics,
                log,
                max_batch_items=cfg.batch.max_items,
                max_batch_gas=cfg.batch.max_gas,
                timer=sw,
                clock=ChainClock(txm),
                statuses=hub,
                deadline_margin_s=cfg.tx.deadline_margin_s,
            ),
            consensus=Consensus(
                journal,
                txm,
                hub,
                ChainClock(txm),
                calldata,
                hub_address,
                metrics,
                log,
                retry_after_s=cfg.tx.stuck_after_s,
            ),
            final=FinalDeliveries(journal, txm, hub, ChainClock(txm), calldata, hub_address, metrics, log),
            track=Track(
                journal,
                txm,
                hub,
                reorgs,
                hub_address,
                metrics,
                log,
                confirmations=cfg.confirmations,
                stuck_after_s=cfg.tx.stuck_after_s,
                max_attempts=cfg.tx.max_attempts,
                timer=sw,
                clock=ChainClock(txm),
                deadline_margin_s=cfg.tx.deadline_margin_s,
            ),
        )

    def _watch_stages(
        self, journal: Journal, txm: TxManager, hub: HubView, catalog: ModelCatalog
    ) -> tuple[Watchtower | None, Committee | None]:
        """The watchtower (`watch.watchtower`) and the dispute duty (`watch.committee`; a watchtower always follows
        its own challenges), on a deployment with a dispute contract."""
        cfg = self.config.watch
        if not (cfg.watchtower or cfg.committee):
            return None, None
        if hub.system.disputes is None:
            if cfg.watchtower:
                raise ConfigError(
                    "watch.watchtower = true, but the deployment has no Disputes contract to challenge in: "
                    "redeploy (`verinfer deploy`) or set watch.watchtower = false"
                )
            self.log.info("no Disputes contract in the deployment: dispute committee duty is off")
            return None, None
        reader = DisputeReader(hub)
        self.reexec = reexec = Reexecution(catalog)
        models = self.registration.models if self.registration is not None else ()
        watch = None
        if cfg.watchtower:
            watch = Watchtower(
                journal,
                txm,
                hub,
                reader,
                reexec,
                self.metrics,
                self.log,
                models=models,
                max_bond_wei=cfg.max_bond_wei,
                lookback=cfg.lookback_blocks,
            )
        committee = Committee(
            journal,
            txm,
            hub,
            reader,
            reexec,
            ChainClock(txm),
            self.metrics,
            self.log,
            models=models,
            secret=self._dispute_secret,
            serve=cfg.committee,
            lookback=cfg.lookback_blocks,
            retry_after_s=self.config.tx.stuck_after_s,
        )
        return watch, committee

    @property
    def metrics_port(self) -> int | None:
        return self._server.port if self._server is not None else None

    def _register(self) -> Registration:
        """Registers the node, or brings its stake, environment and models up to the config (`registration`)."""
        cfg = self.config.registration
        if self.system is None or self.txm is None:
            raise VerinferError("NodeService._register() before the chain is bound")
        address, env_hash = self.txm.address, self.env_hash
        operator = Operator(self.system)
        wanted = self._wanted_models(operator)
        status = operator.status(wanted)
        if status.unbonding:
            raise ConfigError(
                f"node {address} is unbonding (until {status.unbonding_ends_at}): it cannot serve; "
                "withdraw and register again, or use another key"
            )
        if not cfg.auto:
            if not status.registered or any(e != Eligibility.ELIGIBLE for e in status.eligibility.values()):
                raise ConfigError(
                    f"node {address} is not registered and eligible for its models "
                    "(registration.auto = false): run `verinfer node register` or set auto = true"
                )
            return Registration(address, env_hash, tuple(wanted), ())
        stake_goal = max(cfg.stake_wei or 0, status.min_stake)
        actions: list[str] = []
        try:
            if not status.registered:
                operator.register(env_hash, wanted, stake_goal, self.arithmetic_class)
                actions.append(f"registered with {stake_goal} wei stake and {len(wanted)} models")
            else:
                if status.stake < stake_goal:
                    operator.add_stake(stake_goal - status.stake)
                    actions.append(f"added {stake_goal - status.stake} wei stake")
                stated = operator.arithmetic_class()
                if status.env_hash != env_hash or stated != self.arithmetic_class:
                    operator.update_environment(env_hash, self.arithmetic_class)
                    actions.append("updated the environment hash and arithmetic class")
                missing = [m for m, e in status.eligibility.items() if e == Eligibility.MODEL_NOT_SERVED]
                if missing:
                    operator.set_models(missing, True)
                    actions.append(f"now serves {len(missing)} more models")
        except ContractRevert as exc:
            raise ChainError(f"registering node {address} failed: {exc}") from exc
        for action in actions:
            self.log.info("registration", action=action)
        return Registration(address, env_hash, tuple(wanted), tuple(actions))

    def _wanted_models(self, operator: Operator) -> list[bytes]:
        """The model ids from `registration.models`, or every live model this node's modes can serve ("all")."""
        chosen = self.config.registration.models
        if chosen != ("all",):
            return [bytes.fromhex(m[2:]) for m in chosen]
        # A model the registry would not let this node declare is left out (`unservable`).
        status = operator.status()
        stake = max(self.config.registration.stake_wei or 0, status.min_stake, status.stake)
        wanted: list[bytes] = []
        for model_id in operator.registered_models():
            terms = operator.system.terms_of(model_id)
            if (
                not terms.deprecated
                and terms.price >= self.config.registration.min_price_wei
                and any(terms.allows(mode) for mode in self.config.modes)
            ):
                refused = unservable(operator.system, model_id, stake, self.arithmetic_class)
                if refused is not None:
                    message, fields = refused
                    self.log.warning(message, model="0x" + model_id.hex(), **fields)
                    continue
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
                report = TickReport(errors={"tick": str(exc)})
                self.metrics.rpc_errors.inc()
            self._journal_notices()
            moved = bool(report.seen or report.computed or report.sent or report.confirmed or report.failed)
            # Work only this node can move: jobs to compute, results to send, deliveries to see mined.
            waiting = sum(
                self.scheduler.waiting.get(state, 0) for state in (JobState.SEEN, JobState.COMPUTED, JobState.SUBMITTED)
            )
            self.health.progress(waiting, moved)
            if moved:
                self.log.info(
                    "tick",
                    seen=report.seen,
                    computed=report.computed,
                    sent=report.sent,
                    confirmed=report.confirmed,
                    failed=report.failed,
                )
            if report.errors:  # the other stages ran; the failed ones are retried after a capped pause
                error = "; ".join(f"{stage}: {text}" for stage, text in report.errors.items())
                self.health.failed(error)
                self.log.warning("step failed; retrying", error=error, retry_in_s=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_cap_s)
                continue
            backoff = self.backoff_start_s
            self.health.ok()
            busy = report.computed or report.sent or report.seen
            self._stop.wait(0.0 if busy else self.config.poll_interval_s)
        self.log.info("node stopped", ticks=ticks)

    def _journal_notices(self) -> None:
        """Quarantines and rollbacks the ingest stage met: counted, and named on /healthz. A journal file deleted
        or replaced under the running node: an error once, and /healthz fails until it is back."""
        if self.scheduler is None:
            return
        if self.journal is not None:
            problem = self.journal.file_problem()
            if problem is not None and problem != self._journal_file_problem:
                self.log.error("journal file lost", problem=problem)
            self._journal_file_problem = problem
            self.health.problem("journal file", problem)
        ingest = self.scheduler.stages.ingest
        new = ingest.quarantined - self._quarantined_seen
        if new:
            self.metrics.quarantined.inc(new)
            self._quarantined_seen = ingest.quarantined
        if ingest.quarantined or ingest.rollbacks:
            self.health.notice(
                "chain",
                f"{ingest.quarantined} journal records quarantined (request ids reused), "
                f"{ingest.rollbacks} rollbacks below the journal's records since start",
            )

    def run_forever(self) -> None:
        """`run()` with SIGTERM and SIGINT handled: the current tick finishes, then everything closes."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            self.log.info("signal received; stopping after this step", signal=signal.Signals(signum).name)
            self._stop.set()
            self._cancel.set()  # a model mid-call is abandoned (its worker killed); its jobs stay `seen`

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
        self._cancel.set()
        if self.catalog is not None:
            self.catalog.close()
        if self.scheduler is not None:
            self.scheduler.stages.compute.close()
        if self.reexec is not None:
            self.reexec.close()
            self.reexec = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.prover is not None:
            self.prover.close()
            self.prover = None
        if self.txm is not None:
            self.txm.close()
            self.txm = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def read_spec(system: System, model_id: bytes) -> ModelSpec:
    """The model's registered spec; an unknown model is a `ModelError` (the job fails, the node goes on)."""
    try:
        return read_model(system, model_id)
    except ContractRevert as exc:
        raise ModelError(f"model 0x{model_id.hex()} cannot be read from the registry: {exc}") from exc


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
