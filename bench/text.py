"""Text generation on this machine: the demo language model's tokens/s and the time to verify an answer by
regenerating it, per thread count and allowed optimisation level, plus whether every setting gave the same ids.

    .venv/bin/python bench/text.py [--steps 600] [--repeats 3]

Builds the demo bundle (verinfer.demo.text_model) in a temporary directory, prints Markdown tables and writes them
to bench/results/text.md, with a plot in bench/results/text.png. Then, on an anvil of its own: the whole-transaction
gas (receipt gasUsed) of a SINGLE text request as a function of the prompt's length and of its result as a function
of the answer's length (the demo model's answers: 4-byte count, 4 bytes per token id, the text), with the marginal
gas per byte of each.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from verinfer.chain import lottery
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import deploy
from verinfer.chain.events import EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.demo.text_model import ANSWER_PROMPTS, train, write_bundle
from verinfer.text.bundle import load_bundle
from verinfer.text.codec import encode_answer, encode_prompt
from verinfer.text.generate import load_generator
from verinfer.text.settings import ALLOWED_LEVELS
from verinfer.types import (
    FORMAT_BUNDLE,
    FORMAT_VARIABLE_INPUT,
    FORMAT_VARIABLE_OUTPUT,
    LENGTH_UP_TO,
    Mode,
    ModelId,
    ModelSpec,
    RequestParams,
)

RESULTS = Path(__file__).parent / "results" / "text.md"
PRICE = 10**16
ENV_HASH = Web3.keccak(text="env: onnxruntime cpu, 1 thread")
MAX_PROMPT = 2 + 1024
MAX_ANSWER = 4 + 256 * 7
PROMPT_LENGTHS = (1, 32, 128, 512, 1024)
ANSWER_TOKENS = (1, 8, 32, 64, 128, 256)


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares gas per byte over (bytes, gas) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


Points = list[tuple[int, int]]
"""(bytes, gas) pairs."""


def plot(rows: list[tuple[int, str, float]], requests: Points, results: Points, path: Path) -> None:
    """Tokens/s by runner setting (left) and gas by length (right), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{threads} thread{'s' if threads > 1 else ''}, {level}" for threads, level, _ in rows]
    left.bar(labels, [rate for _, _, rate in rows])
    left.set_ylabel("tokens/s (greedy, KV cache)")
    left.tick_params(axis="x", labelrotation=20)
    right.plot([n for n, _ in requests], [g for _, g in requests], "o-", label="request, by prompt bytes")
    right.plot([n for n, _ in results], [g for _, g in results], "s-", label="result, by answer bytes")
    right.set_xlabel("bytes")
    right.set_ylabel("gas (whole transaction)")
    right.legend()
    fig.suptitle("verinfer: the demo language model on this machine, and gas of text on chain")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def gas_points() -> tuple[Points, Points]:
    """Gas of text requests and results by length, on a fresh anvil with one staked node."""
    with Anvil.start() as anvil:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system()
        deployer, node, user = (
            TxSender(w3, Account.from_key(anvil.accounts[i].private_key), decoder) for i in range(3)
        )
        system = System.bind(deployer, deploy(deployer))
        model_id = Web3.keccak(text="bundle manifest of the gas benchmark's text model")
        spec = ModelSpec(
            uri="http://models.example/zen/",
            input_shape=(MAX_PROMPT,),
            output_shape=(MAX_ANSWER,),
            scale=1,
            price=PRICE,
            modes=Mode.mask([Mode.SINGLE, Mode.CONSENSUS]),
            format=FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE,
        )
        system.register_model(model_id, spec)
        system.as_sender(node).register_node(ENV_HASH, [model_id], 2 * 10**18)
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [1])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        hub_user, hub_node = system.as_sender(user).hub, system.as_sender(node).hub
        requested = EventCodec.from_abi(system.hub.abi, "InferenceRequested")

        def request(prompt: bytes) -> tuple[int, RequestParams, int]:
            deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
            receipt = user.send(
                hub_user.functions.requestInference(model_id, prompt, int(Mode.SINGLE), 1, 0, deadline), value=PRICE
            )
            (log,) = requested.decode_all(receipt["logs"])
            params = RequestParams(
                model_id=ModelId(model_id),
                input_hash=Web3.keccak(prompt),
                requester=user.address,
                fee=PRICE,
                deadline=deadline,
                callback_gas_limit=0,
                output_bytes=MAX_ANSWER | LENGTH_UP_TO,
                mode=Mode.SINGLE,
                redundancy=1,
                env_restricted=False,
                lottery=int(log.args["lottery"]),
            )
            return int(log.args["requestId"]), params, int(receipt["gasUsed"])

        def submit(request_id: int, params: RequestParams, answer: bytes) -> int:
            opens = lottery.Lottery.unpack(params.lottery).opens_to_all_at
            now = int(w3.eth.get_block("latest")["timestamp"])
            if opens >= now:
                w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [opens - now + 1])
                w3.provider.make_request(RPCEndpoint("evm_mine"), [])
            receipt = node.send(hub_node.functions.submitResult(request_id, params.as_abi(), answer))
            return int(receipt["gasUsed"])

        submit(*request(encode_prompt("warm-up"))[:2], encode_answer([1], "x"))  # counters and balances non-zero
        requests = []
        for length in PROMPT_LENGTHS:
            prompt = encode_prompt("a" * (length - 2) if length > 2 else "", 0)[:length]
            requests.append((len(prompt), request(prompt)[2]))
        results = []
        for tokens in ANSWER_TOKENS:
            answer = encode_answer([ord("b")] * tokens, "b" * tokens)
            request_id, params, _ = request(encode_prompt("Beautiful is"))
            results.append((len(answer), submit(request_id, params, answer)))
    return requests, results


def gas_rows(requests: Points, results: Points) -> list[str]:
    return [
        "",
        "Gas of a SINGLE text request (`requestInference`, EOA, no callback) by prompt length, and of its result "
        "(`submitResult`) by answer length (byte-level tokens: 4 + 5 bytes per token), whole transaction:",
        "",
        "| what | bytes | gas |",
        "| --- | --- | --- |",
        *(f"| request | {n:,} | {gas:,} |" for n, gas in requests),
        *(f"| result ({(n - 4) // 5} tokens) | {n:,} | {gas:,} |" for n, gas in results),
        "",
        f"Marginal gas: {_slope(requests):.1f} per prompt byte, {_slope(results):.1f} per answer byte "
        f"({5 * _slope(results):.0f} per byte-level token): calldata (16 per non-zero byte), the event's data "
        "(8 per byte), keccak and memory copies.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trained = train(args.steps)
        write_bundle(tmp, trained)
        size = (Path(tmp) / "decoder.onnx").stat().st_size
        bundle = load_bundle(tmp)
        rows, reference, rates = [], None, []
        for threads in (1, 2):
            for level in ALLOWED_LEVELS:
                generator = load_generator(bundle, intra_op_threads=threads, graph_optimization_level=level)
                best, answers = float("inf"), []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    answers = [generator.generate(p) for p in ANSWER_PROMPTS]
                    best = min(best, time.perf_counter() - started)
                tokens = sum(len(a.token_ids) for a in answers)
                ids = [a.token_ids for a in answers]
                reference = reference or ids
                rates.append((threads, level, tokens / best))
                rows.append(
                    f"| {threads} | {level} | {tokens / best:,.0f} | {1000 * best / len(answers):.1f} "
                    f"| {tokens / len(answers):.1f} | {'yes' if ids == reference else 'NO'} |"
                )
    lines = [
        f"Demo language model: {size:,} bytes, trained {args.steps} steps in {trained.seconds:.1f} s "
        f"(next-byte accuracy {trained.accuracy:.3f}); {len(ANSWER_PROMPTS)} prompts, best of {args.repeats}; "
        f"{platform.processor() or platform.machine()}, onnxruntime CPU.",
        "",
        "| threads | level | tokens/s | verify (regenerate) ms/answer | tokens/answer | same ids |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    requests, results = gas_points()
    lines += gas_rows(requests, results)
    figure = RESULTS.with_name("text.png")
    lines += ["", f"![tokens/s and gas by length]({figure.name})"]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    plot(rates, requests, results, figure)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
