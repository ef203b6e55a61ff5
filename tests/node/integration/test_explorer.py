"""The verification explorer on a real devnet (two nodes running the node service, the demo models, a ZK model),
its JSON API, and its page in Debian's chromium driven headless by Playwright: the list, an honest SINGLE result
checked in the browser, a lying node's result shown as a mismatch, CONSENSUS and ZK pages, and a result where the
browser's WASM arithmetic differs from native onnxruntime's (the page must say so and not claim an exact check).

One devnet and one browser for the whole module. The lying node is a spare dev account, staked and registered for a
model no honest node serves (a re-labelled copy of iris), that submits a wrong output straight through the hub.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from eth_account import Account
from web3 import Web3

from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.demo.models import build_credit_model, build_iris_model, build_regressor_model
from verinfer.devnet import Devnet, DevnetInfo
from verinfer.inference import codec
from verinfer.sdk import Client, InferenceResult
from verinfer.sdk.operator import Operator, environment_hash
from verinfer.types import ETHER, Mode, ModelId, RequestId, Status

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "node" / "verinfer" / "explorer" / "static"
CHROMIUM = Path("/usr/bin/chromium")
# As the workplace's probe runs it: without the background-networking flags chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000
WAIT_S = 120.0


def _wait(what: str, done: Any, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting to {what}")
        time.sleep(0.2)


def _ensure_bundle() -> None:
    """The page's bundle is built by scripts/setup.sh; a checkout without it builds it here (esbuild: a second)."""
    if not (STATIC / "explorer.js").is_file() or not (STATIC / "ort-wasm-simd-threaded.wasm").is_file():
        subprocess.run(["npm", "--prefix", str(ROOT / "js"), "run", "build:explorer"], check=True, timeout=300)


class World:
    """The devnet, its explorer and the actors of the tests."""

    def __init__(self, devnet: Devnet, work: Path) -> None:
        self.devnet = devnet
        self.info: DevnetInfo = devnet.info
        self.work = work
        assert self.info.explorer_url is not None, "the devnet should have started its explorer"
        self.url = self.info.explorer_url.rstrip("/")
        self.user = Client(self.info.rpc_url, self.info.user.private_key, self.info.deployment, cache_dir=work / "c")
        self.credit = build_credit_model(work / "models")
        self.iris = build_iris_model(work / "models")
        self.regressor = build_regressor_model(work / "models")
        self.liar_model: ModelId | None = None
        self.liar: System | None = None

    def api(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=30)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def request(self, model: str, row: Any, mode: Mode = Mode.SINGLE, redundancy: int = 1) -> InferenceResult:
        handle = self.user.request(self.info.model(model).model_id, row, mode=mode, redundancy=redundancy)
        return handle.result(timeout=WAIT_S)

    def lying_node(self) -> tuple[System, ModelId]:
        """A staked node serving only a model no honest node serves (iris with another doc string, so another id)."""
        if self.liar is not None and self.liar_model is not None:
            return self.liar, self.liar_model
        proto = onnx.load_from_string(self.iris.path.read_bytes())
        proto.doc_string = "iris, served by one node only"
        path = self.info.state_dir / "models" / "iris_single_server.onnx"  # under the explorer's model directory
        path.write_bytes(proto.SerializeToString())
        model_id = self.user.register_model(path, path.as_uri(), ETHER // 1_000, [Mode.SINGLE], scale=1_000_000)
        account = self.info.spare[3]
        w3 = connect(self.info.rpc_url)
        sender = TxSender(w3, Account.from_key(account.private_key), RevertDecoder.for_system())
        system = System.bind(sender, self.info.deployment)
        Operator(system).register(environment_hash(), [model_id], 2 * ETHER)
        self.liar, self.liar_model = system, model_id
        return system, model_id

    def lie(self, row: Any, output: Any) -> RequestId:
        """Requests the lying node's model and has the lying node answer `output` (real values) for it."""
        system, model_id = self.lying_node()
        handle = self.user.request(model_id, row)
        logs = system.hub_logs(handle.block_number, handle.block_number)
        (event,) = [
            InferenceRequested.from_log(log)
            for log in EventCodec.from_abi(system.hub.abi, "InferenceRequested").decode_all(logs)
            if int(log.args["requestId"]) == handle.request_id
        ]
        params = event.params(system.terms_of(model_id))
        system.sender.send(
            system.hub.functions.submitResult(handle.request_id, params.as_abi(), codec.encode(output, 1_000_000))
        )
        assert handle.status() == Status.FULFILLED
        return handle.request_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    _ensure_bundle()
    work = tmp_path_factory.mktemp("explorer")
    with Devnet(work / "devnet", nodes=2, deployment_file=work / "deployment.json") as devnet:
        yield World(devnet, work)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"no {CHROMIUM}: scripts/setup.sh installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(world: World, browser: Any, fragment: str) -> Any:
    """A fresh page (a new context: nothing cached) at the explorer's `fragment`; page errors fail the test."""
    page = browser.new_context(viewport={"width": 1200, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(f"{world.url}/{fragment}")
    return page


def checked(world: World, browser: Any, request_id: int) -> tuple[Any, str, str]:
    """The request's page once the browser's check is done: (page, verdict kind, verdict text)."""
    page = open_page(world, browser, f"#/request/{request_id}")
    page.wait_for_selector("#check[data-state=done] #verdict", timeout=PAGE_TIMEOUT_MS)
    verdict = page.locator("#verdict")
    assert page.errors == [], page.errors
    return page, str(verdict.get_attribute("data-verdict")), verdict.inner_text()


# ---------------------------------------------------------------------------------------------------------------------
# The list and the JSON API
# ---------------------------------------------------------------------------------------------------------------------


def test_explorer_lists_requests(world: World, browser: Any) -> None:
    single = world.request("credit_risk", world.credit.samples[0])
    consensus = world.request("credit_risk", world.credit.samples[1], Mode.CONSENSUS, redundancy=2)
    _, liar_model = world.lying_node()
    pending = world.user.request(liar_model, world.iris.samples[0])  # the lying node has not answered (yet)

    rows = {r["requestId"]: r for r in world.api("/api/requests")["requests"]}
    row = rows[single.request_id]
    assert (row["mode"], row["model"], row["status"], row["finality"]) == (
        "SINGLE",
        "credit_risk",
        "FULFILLED",
        "final",
    )
    assert row["nodes"] == list(single.nodes)
    assert abs(row["timestamp"] - time.time()) < 600
    assert rows[consensus.request_id]["mode"] == "CONSENSUS"
    assert sorted(rows[consensus.request_id]["nodes"]) == sorted(consensus.nodes)
    assert len(consensus.nodes) == 2
    assert (rows[pending.request_id]["status"], rows[pending.request_id]["nodes"]) == ("PENDING", [])
    assert list(rows) == sorted(rows, reverse=True), "newest first"

    detail = world.api(f"/api/requests/{single.request_id}")
    spec = world.user.model(single.model_id)
    assert detail["modelId"] == "0x" + single.model_id.hex()
    assert detail["spec"]["uri"] == spec.uri
    assert detail["input"]["values"] == pytest.approx(codec.quantize(world.credit.samples[0], 10**6) / 10**6)
    assert detail["result"]["output"]["bytes"] == "0x" + single.output_bytes.hex()
    assert detail["result"]["output"]["values"] == pytest.approx(single.output.reshape(-1).tolist())
    assert detail["result"]["commitment"] == "0x" + single.commitment.hex()
    assert detail["storedCommitment"][:-2] == "0x" + single.commitment.hex()[:-2]
    env = detail["result"]["environments"][0]
    assert env["hash"] == "0x" + single.env_hashes[0].hex()
    assert env["manifest"] is not None
    assert env["manifest"]["graph_optimization_level"] == "basic"
    assert detail["votes"] == []
    assert detail["proof"] is None

    votes = world.api(f"/api/requests/{consensus.request_id}")["votes"]
    assert {v["node"] for v in votes} == set(consensus.nodes)
    assert all(v["revealed"] and v["agreed"] and not v["slashed"] for v in votes)

    model = world.api(f"/api/models/0x{single.model_id.hex()}")
    assert model["name"] == "credit_risk"
    assert model["spec"]["scale"] == "1000000"
    assert sorted(model["nodes"]) == sorted(n.address for n in world.info.nodes)
    assert {r["requestId"] for r in model["requests"]} >= {single.request_id, consensus.request_id}
    node = world.api(f"/api/nodes/{single.nodes[0]}")
    assert int(node["bond"]["stake"]) > 0
    assert node["results"] >= 1
    assert node["consensus"]["agreed"] >= 1
    assert "0x" + single.model_id.hex() in {m["modelId"] for m in node["models"]}

    # Attacks on the API: unknown ids are 404s naming them; the model proxy serves only the allowed directories.
    assert httpx.get(f"{world.url}/api/requests/999999").status_code == 404
    assert httpx.get(f"{world.url}/api/models/0x1234").status_code == 400
    served = httpx.get(f"{world.url}/api/models/0x{single.model_id.hex()}/file")
    assert served.status_code == 200
    assert Web3.keccak(served.content) == single.model_id
    outside = world.work / "elsewhere.onnx"
    proto = onnx.load_from_string(world.iris.path.read_bytes())
    proto.doc_string = "a model file outside the explorer's model directory"
    outside.write_bytes(proto.SerializeToString())
    outside_id = world.user.register_model(outside, outside.as_uri(), 1, [Mode.SINGLE])
    refused = httpx.get(f"{world.url}/api/models/0x{outside_id.hex()}/file")
    assert refused.status_code == 403
    assert "outside the directories" in refused.json()["error"]

    # Live: the page's list grows when a request arrives, without a reload.
    page = open_page(world, browser, "#/")
    page.wait_for_selector(f"#requests a.request:text-is('#{pending.request_id}')", timeout=PAGE_TIMEOUT_MS)
    newer = world.user.request(liar_model, world.iris.samples[1])
    page.wait_for_selector(f"#requests a.request:text-is('#{newer.request_id}')", timeout=PAGE_TIMEOUT_MS)
    first_row = page.locator("#requests tbody tr").first.inner_text()
    assert f"#{newer.request_id}" in first_row
    assert "PENDING" in first_row
    assert page.errors == [], page.errors
    page.close()
