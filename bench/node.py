"""The node under a flood: 2,000 requests for the demo credit model, served by one node, on anvil with 1-second
blocks. Two runs: a 30M block gas limit (results/s against the gas bound) and a lifted limit (1B: the node's own
speed). Plus the gas of one result delivered alone vs batched.

    .venv/bin/python bench/node.py [--requests 2000]

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
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import deploy, save_deployment
from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.tx import TxSender, connect
from verinfer.sdk import Client
from verinfer.sdk.bulk import request_many, send_signed, sign_requests
from verinfer.types import Mode

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


def _wait_results(w3: Any, hub: str, ids: set[int], timeout: float) -> dict[int, tuple[int, str]]:
    """request id => (block, tx hash) of its ResultSubmitted, once all of `ids` have one. Reads raw logs and their
    topics only, so the waiting (in this process) takes next to no CPU from the node's thread."""
    client = JsonRpc(str(w3.provider.endpoint_uri), timeout=30)
    topic0 = "0x" + EventCodec.from_abi(load_artifact("InferenceHub").abi, "ResultSubmitted").topic.hex()
    found: dict[int, tuple[int, str]] = {}
    deadline = time.monotonic() + timeout
    from_block = 0
    try:
        while len(found) < len(ids):
            if time.monotonic() > deadline:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--idle", action="store_true", help="only the idle-CPU-vs-history rows")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verinfer-bench-"))
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
