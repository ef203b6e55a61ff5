"""The explorer's web application: the static page at `/`, its bundle and onnxruntime-web's WASM under `/static`,
and a JSON API under `/api` (a convenience for the page's lists; the page's check does not use it).

    GET /api/config                    where the chain is: {"rpcUrl", "chainId", "contracts", "hubBlock"}
    GET /api/summary                   head block, counts
    GET /api/requests?limit=50         newest first: {"requests": [{requestId, mode, model, status, nodes, ...}]}
    GET /api/requests/{id}             one request: input, output, commitments, votes, proof, events, verdict
    GET /api/models/{id}               a model: spec, terms, serving nodes, requests
    GET /api/models/{id}/file          the model's bytes, for file:// URIs under the allowed directories only
    GET /api/nodes/{address}           a node: bond, environment, models, results, votes
    GET /healthz                       200 once the app answers

Every error is JSON `{"error": "..."}` naming the problem. Model bytes are only ever served after their keccak256
was checked against the id, and only from directories the operator allowed: a URI on chain is chosen by whoever
registered the model, so the server never reads an arbitrary path, and never fetches an http(s) URI for anyone
(the page does that itself).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from eth_utils.crypto import keccak
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from verinfer.errors import VerinferError
from verinfer.explorer.index import ChainIndex
from verinfer.types import MAX_MODEL_BYTES

mimetypes.add_type("application/wasm", ".wasm")  # compileStreaming insists on it
mimetypes.add_type("text/javascript", ".mjs")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_LIMIT = 500

MISSING_BUNDLE = """<!doctype html><meta charset="utf-8"><title>verinfer explorer</title>
<h1>verinfer explorer</h1><p>The page's bundle is not built. Run <code>npm --prefix js run build:explorer</code>
(<code>scripts/setup.sh</code> does) and reload. The JSON API answers under <a href="/api/summary">/api</a>.</p>
"""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _model_id(text: str) -> bytes | None:
    raw = text.removeprefix("0x")
    if len(raw) != 64:
        return None
    try:
        return bytes.fromhex(raw)
    except ValueError:
        return None


def create_app(
    index: ChainIndex,
    *,
    rpc_url: str,
    model_dirs: Sequence[Path] = (),
    static_dir: Path = STATIC_DIR,
) -> Starlette:
    """The application over `index`. `rpc_url` is the endpoint the page is told to read (the user may change it);
    `model_dirs` are the directories whose file:// models the server may hand out."""
    roots = tuple(d.resolve() for d in model_dirs)

    async def call(fn: Any, *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    async def home(request: Request) -> Response:
        page = static_dir / "index.html"
        if not page.is_file():
            return HTMLResponse(MISSING_BUNDLE, status_code=503)
        return FileResponse(page, headers={"cache-control": "no-store"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def config(request: Request) -> Response:
        summary = await call(index.summary)
        return JSONResponse(
            {
                "rpcUrl": rpc_url,
                "chainId": summary["chainId"],
                "contracts": summary["contracts"],
                "hubBlock": summary["hubBlock"],
            }
        )

    async def summary(request: Request) -> Response:
        return JSONResponse(await call(index.summary))

    async def requests(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            return _error(400, f"limit must be an integer, got {request.query_params.get('limit')!r}")
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, f"limit must be 1 to {MAX_LIMIT}, got {limit}")
        rows = await call(index.requests, limit)
        return JSONResponse({"head": index.head, "requests": rows})

    async def request_detail(request: Request) -> Response:
        request_id = int(request.path_params["request_id"])
        document = await call(index.request, request_id)
        if document is None:
            return _error(404, f"no request {request_id} on hub {index.system.hub.address}")
        return JSONResponse(document)

    async def lookup_model(request: Request, fetch: Any) -> tuple[bytes, Any] | JSONResponse:
        """The path's model id and `fetch(id)`, or the 400 / 404 answer naming what is wrong."""
        model_id = _model_id(request.path_params["model_id"])
        if model_id is None:
            return _error(400, "a model id is 0x + 64 hex digits (keccak256 of the ONNX file)")
        found = await call(fetch, model_id)
        if found is None:
            return _error(404, f"no model 0x{model_id.hex()} in registry {index.system.models.address}")
        return model_id, found

    async def model(request: Request) -> Response:
        looked_up = await lookup_model(request, index.model)
        if isinstance(looked_up, JSONResponse):
            return looked_up
        return JSONResponse(looked_up[1])

    async def model_file(request: Request) -> Response:
        looked_up = await lookup_model(request, index.model_uri)
        if isinstance(looked_up, JSONResponse):
            return looked_up
        model_id, uri = looked_up
        found = _allowed_file(uri, roots)
        if isinstance(found, str):
            return _error(403, found)
        data = await call(_read_checked, found, model_id)
        if isinstance(data, str):
            return _error(409, data)
        return Response(data, media_type="application/octet-stream", headers={"cache-control": "no-store"})

    async def node(request: Request) -> Response:
        document = await call(index.node, request.path_params["address"])
        if document is None:
            return _error(404, f"no node {request.path_params['address']} in registry {index.system.nodes.address}")
        return JSONResponse(document)

    async def failed(request: Request, exc: Exception) -> Response:
        return _error(502, f"reading the chain failed: {exc}")

    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/api/config", config),
        Route("/api/summary", summary),
        Route("/api/requests", requests),
        Route("/api/requests/{request_id:int}", request_detail),
        Route("/api/models/{model_id}", model),
        Route("/api/models/{model_id}/file", model_file),
        Route("/api/nodes/{address}", node),
        Mount("/static", app=StaticFiles(directory=static_dir, check_dir=False), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={VerinferError: failed})


def _allowed_file(uri: str, roots: Sequence[Path]) -> Path | str:
    """The local file a file:// URI names when it lies under one of `roots`; otherwise why it is not served."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return f"the model's URI is {uri}: the page fetches http(s) URIs itself; this server only serves file:// models"
    path = Path(unquote(parsed.path)).resolve()
    if not any(path.is_relative_to(root) for root in roots):
        return (
            f"{path} is outside the directories this explorer serves models from "
            "(`verinfer explorer --model-dir DIR`); open the file in the page instead"
        )
    return path


def _read_checked(path: Path, model_id: bytes) -> bytes | str:
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            return f"{path} is {size} bytes, over the {MAX_MODEL_BYTES}-byte limit"
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if keccak(data) != model_id:
        return f"the file at {path} hashes to 0x{keccak(data).hex()}, not the model id 0x{model_id.hex()}"
    return data
