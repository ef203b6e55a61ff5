"""An HTTP JSON-RPC proxy that answers a share of the requests with the faults real providers and their load
balancers produce: an HTML 502 page, malformed JSON, a truncated body, 429 with Retry-After, an answer slower than
the client's timeout. The rest (and the slow ones, late) are forwarded to the real node."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

FAULTS = ("html502", "malformed", "truncated", "429", "slow")


class FaultProxy:
    """`rate` of the POSTs (0 until `enable`) get one of `FAULTS`, in turn; `faults` counts what was injected."""

    def __init__(
        self, target: str, *, rate: float = 0.15, slow_s: float = 1.5, seed: int = 7, kinds: tuple[str, ...] = FAULTS
    ) -> None:
        self.target = target
        self.kinds = kinds
        self.rate = 0.0
        self._wanted_rate = rate
        self.slow_s = slow_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._turn = 0
        self.faults: Counter[str] = Counter()
        self.forwarded = 0
        proxy = self
        upstream = httpx.Client(timeout=30)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                fault = proxy._pick()
                if fault == "html502":
                    self._send(
                        502, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "text/html"
                    )
                elif fault == "malformed":
                    self._send(200, b'{"jsonrpc": "2.0", "id": 1, "result": "0x', "application/json")
                elif fault == "429":
                    self._send(429, b'{"error": "rate limited"}', "application/json", {"Retry-After": "1"})
                else:
                    if fault == "slow":
                        time.sleep(proxy.slow_s)
                    answer = upstream.post(proxy.target, content=body, headers={"content-type": "application/json"})
                    with proxy._lock:
                        proxy.forwarded += 1
                    if fault == "truncated":  # announce the whole body, send half, hang up
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(answer.content)))
                        self.end_headers()
                        self.wfile.write(answer.content[: len(answer.content) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self._send(answer.status_code, answer.content, "application/json")

            def _send(self, code: int, data: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._upstream = upstream

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def enable(self) -> None:
        self.rate = self._wanted_rate

    def disable(self) -> None:
        self.rate = 0.0

    def _pick(self) -> str | None:
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            fault = self.kinds[self._turn % len(self.kinds)]
            self._turn += 1
            self.faults[fault] += 1
            return fault

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()
