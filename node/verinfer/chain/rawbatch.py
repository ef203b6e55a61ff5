"""Sends many signed transactions in one JSON-RPC batch request (web3's `batch_requests` refuses
eth_sendRawTransaction).

    raws = sign_many(account, txs)                          # each with its own nonce, e.g. from NonceManager
    for item in send_raw_batch(rpc_url, raws, timeout=10):  # one HTTP round trip, results in the order of `raws`
        item.tx_hash or item.error                          # HexBytes, or RpcError(code, message, data)

A problem with the whole request (transport, HTTP status, a body that is not a JSON array) raises `ChainError`; a
problem with one transaction is that item's `error`. Providers cap batch sizes (often 100 to 1,000): chunk above that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from verinfer.errors import ChainError

# Codes for problems found here rather than reported by the node; JSON-RPC reserves -32768..-32000 for servers.
NO_RESPONSE = -1
BAD_RESPONSE = -2

_SNIPPET = 200


@dataclass(frozen=True)
class RpcError:
    """A JSON-RPC error object, or one of `NO_RESPONSE` / `BAD_RESPONSE` when the batch answer was at fault."""

    code: int
    message: str
    data: object = None

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


@dataclass(frozen=True)
class BatchItemResult:
    """What the node said about `raw_txs[index]`: exactly one of `tx_hash` and `error` is set."""

    index: int
    tx_hash: HexBytes | None = None
    error: RpcError | None = None

    def __post_init__(self) -> None:
        if (self.tx_hash is None) == (self.error is None):
            raise ValueError("a batch item has exactly one of tx_hash and error")

    @property
    def ok(self) -> bool:
        return self.error is None


def sign_many(account: LocalAccount, txs: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Signs each transaction dict (nonce, gas and fees included) and returns the raw transactions in order.

    eth-account signs through coincurve when it is installed (a verinfer dependency), about 20x faster than the
    pure-Python fallback.
    """
    return [bytes(account.sign_transaction(dict(tx)).raw_transaction) for tx in txs]


def send_raw_batch(
    rpc_url: str, raw_txs: Sequence[bytes], *, timeout: float, client: httpx.Client | None = None
) -> list[BatchItemResult]:
    """Posts one JSON-RPC batch of eth_sendRawTransaction calls and returns one result per transaction, in order.

    Request ids are the indexes into `raw_txs`; answers may come in any order. A transaction without an answer, or
    with an answer that is neither a hash nor an error object, gets an error item (`NO_RESPONSE`, `BAD_RESPONSE`).
    """
    if not raw_txs:
        return []
    payload = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + bytes(raw).hex()]}
        for i, raw in enumerate(raw_txs)
    ]
    body = _post(rpc_url, payload, timeout, client)
    by_id: dict[int, list[dict[str, Any]]] = {}
    for answer in body:
        if isinstance(answer, dict):
            answer_id = answer.get("id")
            if isinstance(answer_id, int) and not isinstance(answer_id, bool) and 0 <= answer_id < len(raw_txs):
                by_id.setdefault(answer_id, []).append(answer)
        # An answer that names no request of ours cannot be attributed; its request reads as unanswered.
    return [_item(i, by_id.get(i, [])) for i in range(len(raw_txs))]


def call_batch(
    rpc_url: str,
    method: str,
    params: Sequence[Sequence[object]],
    *,
    timeout: float,
    client: httpx.Client | None = None,
) -> list[object]:
    """Posts one JSON-RPC batch calling `method` once per entry of `params`; returns each call's `result` (any JSON
    value, None included) or an `RpcError`, in the order of `params`. Reads such as eth_getTransactionReceipt for
    hundreds of transactions take one round trip instead of hundreds."""
    if not params:
        return []
    payload = [{"jsonrpc": "2.0", "id": i, "method": method, "params": list(p)} for i, p in enumerate(params)]
    answers: dict[int, dict[str, Any]] = {}
    for answer in _post(rpc_url, payload, timeout, client):
        if isinstance(answer, dict) and isinstance(answer.get("id"), int) and 0 <= answer["id"] < len(params):
            answers[answer["id"]] = answer
    results: list[object] = []
    for i in range(len(params)):
        answer = answers.get(i)
        if answer is None:
            results.append(RpcError(NO_RESPONSE, f"no answer for {method} #{i} in the batch"))
        elif (error := answer.get("error")) is not None:
            ok = isinstance(error, dict) and isinstance(error.get("code"), int)
            results.append(
                RpcError(error["code"], str(error.get("message")), error.get("data"))
                if ok
                else RpcError(BAD_RESPONSE, f"malformed error object: {_snippet(repr(error))}")
            )
        else:
            results.append(answer.get("result"))
    return results


def _post(rpc_url: str, payload: list[dict[str, Any]], timeout: float, client: httpx.Client | None) -> list[object]:
    where = redact(rpc_url)
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                response = own.post(rpc_url, json=payload)
        else:
            response = client.post(rpc_url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        problem = _scrub(str(exc), rpc_url) or "no detail"
        raise ChainError(
            f"batch of {len(payload)} JSON-RPC calls to {where} failed: {type(exc).__name__}: {problem}"
        ) from exc

    def said() -> str:
        return _snippet(_scrub(response.text, rpc_url))

    if response.status_code != 200:
        raise ChainError(
            f"batch of {len(payload)} JSON-RPC calls to {where}: HTTP {response.status_code} "
            f"{response.reason_phrase}: {said()}"
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ChainError(f"batch to {where}: the answer is not JSON: {said()}") from exc
    if not isinstance(body, list):
        error = body.get("error") if isinstance(body, dict) else None
        detail = f"the node refused the batch: {_scrub(str(error), rpc_url)}" if error is not None else said()
        raise ChainError(f"batch to {where}: the answer is not a JSON array ({detail})")
    return body


def _item(index: int, answers: list[dict[str, Any]]) -> BatchItemResult:
    if not answers:
        return BatchItemResult(index, error=RpcError(NO_RESPONSE, "no answer for this transaction in the batch"))
    if len(answers) > 1:
        return BatchItemResult(index, error=RpcError(BAD_RESPONSE, f"{len(answers)} answers for one request"))
    answer = answers[0]
    error = answer.get("error")
    if error is not None:
        if isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("message"), str):
            return BatchItemResult(index, error=RpcError(error["code"], error["message"], error.get("data")))
        return BatchItemResult(index, error=RpcError(BAD_RESPONSE, f"malformed error object: {_snippet(repr(error))}"))
    result = answer.get("result")
    if isinstance(result, str) and result.startswith("0x") and len(result) == 66:
        try:
            return BatchItemResult(index, tx_hash=HexBytes(result))
        except ValueError:
            pass  # not hex: reported below
    return BatchItemResult(index, error=RpcError(BAD_RESPONSE, f"not a transaction hash: {_snippet(repr(result))}"))


def redact(url: str) -> str:
    """`url` without credentials, path or query (where providers put API keys): scheme://host[:port]/…"""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port that is not a number
        port = ""
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _scrub(text: str, url: str) -> str:
    """`text` with `url` redacted, and its password, path and query too, in whatever form a library quoted them."""
    text = text.replace(url, redact(url))
    parts = urlsplit(url)
    for secret in (parts.password, parts.path if parts.path.strip("/") else None, parts.query):
        if secret:
            text = text.replace(secret, "…")
    return text


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"
