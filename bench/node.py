"""The node under a flood: 2,000 requests for the demo credit model, served by one node, on anvil with 1-second
blocks. Two runs: a 30M block gas limit (results/s against the gas bound) and a lifted limit (1B: the node's own
speed). Plus the gas of one result delivered alone vs batched.

    .venv/bin/python bench/node.py [--requests 2000]
    .venv/bin/python bench/node.py --idle        # idle CPU vs journal history -> bench/results/node-idle.md
    .venv/bin/python bench/node.py --sustained [--rates 250,500,1000,2000,3000] [--stream 20000]
        # a stream per step at a fixed offered rate, stepped up until the node falls behind (its own process, the
        # sandbox on) -> bench/results/node-sustained.md; a quick run: --rates 500,2000 --stream 2000

Prints Markdown tables, writes them to bench/results/node.md and a plot to bench/results/node.png.

Definitions (all from the chain, not the node's clock):
  * results/s = results / (timestamp of the last result's block - timestamp of the first request's block), i.e. over
    the span in which the work happened; with 1-second blocks a 1-block latency for everything gives N results/s.
  * gas bound (run 1) = block gas limit / (gas per request + gas per batched result) per second, both measured in
    the same run (receipt gasUsed averages).
  * latency = result block - request block, per request.
  * node CPU = the node thread's CPU time (time.thread_time), split by the node's stopwatch; "rpc+other" is what the
    named sections leave: the JSON-RPC client (web3, httpx, JSON) and bookkeeping.
The load generator signs every request before the run and posts them as JSON-RPC batches (verinfer.sdk.bulk) right
after a block is mined.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.crypto import keccak

from verinfer.chain.anvil import Anvil, free_port
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import deploy, save_deployment
from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.lottery import Lottery, opens_at
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender, connect
from verinfer.sdk import Client
from verinfer.sdk.bulk import BulkRequests, request_many, send_signed, sign_requests
from verinfer.types import DeployConfig, HubParams, Mode

try:  # the [bench] extra: the node service (structlog, prometheus), the demo model (scikit-learn), the plot
    import matplotlib
    import sklearn  # noqa: F401  (build_credit_model trains with it, imported only when it runs)
    from pydantic import SecretStr

    from verinfer.config import BatchConfig, KeysConfig, MetricsConfig, NodeConfig
    from verinfer.demo.models import build_credit_model
    from verinfer.node.service import NodeService
except ModuleNotFoundError as missing:  # one line, not a traceback after the run
    sys.exit(f"bench/node.py needs {missing.name}: pip install -e '.[bench]' (the README's '.[dev]' includes it)")

matplotlib.use("Agg")

RESULTS = Path(__file__).resolve().parent / "results"
PRICE = 10**15
SCALE = 1_000_000
DEPLOYER, NODE, USER = 0, 1, 2


@dataclass(frozen=True)
class Run:
    name: str
    gas_limit: int
    requests: int
    results: int
    span_s: float
    results_per_s: float
    gas_per_request: float
    gas_per_result: float
    gas_bound_per_s: float
    latency_blocks: list[int]
    cpu: dict[str, float]
    cpu_total: float
    batches: int
    timeline: list[tuple[float, int]]  # (seconds since the first request block, results so far)

    @property
    def p50(self) -> float:
        return statistics.median(self.latency_blocks)

    @property
    def p95(self) -> float:
        ordered = sorted(self.latency_blocks)
        return float(ordered[max(0, round(0.95 * len(ordered)) - 1)])


def _receipts(rpc_url: str, hashes: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with JsonRpc(rpc_url, timeout=60) as client:
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            answers = client.batch("eth_getTransactionReceipt", [[h] for h in chunk])
            out.extend(a for a in answers if isinstance(a, dict))
    return out


def run(name: str, n: int, gas_limit: int, max_items: int, work: Path, block_time: int = 1) -> Run:
    args = ("--gas-limit", str(gas_limit)) + (("--block-time", str(block_time)) if block_time else ())
    with Anvil.start(extra_args=args) as anvil:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer = TxSender(w3, Account.from_key(anvil.accounts[DEPLOYER].private_key), decoder)
        deployment = deploy(deployer)
        deployment_file = save_deployment(deployment, work / f"{name}-deployment.json")
        model = build_credit_model(work / "models")
        client = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment, cache_dir=work / "client")
        model_id = client.register_model(model.path, model.path.as_uri(), PRICE, [Mode.SINGLE], scale=SCALE)
        config = NodeConfig(
            rpc_url=anvil.rpc_url,
            deployment_file=deployment_file,
            keys=KeysConfig(private_key=SecretStr(anvil.accounts[NODE].private_key)),
            journal_path=work / f"{name}-journal.sqlite",
            model_cache_dir=work / "node-models",
            confirmations=0,
            poll_interval_s=0.05,
            metrics=MetricsConfig(enabled=False),
            batch=BatchConfig(max_items=max_items, max_gas=min(gas_limit // 2, 30_000_000)),
        )
        service = NodeService(config)
        service.setup()
        stopwatch = service.stopwatch
        # Warm-up (not measured): the model loads and the first result is paid, as on a node that has been running.
        warm = request_many(client, model_id, [model.samples[0]])
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        warm_ids = warm.request_ids(client, timeout=60)
        _wait_results(w3, deployment.hub.address, set(warm_ids), timeout=60)
        stopwatch.reset()

        rows = [model.samples[i % len(model.samples)] for i in range(n)]
        signed = sign_requests(client, model_id, rows)  # before the clock starts: the flood itself is only sending
        if block_time:
            _next_block(w3)  # send right after a block, so a flood that fits in one block lands in one block
        sent = send_signed(client, signed)
        ids = set(sent.request_ids(client, timeout=300))
        results = _wait_results(w3, deployment.hub.address, ids, timeout=600)
        service.stop()
        thread.join(timeout=30)
        cpu = dict(stopwatch.seconds)

        requested = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
        req_logs = [
            log
            for log in requested.decode_all(list(w3.eth.get_logs({"address": deployment.hub.address, "fromBlock": 0})))
            if log.args["requestId"] in ids
        ]
        request_block = {int(log.args["requestId"]): log.block_number for log in req_logs}
        latency = [results[rid][0] - request_block[rid] for rid in ids]
        first_block = min(request_block.values())
        last_block = max(block for block, _ in results.values())
        t0 = int(w3.eth.get_block(first_block)["timestamp"])
        t1 = int(w3.eth.get_block(last_block)["timestamp"])
        span = max(t1 - t0, block_time or 1)
        request_receipts = _receipts(anvil.rpc_url, ["0x" + h.hex() for h in sent.tx_hashes])
        gas_per_request = statistics.mean(int(r["gasUsed"], 16) for r in request_receipts)
        result_txs = sorted({tx for _, tx in results.values()})
        result_receipts = _receipts(anvil.rpc_url, result_txs)
        gas_per_result = sum(int(r["gasUsed"], 16) for r in result_receipts) / len(ids)
        timestamps = {b: int(w3.eth.get_block(b)["timestamp"]) for b in {blk for blk, _ in results.values()}}
        done = sorted(timestamps[blk] - t0 for blk, _ in results.values())
        timeline = [(float(t), i + 1) for i, t in enumerate(done)]
        service.close()
    return Run(
        name=name,
        gas_limit=gas_limit,
        requests=n,
        results=len(results),
        span_s=span,
        results_per_s=len(results) / span,
        gas_per_request=gas_per_request,
        gas_per_result=gas_per_result,
        gas_bound_per_s=gas_limit / (gas_per_request + gas_per_result) / (block_time or 1),
        latency_blocks=latency,
        cpu=cpu,
        cpu_total=sum(cpu.values()),
        batches=len(result_txs),
        timeline=timeline,
    )


def _next_block(w3: Any) -> None:
    start = w3.eth.block_number
    while w3.eth.block_number == start:
        time.sleep(0.01)


def _wait_results(
    w3: Any, hub: str, ids: set[int], timeout: float, *, partial: bool = False
) -> dict[int, tuple[int, str]]:
    """request id => (block, tx hash) of its ResultSubmitted, once all of `ids` have one (with `partial`, those that
    have one when `timeout` passes). Reads raw logs and their topics only, so the waiting (in this process) takes
    next to no CPU from the node's thread."""
    client = JsonRpc(str(w3.provider.endpoint_uri), timeout=30)
    topic0 = "0x" + EventCodec.from_abi(load_artifact("InferenceHub").abi, "ResultSubmitted").topic.hex()
    found: dict[int, tuple[int, str]] = {}
    deadline = time.monotonic() + timeout
    from_block = 0
    try:
        while len(found) < len(ids):
            if time.monotonic() > deadline:
                if partial:
                    break
                raise SystemExit(f"only {len(found)} of {len(ids)} results within {timeout}s")
            head = client.block_number()
            if head >= from_block:
                for log in client.logs(
                    {"address": hub, "fromBlock": hex(from_block), "toBlock": hex(head), "topics": [topic0]}
                ):
                    rid = int(log["topics"][1], 16)
                    if rid in ids:
                        found[rid] = (int(log["blockNumber"], 16), log["transactionHash"])
                from_block = head + 1
            time.sleep(0.2)
    finally:
        client.close()
    return found


def single_vs_batched(work: Path) -> tuple[float, float]:
    """Gas per result: one result per transaction vs batches of up to 256 (automine, 64 requests each)."""
    out = []
    for items in (1, 256):
        r = run(f"gas-{items}", 64, 30_000_000, items, work, block_time=0)
        out.append(r.gas_per_result)
    return out[0], out[1]


def table(runs: list[Run], single: float, batched: float) -> str:
    lines = [
        "| run | block gas limit | requests | results | span (s) | results/s | gas bound/s | % of bound "
        "| p50 latency (blocks) | p95 latency (blocks) | batches | node CPU per result (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.name} | {r.gas_limit:,} | {r.requests:,} | {r.results:,} | {r.span_s:.0f} | {r.results_per_s:,.0f} "
            f"| {r.gas_bound_per_s:,.0f} | {100 * r.results_per_s / r.gas_bound_per_s:.0f} % | {r.p50:.0f} "
            f"| {r.p95:.0f} | {r.batches} | {1000 * r.cpu_total / r.results:.3f} |"
        )
    lines += [
        "",
        "Gas per result (receipt gasUsed / results): "
        f"one per transaction {single:,.0f}; batched {batched:,.0f}. Gas per request: "
        + ", ".join(f"{r.name} {r.gas_per_request:,.0f}" for r in runs)
        + ".",
        "",
    ]
    sections = sorted({k for r in runs for k in r.cpu})
    lines.append("| node CPU per result (µs) | " + " | ".join(sections) + " | total |")
    lines.append("|---|" + "---:|" * (len(sections) + 1))
    for r in runs:
        lines.append(
            f"| {r.name} | "
            + " | ".join(f"{1e6 * r.cpu.get(k, 0) / r.results:.0f}" for k in sections)
            + f" | {1e6 * r.cpu_total / r.results:.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib.pyplot as plt  # after matplotlib.use("Agg") above: no display needed

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        xs = [0.0] + [t for t, _ in r.timeline]
        ys = [0] + [c for _, c in r.timeline]
        left.step(xs, ys, where="post", label=f"{r.name} ({r.results_per_s:,.0f}/s)")
        counts = [r.latency_blocks.count(b) for b in range(max(r.latency_blocks) + 1)]
        right.bar([b + (0.4 if r is runs[1] else 0) for b in range(len(counts))], counts, width=0.4, label=r.name)
    left.set_xlabel("seconds since the first request's block")
    left.set_ylabel("results on chain")
    left.legend()
    right.set_xlabel("latency (blocks, request -> result)")
    right.set_ylabel("requests")
    right.legend()
    fig.suptitle("verinfer node: 2,000 requests on anvil, 1-second blocks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ------------------------------------------------------------------------------------------ idle CPU vs history

IDLE_HISTORIES = (0, 30_000, 300_000)
IDLE_WINDOW_S = 30.0
JOBS_PER_TX = 16


def prefill(journal_path: Path, chain_id: int, hub: str, served: int) -> None:
    """A journal holding `served` confirmed requests and their mined `submitResults` transactions (one per
    JOBS_PER_TX), as a node that has served that many within the retention would have."""
    import os
    import sqlite3

    from verinfer.node.journal import Journal

    Journal(journal_path, chain_id, hub).close()  # the schema
    db = sqlite3.connect(journal_path)
    now = time.time()
    rng = os.urandom
    with db:
        for start in range(1, served + 1, 10_000):
            ids = range(start, min(start + 10_000, served + 1))
            db.executemany(
                "INSERT INTO jobs (chain_id, hub, request_id, state, params, input, block_number, block_hash, output,"
                " output_hash, submit_tx_hash, submit_nonce, seen_at, state_at, updated_at)"
                " VALUES (?, ?, ?, 'confirmed', ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        chain_id,
                        hub,
                        rid,
                        rng(320),
                        rng(40),
                        rng(32),
                        rng(24),
                        rng(32),
                        (rid // JOBS_PER_TX).to_bytes(32, "big"),
                        rid // JOBS_PER_TX,
                        now,
                        now,
                        now,
                    )
                    for rid in ids
                ],
            )
        db.executemany(
            "INSERT INTO txs (chain_id, hub, hash, nonce, kind, raw, created_at, mined_block)"
            " VALUES (?, ?, ?, ?, 'submit', ?, ?, 1)",
            [
                (chain_id, hub, n.to_bytes(32, "big"), 1_000_000 + n, rng(4_096), now)
                for n in range(-(-served // JOBS_PER_TX))
            ],
        )
    db.close()


def idle(history: int, work: Path) -> float:
    """% of one core the node process uses while idle (1-second blocks, no requests, default poll interval), with
    a journal holding `history` served requests."""
    with Anvil.start(extra_args=("--block-time", "1")) as anvil:
        w3 = connect(anvil.rpc_url)
        deployer = TxSender(w3, Account.from_key(anvil.accounts[DEPLOYER].private_key), RevertDecoder.for_system())
        deployment = deploy(deployer)
        deployment_file = save_deployment(deployment, work / f"idle-{history}-deployment.json")
        w3.provider.make_request("anvil_mine", [hex(200)])  # type: ignore[arg-type]  # history lies deep below
        journal_path = work / f"idle-{history}-journal.sqlite"
        prefill(journal_path, int(w3.eth.chain_id), deployment.hub.address, history)
        config = NodeConfig(
            rpc_url=anvil.rpc_url,
            deployment_file=deployment_file,
            keys=KeysConfig(private_key=SecretStr(anvil.accounts[NODE].private_key)),
            journal_path=journal_path,
            model_cache_dir=work / "node-models",
            metrics=MetricsConfig(enabled=False),
        )
        service = NodeService(config)
        service.setup()
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        time.sleep(5.0)  # past start-up
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(IDLE_WINDOW_S)
        used = (time.process_time() - cpu) / (time.monotonic() - wall)
        service.stop()
        thread.join(timeout=30)
        service.close()
    return 100.0 * used


def idle_table(rows: list[tuple[int, float]]) -> str:
    lines = [
        "## Idle CPU vs history",
        "",
        f"The node idle for {IDLE_WINDOW_S:g} s on anvil with 1-second blocks (no requests, default poll interval of "
        "2 s), its journal pre-filled with that many served requests (confirmed jobs, one mined submitResults per "
        f"{JOBS_PER_TX}). CPU = the node process's CPU time over the window, as % of one core.",
        "",
        "| served requests in the journal | idle CPU (% of a core) |",
        "| ---: | ---: |",
    ]
    lines += [f"| {history:,} | {cpu:.2f} |" for history, cpu in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ sustained rate

SUSTAINED_RATES = (250, 500, 1_000, 2_000, 3_000)
SUSTAINED_REQUESTS = 20_000
KEPT_UP_P95_BLOCKS = 3
SEND_TICK_S = 0.1  # the load generator posts what is due every tick: at 3,000/s, batches of 300
DRAIN_S = 60.0  # how long after the last send the run waits for the results still missing
# The hub's lottery holds even a sole node back: its window on a request opens floor(E x ticketDelay) s after the
# request, E ~ Exp(1), and the hub refuses an earlier result. p95 of that wait alone is 5 s at the default
# ticketDelay of 2 s, and 2 s at the hub's minimum of 1 s, where a node with no delay of its own lands p95 right at
# 3 blocks (P(floor(E) <= 2) = 0.9502): a coin flip. So the steps run at the minimum, and "kept up" applies the
# 3-block bound to the node's own part, its lag: result block - the first block that could hold the result.
SUSTAINED_TICKET_DELAY_S = 1
RAMP_BLOCKS = 3  # results/s is counted from this many blocks after the first request (see _streaming_rate)
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    offered_per_s: int
    requests: int
    sent_per_s: float  # what the load generator achieved: requests / wall seconds from the first to the last POST
    results: int
    results_per_s: float
    latency_blocks: list[float]  # per request; inf for one without a result within DRAIN_S of the last send
    lag_blocks: list[float]  # result block - the first block at or after the node's lottery window opened
    usage: Usage  # first send -> last result
    wall_s: float
    stage_cpu_s: dict[str, float]  # the node's main loop by stage (its verinfer_cpu_seconds metric)

    @property
    def kept_up(self) -> bool:
        return self.results == self.requests and _percentile(self.lag_blocks, 0.95) <= KEPT_UP_P95_BLOCKS


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on (the name before it may hold spaces); None once it exited."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _cpu_of(fields: list[str] | None) -> float:
    return 0.0 if fields is None else sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK  # u/s + reaped


def _descendants(root: int) -> list[int]:
    parents = {
        int(e.name): int(f[1]) for e in Path("/proc").iterdir() if e.name.isdigit() and (f := _stat(int(e.name)))
    }
    found, frontier = [], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


@dataclass(frozen=True)
class Usage:
    """Where the machine's time went, cumulative: seconds of CPU and of waiting for a CPU (runnable, not running)."""

    node_cpu_s: float  # the node process and its descendants (the sandbox worker)
    children_cpu_s: float  # the descendants alone
    node_wait_s: float  # run-queue wait of all their threads (/proc/<pid>/task/<tid>/schedstat)
    anvil_cpu_s: float
    load_cpu_s: float  # this process: the load generator and the result watcher

    @classmethod
    def now(cls, node: int, anvil: int) -> Usage:
        children = _descendants(node)
        wait = 0
        for pid in [node, *children]:
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    wait += int((task / "schedstat").read_text().split()[1])
                except (OSError, IndexError):
                    continue  # the thread ended meanwhile
        kids = sum(_cpu_of(_stat(pid)) for pid in children)
        return cls(_cpu_of(_stat(node)) + kids, kids, wait / 1e9, _cpu_of(_stat(anvil)), time.process_time())

    def __sub__(self, before: Usage) -> Usage:
        return Usage(
            *(
                getattr(self, f) - getattr(before, f)
                for f in ("node_cpu_s", "children_cpu_s", "node_wait_s", "anvil_cpu_s", "load_cpu_s")
            )
        )


def _anvil_pid() -> int:
    """This process's anvil child (one step runs one)."""
    me = os.getpid()
    for pid in _descendants(me):
        fields = _stat(pid)
        if fields is not None and int(fields[1]) == me and Path(f"/proc/{pid}/comm").read_text().strip() == "anvil":
            return pid
    raise SystemExit("no anvil process found under this one")


def _stage_cpu(metrics_url: str) -> dict[str, float]:
    """verinfer_cpu_seconds by stage, scraped from the node's /metrics."""
    import httpx

    out: dict[str, float] = {}
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith("verinfer_cpu_seconds_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('stage="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def _start_node(
    work: Path, rpc_url: str, deployment_file: Path, key: str, metrics_port: int
) -> subprocess.Popen[bytes]:
    """`python -m verinfer.node` in a process of its own (so its CPU is its own), sandbox at its defaults; returns
    once it logged "node ready"."""
    path = work / "node.toml"
    path.write_text(
        "\n".join(
            [
                f"rpc_url = {json.dumps(rpc_url)}",
                f"deployment_file = {json.dumps(str(deployment_file))}",
                f"journal_path = {json.dumps(str(work / 'journal.sqlite'))}",
                f"model_cache_dir = {json.dumps(str(work / 'node-models'))}",
                "confirmations = 0",
                "poll_interval_s = 0.05",
                "[keys]",
                f"private_key = {json.dumps(key)}",
                "[batch]",
                "max_items = 256",
                "max_gas = 30000000",
                "[metrics]",
                f"port = {metrics_port}",
            ]
        )
        + "\n"
    )
    log = work / "node.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "verinfer.node", "--config", str(path), "--json-logs"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while b'"node ready"' not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the node did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def _paced_send(rpc_url: str, raws: list[bytes], rate: int) -> float:
    """Posts `raws` in order at `rate` per second by the wall clock (each tick, what is due by then, as one JSON-RPC
    batch); returns the achieved rate. One keep-alive JsonRpc for the whole stream (`send_signed` would open a
    connection per tick)."""
    start = time.monotonic()
    sent = 0
    with JsonRpc(rpc_url, timeout=60) as client:
        while sent < len(raws):
            due = min(len(raws), int(rate * (time.monotonic() - start)) + 1)
            if due > sent:
                for item in client.send_raw_batch(raws[sent:due]):
                    if item.tx_hash is None:
                        raise SystemExit(f"request #{sent + item.index} refused: {item.error}")
                sent = due
            time.sleep(max(0.0, min(SEND_TICK_S, start + sent / rate + SEND_TICK_S - time.monotonic())))
    return len(raws) / max(time.monotonic() - start, 1 / rate)


def sustained_step(rate: int, n: int, work: Path) -> Step:
    """`n` SINGLE requests offered at `rate` per second to one node, on a fresh anvil (1-second blocks, 1B gas)."""
    work = work / f"sustained-{rate}"
    work.mkdir()
    with Anvil.start(extra_args=("--gas-limit", "1000000000", "--block-time", "1")) as anvil:
        w3 = connect(anvil.rpc_url)
        deployer = TxSender(w3, Account.from_key(anvil.accounts[DEPLOYER].private_key), RevertDecoder.for_system())
        deployment = deploy(deployer, DeployConfig(hub_params=HubParams(ticket_delay=SUSTAINED_TICKET_DELAY_S)))
        deployment_file = save_deployment(deployment, work / "deployment.json")
        model = build_credit_model(work / "models")
        client = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment, cache_dir=work / "client")
        model_id = client.register_model(model.path, model.path.as_uri(), PRICE, [Mode.SINGLE], scale=SCALE)
        metrics_port = free_port()
        node = _start_node(work, anvil.rpc_url, deployment_file, anvil.accounts[NODE].private_key, metrics_port)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        hub = deployment.hub.address
        try:
            # Warm-up (not measured): the sandbox worker loads the model and the first result is paid.
            warm = request_many(client, model_id, [model.samples[0]])
            _wait_results(w3, hub, set(warm.request_ids(client, timeout=60)), timeout=60)
            rows = [model.samples[i % len(model.samples)] for i in range(n)]
            raws = sign_requests(client, model_id, rows)  # before the clock starts: the stream itself only sends
            _next_block(w3)
            anvil_pid = _anvil_pid()
            usage0, wall0 = Usage.now(node.pid, anvil_pid), time.monotonic()
            stages0 = _stage_cpu(metrics_url)
            sent_per_s = _paced_send(anvil.rpc_url, raws, rate)
            ids = set(BulkRequests(tuple(keccak(raw) for raw in raws), tuple(raws)).request_ids(client, timeout=120))
            results = _wait_results(w3, hub, ids, timeout=DRAIN_S, partial=True)
            usage, wall = Usage.now(node.pid, anvil_pid) - usage0, time.monotonic() - wall0
            stages1 = _stage_cpu(metrics_url)
        finally:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:  # it stops within 5 s by design; never leave one running
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
        requested = EventCodec.from_abi(load_artifact("InferenceHub").abi, "InferenceRequested")
        with JsonRpc(anvil.rpc_url, timeout=60) as rpc_client:
            logs = rpc_client.logs(
                {"address": hub, "fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + requested.topic.hex()]}
            )
            events = {int(e.args["requestId"]): e for e in requested.decode_all(logs)}
            first = min(events[rid].block_number for rid in ids)
            last_request = max(events[rid].block_number for rid in ids)
            last = max([block for block, _ in results.values()] + [last_request])
            numbers = list(range(first, last + 1))
            times = [
                int(b["timestamp"], 16)
                for b in rpc_client.batch("eth_getBlockByNumber", [[hex(n), False] for n in numbers])
            ]
    node_address = Account.from_key(anvil.accounts[NODE].private_key).address
    latency, lag = [], []
    for rid in ids:
        event = events[rid]
        if rid not in results:
            latency.append(math.inf)
            lag.append(math.inf)
            continue
        draw = Lottery.unpack(int(event.args["lottery"]))
        # The sole serving node holds all of the serving stake: its ticket is E itself.
        opens = opens_at(draw, rid, node_address, 0, draw.serving_stake_gwei * 10**9)
        earliest = first + bisect.bisect_left(times, opens)
        latency.append(float(results[rid][0] - event.block_number))
        lag.append(float(results[rid][0] - earliest))
    return Step(
        offered_per_s=rate,
        requests=n,
        sent_per_s=sent_per_s,
        results=len(results),
        results_per_s=_streaming_rate(results, first, last_request, times),
        latency_blocks=latency,
        lag_blocks=lag,
        usage=usage,
        wall_s=wall,
        stage_cpu_s={k: v - stages0.get(k, 0.0) for k, v in stages1.items()},
    )


def _streaming_rate(results: dict[int, tuple[int, str]], first: int, last: int, times: list[int]) -> float:
    """Results per second in the stream's steady state: those mined in the blocks from RAMP_BLOCKS after the first
    request's to the last request's, over those blocks' seconds (by then the requests that lottery windows hold back
    arrive as fast as new ones are held). Over the whole span instead, the lottery's tail (a few requests wait up to
    8 x ticketDelay for their window) would dilute a 7-second stream. A stream too short for that window: results /
    the seconds from the first request's block to the last result's."""
    lo = first + RAMP_BLOCKS
    if last - lo < 1:
        return len(results) / max(times[-1] - times[0], 1)
    count = sum(lo <= block <= last for block, _ in results.values())
    return count / (times[last - first] - times[lo - first - 1])


def sustained(rates: list[int], n: int, work: Path) -> list[Step]:
    """The steps in order, stopping after the first one the node does not keep up with."""
    steps = []
    for rate in rates:
        step = sustained_step(rate, n, work)
        print(sustained_row(step), flush=True)
        steps.append(step)
        if not step.kept_up:
            break
    return steps


def _blocks(value: float) -> str:
    return "unserved" if math.isinf(value) else f"{value:.0f}"


def sustained_row(s: Step) -> str:
    per_result = 1000 * s.usage.node_cpu_s / s.results if s.results else math.nan
    return (
        f"| {s.offered_per_s:,} | {s.requests:,} | {s.sent_per_s:,.0f} | {s.results:,} | {s.results_per_s:,.0f} "
        f"| {_blocks(_percentile(s.latency_blocks, 0.5))} | {_blocks(_percentile(s.latency_blocks, 0.95))} "
        f"| {_blocks(_percentile(s.lag_blocks, 0.5))} | {_blocks(_percentile(s.lag_blocks, 0.95))} | {per_result:.3f} "
        f"| {'yes' if s.kept_up else 'no'} |"
    )


def sustained_table(steps: list[Step], load: tuple[str, str]) -> str:
    kept = [s.offered_per_s for s in steps if s.kept_up]
    lines = [
        "## Sustained rate",
        "",
        f"A stream of {steps[0].requests:,} SINGLE requests for the demo credit model per step, offered at a fixed "
        "rate (signed beforehand, posted as JSON-RPC batches every "
        f"{SEND_TICK_S:g} s by the wall clock) to one node (`python -m verinfer.node`, sandbox at its defaults, "
        "256 results per batch, 0.05 s poll, no confirmations), each step on a fresh anvil with 1-second blocks and "
        f"a 1B gas limit, the hub's ticketDelay at its minimum of {SUSTAINED_TICKET_DELAY_S} s, stepped up until the "
        "node falls behind. Counted from chain logs (InferenceRequested, ResultSubmitted): results/s = results mined "
        f"in the blocks from {RAMP_BLOCKS} after the first request's to the last request's, per second of those "
        "blocks (the stream's steady state); latency = result block - request block; lag = result block - the "
        "first block whose timestamp is at or past the node's lottery window on the request (the earliest the hub "
        "accepts its result; the window opens floor(E x ticketDelay) s after the request, E ~ Exp(1), so even a "
        "node without delay sees a p95 latency of about 3 blocks). Node CPU = the node process's and its sandbox "
        "worker's CPU time (/proc) from the first send to the last result, per result. Kept up = every request "
        f"served and p95 lag <= {KEPT_UP_P95_BLOCKS} blocks; a request without a result {DRAIN_S:g} s after the "
        "last send counts as unserved.",
        "",
        "| offered (requests/s) | requests | sent (requests/s) | results | results/s | p50 latency (blocks) "
        "| p95 latency (blocks) | p50 lag (blocks) | p95 lag (blocks) | node CPU per result (ms) | kept up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [sustained_row(s) for s in steps]
    lines += [
        "",
        "Highest sustained rate: "
        + (f"{max(kept):,} requests/s." if kept else f"none (the node fell behind at {steps[0].offered_per_s:,}/s)."),
        "",
    ]
    stages = sorted({k for s in steps for k in s.stage_cpu_s})
    lines.append(
        "| node CPU per result (µs), by offered rate | " + " | ".join(stages) + " | other threads | sandbox | total |"
    )
    lines.append("|---|" + "---:|" * (len(stages) + 3))
    for s in steps:
        if not s.results:
            continue
        main_loop = sum(s.stage_cpu_s.values())
        u = s.usage
        other = u.node_cpu_s - u.children_cpu_s - main_loop
        cells = [1e6 * s.stage_cpu_s.get(k, 0.0) / s.results for k in stages] + [
            1e6 * other / s.results,
            1e6 * u.children_cpu_s / s.results,
            1e6 * u.node_cpu_s / s.results,
        ]
        lines.append(f"| {s.offered_per_s:,} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")
    lines += [
        "",
        "Stages are the node's main loop (its `verinfer_cpu_seconds` metric); other threads = the rest of the node "
        "process (the compute lanes that feed the sandbox, the metrics server); sandbox = the model's worker process.",
        "",
        "| where the time went, by offered rate | wall (s) | node CPU (s) | node waiting for a CPU (s) | anvil CPU (s) "
        "| load generator CPU (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.offered_per_s:,} | {s.wall_s:.1f} | {s.usage.node_cpu_s:.1f} | {s.usage.node_wait_s:.1f} "
        f"| {s.usage.anvil_cpu_s:.1f} | {s.usage.load_cpu_s:.1f} |"
        for s in steps
    ]
    lines += [
        "",
        "From the first send to the last result (or the end of the wait). Waiting for a CPU = the run-queue time of "
        "the node's threads and its worker's (/proc/<pid>/task/<tid>/schedstat): runnable but not running, the "
        "machine busy with anvil, the load generator or other jobs.",
        "",
        f"Machine: {os.cpu_count()} cores shared with other jobs; /proc/loadavg at start {load[0]}, at end {load[1]}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--idle", action="store_true", help="only the idle-CPU-vs-history rows")
    parser.add_argument("--sustained", action="store_true", help="only the sustained-rate steps")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=list(SUSTAINED_RATES),
        help="offered requests/s of the sustained steps, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--stream", type=int, default=SUSTAINED_REQUESTS, help="requests per sustained step")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verinfer-bench-"))
    if args.sustained:
        load = Path("/proc/loadavg").read_text().strip()
        steps = sustained(args.rates, args.stream, work)
        load_end = Path("/proc/loadavg").read_text().strip()
        text = "# Node benchmark: sustained rate\n\n" + sustained_table(steps, (load, load_end))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "node-sustained.md").write_text(text)
        print(text)
        return
    if args.idle:
        text = "# Node benchmark: idle CPU\n\n" + idle_table([(h, idle(h, work)) for h in IDLE_HISTORIES])
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "node-idle.md").write_text(text)
        print(text)
        return
    runs = [
        run("30M gas", args.requests, 30_000_000, 256, work),
        run("1B gas", args.requests, 1_000_000_000, 256, work),
    ]
    single, batched = single_vs_batched(work)
    text = "# Node benchmark\n\n" + table(runs, single, batched)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "node.md").write_text(text)
    plot(runs, RESULTS / "node.png")
    print(text)
    print(f"written to {RESULTS / 'node.md'} and {RESULTS / 'node.png'}")


if __name__ == "__main__":
    main()
