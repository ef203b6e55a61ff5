"""The one JSON-RPC client for the node's hot paths and bulk sends: one keep-alive httpx connection per URL, plain
JSON in and out, single calls and batches (web3's `batch_requests` refuses eth_sendRawTransaction).

    rpc = JsonRpc(url, timeout=10, decoder=RevertDecoder.for_system())
    head = rpc.block_number()                                          # one call
    receipts = rpc.batch("eth_getTransactionReceipt", [[h] for h in hashes])   # one POST, results in order
    for item in rpc.send_raw_batch(raws):                              # POSTs under a size cap, in order
        item.tx_hash or item.error

web3's provider stack (middleware, request and result formatters) costs ~5 ms of CPU for an eth_getBlockByNumber and
~0.3 ms per log of eth_getLogs; the node makes these calls every block, so it talks JSON-RPC itself.

One error model, every failure a `ChainError` naming the method, every call under the client's timeout:
  * `RpcTransportError`: the request as a whole failed (transport, HTTP status, an answer that is not JSON or not
    the shape asked for); nothing is known about what the node did;
  * `RpcError`: the node answered with an error object (code, message, data);
  * `ContractRevert` (from the decoder, when the client has one): an error carrying revert data, by name.
`call` raises them; `batch` and `send_raw_batch` raise `RpcTransportError` for the whole request and hand back an
`RpcError` value per failed item. Providers cap batch sizes (often 100 to 1,000): chunk above that.

A request that fails as a whole for a reason that may pass (connection refused or cut, timeout, HTTP 429/5xx, an
HTML error page, a malformed or truncated body) is retried: up to `retries` more times, after a pause that starts at
`backoff_s` and doubles, or what a 429's `Retry-After` asks (capped at `max_retry_after_s`). Then it raises. Sending
a raw transaction twice is harmless: the node answers the copy with "already known" or "nonce too low".
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from hexbytes import HexBytes

from verinfer.chain.revert import RevertDecoder, revert_data
from verinfer.errors import ChainError

# Codes for problems found here rather than reported by the node; JSON-RPC reserves -32768..-32000 for servers.
NO_RESPONSE = -1
BAD_RESPONSE = -2

_SNIPPET = 200
RETRIES = 3
BACKOFF_S = 0.1
MAX_RETRY_AFTER_S = 5.0
# Hex characters of raw transactions per eth_sendRawTransaction POST: servers cap request bodies (anvil at 2 MiB,
# refusing a larger batch whole with -32600, so a node whose pending batches outgrew it re-sent them forever).
MAX_RAW_POST_CHARS = 1_000_000
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class RpcTransportError(ChainError):
    """A JSON-RPC request failed as a whole (transport, HTTP status, malformed answer)."""

    def __init__(self, method: str, message: str) -> None:
        self.method = method
        super().__init__(message)


class RpcError(ChainError):
    """A JSON-RPC error object for one call, or one of `NO_RESPONSE` / `BAD_RESPONSE` when a batch answer was at
    fault for that item."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{method}: {message} (code {code})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RpcError) and (self.method, self.code, self.message, self.data) == (
            other.method,
            other.code,
            other.message,
            other.data,
        )

    def __hash__(self) -> int:
        return hash((self.method, self.code, self.message))


@dataclass(frozen=True)
class BatchItemResult:
    """What the node said about `raws[index]` of a `send_raw_batch`: exactly one of `tx_hash` and `error` is set."""

    index: int
    tx_hash: HexBytes | None = None
    error: RpcError | None = None

    def __post_init__(self) -> None:
        if (self.tx_hash is None) == (self.error is None):
            raise ValueError("a batch item has exactly one of tx_hash and error")

    @property
    def ok(self) -> bool:
        return self.error is None


class JsonRpc:
    """A JSON-RPC client for one URL. `transport` replaces the network (httpx's `MockTransport` in tests)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        decoder: RevertDecoder | None = None,
        transport: httpx.BaseTransport | None = None,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if retries < 0 or backoff_s < 0 or max_retry_after_s < 0:
            raise ValueError(
                f"retries ({retries}), backoff_s ({backoff_s}) and max_retry_after_s ({max_retry_after_s}) "
                "must not be negative"
            )
        self.url = url
        self.timeout = timeout
        self.decoder = decoder
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self.retried = 0
        """How many requests were sent again after a transient failure (for metrics and tests)."""
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------- calls

    def call(self, method: str, *params: Any) -> Any:
        """The `result` of one call; `RpcTransportError`, `RpcError` or the decoded `ContractRevert` if it fails."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        body = self._post(method, payload, f"{method} to {redact(self.url)}")
        if not isinstance(body, dict):
            raise RpcTransportError(method, f"{method} to {redact(self.url)}: the answer is not a JSON object")
        error = body.get("error")
        if error is not None:
            raise self._error(method, error)
        return body.get("result")

    def batch(self, method: str, params: Sequence[Sequence[object]]) -> list[Any]:
        """One POST calling `method` once per entry of `params`; each call's `result` (any JSON value, None
        included) or its `RpcError` (a revert decoded as `ContractRevert` when the client has a decoder), in the
        order of `params`. Hundreds of receipts take one round trip instead of hundreds."""
        return self.calls([(method, p) for p in params])

    def calls(self, calls: Sequence[tuple[str, Sequence[object]]]) -> list[Any]:
        """`batch` for calls of different methods, (method, params) each: one POST, each call's result or its
        `RpcError` in order. Calls whose order does not matter (the server may run a batch's calls in any order)."""
        if not calls:
            return []
        methods = [method for method, _ in calls]
        answers = self._batch_answers(methods, [list(p) for _, p in calls])
        results: list[Any] = []
        for i, method in enumerate(methods):
            found = answers.get(i, [])
            if not found:
                results.append(RpcError(method, NO_RESPONSE, f"no answer for {method} #{i} in the batch"))
            elif len(found) > 1:
                results.append(RpcError(method, BAD_RESPONSE, f"{len(found)} answers for one request"))
            elif (error := found[0].get("error")) is not None:
                results.append(self._error(method, error))
            else:
                results.append(found[0].get("result"))
        return results

    def send_raw_batch(self, raws: Sequence[bytes]) -> list[BatchItemResult]:
        """eth_sendRawTransaction per signed transaction, in POSTs of at most MAX_RAW_POST_CHARS of hex (one
        larger transaction goes alone), in order; one result per transaction, in order. A transaction without an
        answer, or with one that is neither a hash nor an error object, gets an error item (`NO_RESPONSE`,
        `BAD_RESPONSE`)."""
        method = "eth_sendRawTransaction"
        chunks: list[list[list[object]]] = []
        size = 0
        for raw in raws:
            text = "0x" + bytes(raw).hex()
            if not chunks or size + len(text) > MAX_RAW_POST_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append([text])
            size += len(text)
        results = [result for chunk in chunks for result in self.batch(method, chunk)]
        items = []
        for i, result in enumerate(results):
            if isinstance(result, RpcError):
                items.append(BatchItemResult(i, error=result))
            elif isinstance(result, ChainError):  # a decoded revert: the node refused to pool it
                items.append(BatchItemResult(i, error=RpcError(method, BAD_RESPONSE, str(result))))
            elif _is_hash(result):
                items.append(BatchItemResult(i, tx_hash=HexBytes(result)))
            else:
                items.append(
                    BatchItemResult(
                        i, error=RpcError(method, BAD_RESPONSE, f"not a transaction hash: {_snippet(repr(result))}")
                    )
                )
        return items

    # -------------------------------------------------------------------------------- the calls made every block

    def block_number(self) -> int:
        return _int(self.call("eth_blockNumber"), "eth_blockNumber")

    def chain_id(self) -> int:
        return _int(self.call("eth_chainId"), "eth_chainId")

    def block(self, number: int | str = "latest") -> dict[str, Any] | None:
        """The block header (no transactions) as JSON, or None if there is no such block."""
        tag = hex(number) if isinstance(number, int) else number
        found = self.call("eth_getBlockByNumber", tag, False)
        return found if isinstance(found, dict) else None

    def logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        found = self.call("eth_getLogs", query)
        if not isinstance(found, list):
            raise RpcTransportError("eth_getLogs", f"eth_getLogs answered {type(found).__name__}, not a list")
        return found

    def pending_nonce(self, address: str) -> int:
        return _int(self.call("eth_getTransactionCount", address, "pending"), "eth_getTransactionCount")

    # --------------------------------------------------------------------------------------------- internals

    def _error(self, method: str, error: object) -> ChainError:
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            return RpcError(method, BAD_RESPONSE, f"malformed error object: {_snippet(repr(error))}")
        data = revert_data(error.get("data"))
        if data and self.decoder is not None:
            return self.decoder.decode(data)
        return RpcError(method, error["code"], str(error.get("message")), error.get("data"))

    def _batch_answers(self, methods: list[str], params: list[list[object]]) -> dict[int, list[dict[str, Any]]]:
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in enumerate(zip(methods, params, strict=True))
        ]
        named = sorted(set(methods))
        method = named[0] if len(named) == 1 else "+".join(named)
        where = f"batch of {len(payload)} {method} calls to {redact(self.url)}"
        body = self._post(method, payload, where)
        if not isinstance(body, list):
            error = body.get("error") if isinstance(body, dict) else None
            detail = f"the node refused the batch: {self._scrub(str(error))}" if error is not None else None
            raise RpcTransportError(
                method, f"{where}: the answer is not a JSON array ({detail or _snippet(json.dumps(body))})"
            )
        by_id: dict[int, list[dict[str, Any]]] = {}
        for answer in body:
            if isinstance(answer, dict):
                answer_id = answer.get("id")
                if isinstance(answer_id, int) and not isinstance(answer_id, bool) and 0 <= answer_id < len(params):
                    by_id.setdefault(answer_id, []).append(answer)
            # An answer that names no request of ours cannot be attributed; its request reads as unanswered.
        return by_id

    def _post(self, method: str, payload: object, where: str) -> Any:
        """The decoded JSON answer, retried (capped) while the failure may pass."""
        pause = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return self._post_once(method, payload, where)
            except _Transient as exc:
                if attempt == self.retries:
                    suffix = f" (after {self.retries} retries)" if self.retries else ""
                    raise RpcTransportError(method, str(exc) + suffix) from exc.__cause__
                wait = pause if exc.retry_after is None else min(exc.retry_after, self.max_retry_after_s)
                self.retried += 1
                self._sleep(wait)
                pause *= 2
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _post_once(self, method: str, payload: object, where: str) -> Any:
        try:
            response = self._http.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            problem = self._scrub(str(exc)) or "no detail"
            raise _Transient(f"{where} failed: {type(exc).__name__}: {problem}") from exc
        if response.status_code != 200:
            message = (
                f"{where}: HTTP {response.status_code} {response.reason_phrase}: {_snippet(self._scrub(response.text))}"
            )
            if response.status_code in _RETRY_STATUSES:
                raise _Transient(message, _retry_after(response.headers.get("retry-after")))
            raise RpcTransportError(method, message)
        try:
            return response.json()
        except ValueError as exc:  # not JSON: an HTML page from a proxy, a truncated body
            raise _Transient(f"{where}: the answer is not JSON: {_snippet(self._scrub(response.text))}") from exc

    def _scrub(self, text: str) -> str:
        """`text` with the URL redacted, and its password, path and query too, in whatever form a library quoted
        them."""
        text = text.replace(self.url, redact(self.url))
        parts = urlsplit(self.url)
        for secret in (parts.password, parts.path if parts.path.strip("/") else None, parts.query):
            if secret:
                text = text.replace(secret, "…")
        return text


class _Transient(Exception):  # noqa: N818 - a private signal: this attempt failed in a way that may pass
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (an HTTP date is treated as absent)."""
    if value is None:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


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


def _is_hash(value: object) -> bool:
    if not (isinstance(value, str) and value.startswith("0x") and len(value) == 66):
        return False
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        return False
    return True


def _int(value: object, method: str) -> int:
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcTransportError(method, f"{method} answered {_snippet(repr(value))}, not a hex quantity")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"
