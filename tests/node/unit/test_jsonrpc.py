"""JsonRpc's single calls and batches through httpx's MockTransport: one error model (every failure a ChainError
naming the method), reverts decoded by name, the client's timeout on every request, one connection reused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from eth_abi.abi import encode

from verinfer.chain.jsonrpc import MAX_RAW_POST_CHARS, NO_RESPONSE, JsonRpc, RpcError, RpcTransportError
from verinfer.chain.revert import RevertDecoder
from verinfer.errors import ChainError, ContractRevert

URL = "http://127.0.0.1:8545"

pytestmark = pytest.mark.usefixtures("forge_build")


def client(answer: Any, seen: list[httpx.Request] | None = None, **options: Any) -> JsonRpc:
    def respond(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        body = json.loads(request.content)
        if isinstance(answer, httpx.Response):
            return answer
        if isinstance(body, list):
            return httpx.Response(200, json=[{"jsonrpc": "2.0", "id": c["id"], **answer(c)} for c in body])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], **answer(body)})

    return JsonRpc(URL, timeout=options.pop("timeout", 2.5), transport=httpx.MockTransport(respond), **options)


def test_a_call_returns_its_result_under_the_clients_timeout() -> None:
    seen: list[httpx.Request] = []
    with client(lambda c: {"result": "0x2a"}, seen, timeout=2.5) as rpc:
        assert rpc.block_number() == 42
        assert rpc.call("eth_getBalance", "0xabc", "latest") == "0x2a"
    assert [json.loads(r.content)["method"] for r in seen] == ["eth_blockNumber", "eth_getBalance"]
    assert json.loads(seen[1].content)["params"] == ["0xabc", "latest"]
    assert all(r.extensions["timeout"]["read"] == 2.5 for r in seen)


def test_a_node_error_is_an_rpc_error_naming_the_method() -> None:
    answer = {"error": {"code": -32000, "message": "header not found"}}
    with client(lambda c: answer) as rpc, pytest.raises(RpcError) as raised:
        rpc.call("eth_getBlockByNumber", "0x1", False)
    assert (raised.value.method, raised.value.code, raised.value.message) == (
        "eth_getBlockByNumber",
        -32000,
        "header not found",
    )
    assert str(raised.value) == "eth_getBlockByNumber: header not found (code -32000)"
    assert isinstance(raised.value, ChainError)


def test_a_revert_is_decoded_by_name() -> None:
    decoder = RevertDecoder.for_system()
    # Error(string) with "nope": what a require with a message reverts with.
    data = "0x08c379a0" + encode(["string"], ["nope"]).hex()
    answer = {"error": {"code": 3, "message": "execution reverted", "data": data}}
    with client(lambda c: answer, decoder=decoder) as rpc, pytest.raises(ContractRevert) as raised:
        rpc.call("eth_estimateGas", {"to": "0x0"})
    assert raised.value.name == "Error"
    assert "nope" in str(raised.value)


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (httpx.Response(502, text="bad gateway"), "eth_chainId to http://127.0.0.1:8545: HTTP 502 Bad Gateway"),
        (httpx.Response(200, text="<html>"), "eth_chainId to http://127.0.0.1:8545: the answer is not JSON"),
        (httpx.Response(200, json=[1]), "eth_chainId to http://127.0.0.1:8545: the answer is not a JSON object"),
    ],
)
def test_a_failed_request_is_a_transport_error_naming_the_method(response: httpx.Response, problem: str) -> None:
    with client(response) as rpc, pytest.raises(RpcTransportError) as raised:
        rpc.chain_id()
    assert raised.value.method == "eth_chainId"
    assert problem in str(raised.value)


def test_an_unreachable_endpoint_is_a_transport_error() -> None:
    with JsonRpc("http://127.0.0.1:1", timeout=1) as rpc, pytest.raises(RpcTransportError) as raised:
        rpc.block_number()
    assert "eth_blockNumber to http://127.0.0.1:1 failed: ConnectError" in str(raised.value)


def test_a_batch_hands_back_each_result_or_its_error_in_order() -> None:
    def answer(call: dict[str, Any]) -> dict[str, Any]:
        if call["params"] == ["0x02"]:
            return {"error": {"code": -32001, "message": "unknown block"}}
        return {"result": None if call["params"] == ["0x03"] else {"number": call["params"][0]}}

    seen: list[httpx.Request] = []
    with client(answer, seen) as rpc:
        results = rpc.batch("eth_getBlockByNumber", [["0x01"], ["0x02"], ["0x03"]])
    assert len(seen) == 1
    assert results[0] == {"number": "0x01"}
    assert results[1] == RpcError("eth_getBlockByNumber", -32001, "unknown block")
    assert results[2] is None


def test_calls_of_different_methods_share_one_post_each_answer_named_by_its_method() -> None:
    def answer(call: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "eth_getBalance":
            return {"error": {"code": -32000, "message": "no state"}}
        return {"result": "0x7" if call["method"] == "eth_blockNumber" else {"hash": "0x01"}}

    seen: list[httpx.Request] = []
    with client(answer, seen) as rpc:
        results = rpc.calls(
            [("eth_blockNumber", []), ("eth_getBlockByNumber", ["0x7", False]), ("eth_getBalance", ["0xabc", "latest"])]
        )
        assert rpc.calls([]) == []
    assert len(seen) == 1
    assert [c["method"] for c in json.loads(seen[0].content)] == [
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getBalance",
    ]
    assert results[:2] == ["0x7", {"hash": "0x01"}]
    assert results[2] == RpcError("eth_getBalance", -32000, "no state")


def test_a_batch_item_without_an_answer_is_named() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"jsonrpc": "2.0", "id": 0, "result": "0x1"}])

    with JsonRpc(URL, timeout=1, transport=httpx.MockTransport(respond)) as rpc:
        first, second = rpc.batch("eth_getTransactionCount", [["0xa", "pending"], ["0xb", "pending"]])
    assert first == "0x1"
    assert isinstance(second, RpcError)
    assert (second.method, second.code) == ("eth_getTransactionCount", NO_RESPONSE)


def test_raw_transactions_go_in_posts_under_the_size_cap_results_in_order() -> None:
    # Seven 300,000-byte transactions (600,002 hex chars each) plus a small one: anvil refuses a body over 2 MiB
    # whole, so no POST may carry more than MAX_RAW_POST_CHARS of them, and one over the cap goes alone.
    raws = [bytes([i]) * 300_000 for i in range(7)] + [b"\x07", bytes([8]) * (MAX_RAW_POST_CHARS // 2 + 1)]

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        return {"result": "0x" + call["params"][0][2:4] * 32}

    seen: list[httpx.Request] = []
    with client(answer, seen) as rpc:
        items = rpc.send_raw_batch(raws)
    posts = [json.loads(request.content) for request in seen]
    assert [len(post) for post in posts] == [1, 1, 1, 1, 1, 1, 2, 1]
    assert all(sum(len(c["params"][0]) for c in post) <= MAX_RAW_POST_CHARS or len(post) == 1 for post in posts)
    assert [item.index for item in items] == list(range(9))
    assert [bytes(item.tx_hash or b"")[:1] for item in items] == [bytes([i]) for i in range(9)]


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        JsonRpc(URL, timeout=0)


# ------------------------------------------------------------------------------------------ transient failures


def flaky(faults: list[httpx.Response | Exception]) -> tuple[JsonRpc, list[float], list[httpx.Request]]:
    """A client whose first answers are `faults` (responses or transport errors raised), then a good one."""
    pauses: list[float] = []
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if faults:
            fault = faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return fault
        body = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x7"})

    rpc = JsonRpc(
        URL,
        timeout=1.0,
        transport=httpx.MockTransport(respond),
        retries=4,
        backoff_s=0.1,
        max_retry_after_s=2.0,
        sleep=pauses.append,
    )
    return rpc, pauses, seen


def test_html_pages_malformed_and_truncated_bodies_and_timeouts_are_retried_with_backoff() -> None:
    rpc, pauses, seen = flaky(
        [
            httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>"),
            httpx.Response(200, text='{"jsonrpc": "2.0", "id": 1, "result": "0x'),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        ]
    )
    assert rpc.block_number() == 7
    assert pauses == [0.1, 0.2, 0.4, 0.8]
    assert len(seen) == 5
    assert rpc.retried == 4


def test_a_429_waits_what_retry_after_asks_capped() -> None:
    rpc, pauses, _ = flaky(
        [
            httpx.Response(429, headers={"Retry-After": "1"}, text="slow down"),
            httpx.Response(429, headers={"Retry-After": "3600"}, text="slow down"),
        ]
    )
    assert rpc.block_number() == 7
    assert pauses == [1.0, 2.0]


def test_retries_are_capped_then_the_failure_is_named() -> None:
    rpc, pauses, seen = flaky([httpx.Response(503, text="<html>down</html>") for _ in range(10)])
    with pytest.raises(RpcTransportError, match=r"HTTP 503 .*after 4 retries"):
        rpc.block_number()
    assert len(seen) == 5
    assert len(pauses) == 4


def test_a_client_error_status_is_not_retried() -> None:
    rpc, pauses, seen = flaky([httpx.Response(401, text="bad key")])
    with pytest.raises(RpcTransportError, match="HTTP 401"):
        rpc.block_number()
    assert (len(seen), pauses) == (1, [])
