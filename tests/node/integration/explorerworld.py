"""The explorer tests' world (a devnet with its explorer, the demo models' rows, a lying node) and their browser
helpers; also what scripts/explorer_screenshots.py drives."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
from eth_account import Account

from tests.node.support import next_second, open_all_windows
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.demo.models import DemoModel, build_credit_model, build_iris_model, build_regressor_model
from verinfer.devnet import Devnet, DevnetInfo
from verinfer.explorer.browser import CHROMIUM, CHROMIUM_ARGS
from verinfer.inference import codec, signature
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client, InferenceResult
from verinfer.sdk.operator import Operator, environment_hash
from verinfer.types import ETHER, Mode, ModelId, RequestId, Status

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "node" / "verinfer" / "explorer" / "static"
PAGE_TIMEOUT_MS = 60_000
WAIT_S = 120.0
ONE_SCALE = "diabetes_regressor_one_scale"
"""The demo regressor's weights registered at one fine scale (10^6 for its input and its output, no card scales),
where WASM's unfused Gemm and native's fused one give different canonical outputs: the page's emulation case."""


def _wait(what: str, done: Any, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting to {what}")
        time.sleep(0.2)


def ensure_bundle() -> None:
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
        self.liar_models: dict[str, ModelId] = {}
        # Registered now so that the honest nodes, which follow the registry, declare it before a test needs it.
        self.one_scale = self._one_scale_regressor()
        self.one_scale_id = self.user.register_model(
            self.one_scale.path, self.one_scale.path.as_uri(), ETHER // 1_000, [Mode.SINGLE], scale=10**6
        )

    def _one_scale_regressor(self) -> DemoModel:
        """The regressor's graph under another doc string (so another id), at one scale, under the explorer's
        model directory."""
        proto = onnx.load_from_string(self.regressor.path.read_bytes())
        proto.doc_string = "diabetes_regressor at one scale, 10^6"
        path = self.info.state_dir / "models" / f"{ONE_SCALE}.onnx"
        path.write_bytes(proto.SerializeToString())
        return dataclasses.replace(self.regressor, name=ONE_SCALE, path=path, scale=10**6, scales={})

    def model_id(self, name: str) -> ModelId:
        """A devnet model's id, or the one-scale regressor's."""
        return self.one_scale_id if name == ONE_SCALE else self.info.model(name).model_id

    def scales(self, name: str) -> tuple[int, int]:
        """The model's input and output scales as its entry lays them out (the card's, else the entry's)."""
        layout = signature.Layout.of_entry(self.user.model(self.model_id(name)))
        assert layout is not None, f"{name}'s card lists no ports"
        return layout.input_scales[0], layout.output_scales[0]

    def served(self, name: str, nodes: int) -> None:
        """Waits until `nodes` nodes declare the model (the nodes follow the registry every refresh_s)."""
        model = "0x" + self.model_id(name).hex()
        _wait(f"have {nodes} nodes serve {name}", lambda: len(self.api(f"/api/models/{model}")["nodes"]) >= nodes)

    def api(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=30)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def request(self, model: str, row: Any, mode: Mode = Mode.SINGLE, redundancy: int = 1) -> InferenceResult:
        handle = self.user.request(self.model_id(model), row, mode=mode, redundancy=redundancy)
        return handle.result(timeout=WAIT_S)

    def lying_node(self) -> tuple[System, ModelId]:
        """A staked node serving only models no honest node serves: copies of iris and of the regressor with another
        doc string, so other ids, and iris committing its logits beside its probabilities, "iris_two_outputs" (the
        iris copy's id is returned; `liar_models` has all three)."""
        if self.liar is not None and self.liar_model is not None:
            return self.liar, self.liar_model
        copies = {}
        for name, built in (
            ("iris", self.iris),
            ("diabetes_regressor", self.regressor),
            ("iris_two_outputs", self.iris),
        ):
            proto = onnx.load_from_string(built.path.read_bytes())
            proto.doc_string = f"{name}, served by one node only"
            if name == "iris_two_outputs":
                logits = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 3])
                proto.graph.output.insert(0, logits)
            path = self.info.state_dir / "models" / f"{name}_single_server.onnx"  # under the explorer's model dir
            path.write_bytes(proto.SerializeToString())
            copies[name] = self.user.register_model(path, path.as_uri(), ETHER // 1_000, [Mode.SINGLE], scale=10**6)
        account = self.info.spare[3]
        w3 = connect(self.info.rpc_url)
        sender = TxSender(w3, Account.from_key(account.private_key), RevertDecoder.for_system())
        system = System.bind(sender, self.info.deployment)
        Operator(system).register(environment_hash(), list(copies.values()), 2 * ETHER)
        next_second(w3)  # tickets go to stake older than the request
        self.liar, self.liar_model, self.liar_models = system, copies["iris"], copies
        return system, copies["iris"]

    def lie(self, row: Any, output: Any, model: str = "iris") -> RequestId:
        """Requests the lying node's copy of `model` and has the lying node answer `output` (real values) for it."""
        system, _ = self.lying_node()
        model_id = self.liar_models[model]
        handle = self.user.request(model_id, row)
        logs = system.hub_logs(handle.block_number, handle.block_number)
        (event,) = [
            InferenceRequested.from_log(log)
            for log in EventCodec.from_abi(system.hub.abi, "InferenceRequested").decode_all(logs)
            if int(log.args["requestId"]) == handle.request_id
        ]
        params = event.params(system.terms_of(model_id))
        # The lying node is the only server, so the primary, but its ticket's window may open a few seconds on.
        open_all_windows(system.sender.w3, event.lottery)
        system.sender.send(
            system.hub.functions.submitResult(handle.request_id, params.as_abi(), codec.encode(output, 1_000_000))
        )
        assert handle.status() == Status.FULFILLED
        return handle.request_id


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


def launch_chromium(playwright: Any) -> Any:
    if not CHROMIUM.is_file():
        raise AssertionError(f"no {CHROMIUM}: scripts/setup.sh installs Debian's chromium (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))


def browser_outputs(
    world: World,
    browser: Any,
    model_id: bytes,
    rows: Any,
    shape: tuple[int, ...],
    scales: tuple[int, int] = (10**6, 10**6),
) -> list[bytes]:
    """What this browser's onnxruntime-web computes for each row, input and output at `scales` (the page's own
    runtime, through its test hook)."""
    page = open_page(world, browser, "#/")
    page.wait_for_function("() => window.verinferExplorer !== undefined")
    inputs = ["0x" + codec.encode(r, scales[0]).hex() for r in rows]
    hexes = page.evaluate(
        "([u, i, s, k]) => window.verinferExplorer.runRows(u, i, s, k[0], k[1])",
        [f"{world.url}/api/models/0x{model_id.hex()}/file", inputs, list(shape), [str(k) for k in scales]],
    )
    page.close()
    return [bytes.fromhex(h[2:]) for h in hexes]


def native_outputs(
    path: Path, rows: Any, shape: tuple[int, ...], scales: tuple[int, int] = (10**6, 10**6)
) -> list[bytes]:
    """What a node computes for each row, input and output at `scales` (native onnxruntime, canonical settings)."""
    runner = OnnxRunner(path)
    inputs, outputs = scales
    return [
        codec.encode(runner.run_batch(codec.decode(codec.encode(r, inputs), shape, inputs).astype(np.float32)), outputs)
        for r in rows
    ]
