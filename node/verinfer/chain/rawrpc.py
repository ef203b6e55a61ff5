"""A lean JSON-RPC client for the node's hot paths: one keep-alive httpx connection, plain JSON in and out.

web3's provider stack (middleware, request and result formatters) costs ~5 ms of CPU for an eth_getBlockByNumber and
~0.3 ms per log of eth_getLogs; the node makes these calls every block, so it talks JSON-RPC itself there and keeps
web3 for everything else. Errors: transport and node errors raise `ChainError`; a revert (an error carrying revert
data) raises the decoded `ContractRevert`.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from verinfer.chain.rawbatch import redact
from verinfer.chain.revert import RevertDecoder, revert_data
from verinfer.errors import ChainError


class RawRpc:
    def __init__(self, url: str, *, timeout: float, decoder: RevertDecoder | None = None) -> None:
        self.url = url
        self.decoder = decoder
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, *params: Any) -> Any:
        """The `result` of one call; ChainError for transport and node errors, ContractRevert for a revert."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = self._http.post(self.url, json=payload)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainError(f"{method} to {redact(self.url)} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict):
            raise ChainError(f"{method} to {redact(self.url)}: the answer is not a JSON object")
        error = body.get("error")
        if error is not None:
            data = revert_data(error.get("data")) if isinstance(error, dict) else None
            if data and self.decoder is not None:
                raise self.decoder.decode(data)
            message = error.get("message") if isinstance(error, dict) else error
            raise ChainError(f"{method} failed: {message}")
        return body.get("result")

    # -- the calls the node makes every block ------------------------------------------------------------------------

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def block(self, number: int | str = "latest") -> dict[str, Any] | None:
        """The block header (no transactions) as JSON, or None if there is no such block."""
        tag = hex(number) if isinstance(number, int) else number
        found = self.call("eth_getBlockByNumber", tag, False)
        return found if isinstance(found, dict) else None

    def logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        found = self.call("eth_getLogs", query)
        if not isinstance(found, list):
            raise ChainError(f"eth_getLogs answered {type(found).__name__}, not a list")
        return found
