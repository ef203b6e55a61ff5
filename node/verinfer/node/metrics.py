"""The node's Prometheus metrics and its `/metrics` + `/healthz` HTTP endpoint.

Each service owns a `CollectorRegistry` (not the process-global one), so tests and several nodes in one process
never share counters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BLOCK_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, float("inf"))
SECOND_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, float("inf"))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, float("inf"))


class NodeMetrics:
    """Counters, gauges and histograms of one node."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.seen = Counter("verinfer_requests_seen", "Requests the watcher recorded.", registry=r)
        self.fulfilled = Counter(
            "verinfer_requests_fulfilled", "Requests final on chain with this node's result.", ["mode"], registry=r
        )
        self.failed = Counter(
            "verinfer_requests_failed", "Requests this node gave up, by reason.", ["reason"], registry=r
        )
        self.latency_blocks = Histogram(
            "verinfer_latency_blocks", "Blocks from the request to its result.", buckets=BLOCK_BUCKETS, registry=r
        )
        self.latency_seconds = Histogram(
            "verinfer_latency_seconds",
            "Seconds from seeing a request to its result.",
            buckets=SECOND_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "verinfer_batch_size", "Results per submitResults transaction.", buckets=BATCH_BUCKETS, registry=r
        )
        self.gas_spent = Counter("verinfer_gas_spent_wei", "Wei this node paid for gas.", registry=r)
        self.gas_used = Counter("verinfer_gas_used", "Gas this node's mined transactions used.", ["kind"], registry=r)
        self.txs_sent = Counter("verinfer_transactions_sent", "Transactions broadcast, by kind.", ["kind"], registry=r)
        self.txs_replaced = Counter(
            "verinfer_transactions_replaced", "Fee bumps and re-signed transactions.", registry=r
        )
        self.rpc_errors = Counter("verinfer_rpc_errors", "Scheduler steps that failed on the RPC.", registry=r)
        self.balance = Gauge("verinfer_balance_wei", "The node account's balance.", registry=r)
        self.backlog = Gauge("verinfer_journal_backlog", "Jobs waiting in each journal state.", ["state"], registry=r)
        self.head = Gauge("verinfer_chain_head", "The latest block the node saw.", registry=r)
        self.cpu_seconds = Counter("verinfer_cpu_seconds", "Node CPU time by stage.", ["stage"], registry=r)
        self.reveals_at_risk = Gauge(
            "verinfer_reveals_at_risk",
            "CONSENSUS votes whose reveal is not mined with half of the reveal window gone (slashed if it ends).",
            registry=r,
        )
        self.wallet_paused = Gauge(
            "verinfer_wallet_paused", "1 while serving is paused for a low wallet balance.", registry=r
        )
        self.finals_waiting = Gauge(
            "verinfer_finals_waiting",
            "Callbacks this node owes once its SINGLE results are final (CALLBACK_ON_FINAL), not yet delivered.",
            registry=r,
        )
        self.finals_delivered = Counter(
            "verinfer_finals_delivered",
            "Final callbacks settled (delivered by this node or closed by the hub).",
            registry=r,
        )
        self.results_checked = Counter(
            "verinfer_results_checked",
            "Other nodes' SINGLE results this watchtower re-executed, by verdict (agreed, mismatch).",
            ["verdict"],
            registry=r,
        )
        self.challenges_opened = Counter("verinfer_challenges_opened", "Disputes this watchtower opened.", registry=r)
        self.challenges_won = Counter(
            "verinfer_challenges_won", "Disputes this watchtower opened that overturned the result.", registry=r
        )
        self.challenges_lost = Counter(
            "verinfer_challenges_lost",
            "Disputes this watchtower opened that upheld the result or ended void.",
            registry=r,
        )
        self.bonds_at_stake = Gauge(
            "verinfer_bonds_at_stake_wei", "Bonds of this node's challenges whose disputes are open.", registry=r
        )
        self.dispute_votes = Counter(
            "verinfer_dispute_transactions",
            "Dispute transactions sent (commit, reveal, resolve).",
            ["action"],
            registry=r,
        )
        self.quarantined = Counter(
            "verinfer_journal_quarantined",
            "Journal records set aside because the chain contradicts them (reset, rollback, a reused request id).",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """What `/healthz` answers. Unhealthy while: no tick completed without an RPC error for `stale_after` seconds;
    jobs wait but nothing moved for `stale_after` seconds (the node serves nothing); or a named problem is raised
    (`problem("funds", ...)`: it cannot pay for gas; `problem("journal", ...)`: records were quarantined)."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._last_ok: float | None = None
        self.last_error: str | None = None
        self._waiting_since: float | None = None
        self._problems: dict[str, str] = {}
        self._notices: dict[str, str] = {}

    def ok(self) -> None:
        self._last_ok = self._clock()
        self.last_error = None

    def failed(self, error: str) -> None:
        self.last_error = error

    def progress(self, waiting: int, moved: bool) -> None:
        """After each tick: how many jobs wait for this node, and whether any moved (seen, computed, sent,
        confirmed or failed)."""
        if waiting == 0 or moved:
            self._waiting_since = None
        elif self._waiting_since is None:
            self._waiting_since = self._clock()

    def problem(self, name: str, text: str | None) -> None:
        """Raises (`text`) or clears (None) a named problem."""
        if text is None:
            self._problems.pop(name, None)
        else:
            self._problems[name] = text

    def notice(self, name: str, text: str) -> None:
        """Something the operator should know that does not stop serving (shown in /healthz's answer)."""
        self._notices[name] = text

    def status(self) -> tuple[bool, str]:
        if self._last_ok is None:
            return False, "starting" + (f" (last error: {self.last_error})" if self.last_error else "")
        now = self._clock()
        age = now - self._last_ok
        if age > self.stale_after:
            return False, f"no successful step for {age:.0f}s (last error: {self.last_error or 'none'})"
        if self._waiting_since is not None and now - self._waiting_since > self.stale_after:
            return False, f"jobs are waiting but nothing moved for {now - self._waiting_since:.0f}s"
        if self._problems:
            return False, "; ".join(f"{name}: {text}" for name, text in sorted(self._problems.items()))
        if self._notices:
            return True, "ok; " + "; ".join(f"{name}: {text}" for name, text in sorted(self._notices.items()))
        return True, "ok"


class MetricsServer:
    """Serves `/metrics` (Prometheus text) and `/healthz` (200 "ok" or 503 with the reason) on a daemon thread."""

    def __init__(self, metrics: NodeMetrics, health: Health, host: str, port: int) -> None:
        server_metrics, server_health = metrics, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, server_metrics.render(), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    healthy, why = server_health.status()
                    self._send(200 if healthy else 503, (why + "\n").encode(), "text/plain; charset=utf-8")
                else:
                    self._send(404, b"try /metrics or /healthz\n", "text/plain; charset=utf-8")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes are not worth a log line each

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="verinfer-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
