"""The verification explorer on a real devnet (three nodes running the node service, the demo models, a ZK model),
its JSON API, and its page in Debian's chromium driven headless by Playwright: the list, an honest SINGLE result
checked in the browser, a lying node's result shown as a mismatch, CONSENSUS and ZK pages, and a result where the
browser's WASM arithmetic differs from native onnxruntime's (the page must say so and not claim an exact check),
and a model whose card gives its ports their own scales, which the check honours.

One devnet and one browser for the whole module. The lying node is a spare dev account, staked and registered for a
model no honest node serves (a re-labelled copy of iris), that submits a wrong output straight through the hub.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import onnx
import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from tests.node.integration.explorerworld import (
    ONE_SCALE,
    PAGE_TIMEOUT_MS,
    World,
    browser_outputs,
    checked,
    ensure_bundle,
    launch_chromium,
    native_outputs,
    open_page,
)
from verinfer.chain import commitments
from verinfer.devnet import Devnet
from verinfer.inference import codec
from verinfer.types import HubParams, Mode

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ensure_bundle()
    work = tmp_path_factory.mktemp("explorer")
    with Devnet(work / "devnet", nodes=3, deployment_file=work / "deployment.json") as devnet:
        yield World(devnet, work)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def steps(page: Any) -> dict[str, str]:
    """The browser check's steps shown on the page: step id => ok | fail | warn | info."""
    items = page.locator("#steps li")
    return {
        str(items.nth(i).get_attribute("data-step")): str(items.nth(i).get_attribute("data-state"))
        for i in range(items.count())
    }


def wasm_and_native(world: World, browser: Any, model: str, rows: Any) -> tuple[list[bytes], list[bytes]]:
    """Each row's canonical output from the browser (WASM) and from native onnxruntime, at the entry's scales."""
    built = {
        "credit_risk": world.credit,
        "iris": world.iris,
        "diabetes_regressor": world.regressor,
        ONE_SCALE: world.one_scale,
    }[model]
    scales = world.scales(model)
    wasm = browser_outputs(world, browser, world.model_id(model), rows, built.input_shape, scales)
    return wasm, native_outputs(built.path, rows, built.input_shape, scales)


def rows_where(world: World, browser: Any, model: str, rows: Any, same: bool) -> Any:
    """The first of `rows` whose browser (WASM) output equals (`same`) or differs from the native one."""
    wasm, native = wasm_and_native(world, browser, model, rows)
    for row, w, n in zip(rows, wasm, native, strict=True):
        if (w == n) == same:
            return row, w, n
    raise AssertionError(f"no row of {len(rows)} where WASM and native {'agree' if same else 'differ'} on {model}")


# ---------------------------------------------------------------------------------------------------------------------
# The list and the JSON API
# ---------------------------------------------------------------------------------------------------------------------


def test_explorer_lists_requests(world: World, browser: Any) -> None:
    single = world.request("credit_risk", world.credit.samples[0])
    consensus = world.request("credit_risk", world.credit.samples[1], Mode.CONSENSUS, redundancy=3)
    _, liar_model = world.lying_node()
    pending = world.user.request(liar_model, world.iris.samples[0])  # the lying node has not answered (yet)

    rows = {r["requestId"]: r for r in world.api("/api/requests")["requests"]}
    row = rows[single.request_id]
    assert (row["mode"], row["model"], row["status"], row["finality"]) == (
        "SINGLE",
        "credit_risk",
        "FULFILLED",
        "provisional",  # open to challenge for the request's reveal window after the result
    )
    result_at = int(world.user.system.sender.w3.eth.get_block(single.result_block)["timestamp"])
    assert row["finalAt"] == result_at + HubParams().reveal_window
    assert rows[consensus.request_id]["finalAt"] == 0  # a consensus result is final when recorded
    assert row["nodes"] == list(single.nodes)
    assert abs(row["timestamp"] - time.time()) < 600
    assert rows[consensus.request_id]["mode"] == "CONSENSUS"
    assert sorted(rows[consensus.request_id]["nodes"]) == sorted(consensus.nodes)
    assert 1 <= len(set(consensus.nodes)) <= 3  # k = 3 seats by lottery; one node may hold several
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
    assert detail["storedCommitment"] == "0x" + commitments.stored_form(single.commitment).hex()
    env = detail["result"]["environments"][0]
    assert env["hash"] == "0x" + single.env_hashes[0].hex()
    assert env["manifest"] is not None
    assert env["manifest"]["graph_optimization_level"] == "basic"
    assert detail["challenges"] == []
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
    assert "0x" + single.model_id.hex() in {m["modelId"] for m in node["models"]}
    # The lottery gives the SINGLE request and the k = 3 seats to whichever nodes it draws: count a seated node.
    seated = world.api(f"/api/nodes/{consensus.nodes[0]}")
    assert seated["consensus"]["agreed"] >= 1

    # Attacks on the API: unknown ids are 404s naming them; the model proxy serves only the allowed directories.
    assert httpx.get(f"{world.url}/api/requests/999999").status_code == 404
    assert httpx.get(f"{world.url}/api/models/0x1234").status_code == 400
    served = httpx.get(f"{world.url}/api/models/0x{single.model_id.hex()}/file")
    assert served.status_code == 200
    assert bytes(Web3.keccak(served.content)) == single.model_id
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

    # Past its deadline an unanswered request can only be reclaimed, and the list says so.
    w3 = Web3(Web3.HTTPProvider(world.info.rpc_url, request_kwargs={"timeout": 10}))
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [3_700])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    time.sleep(0.3)  # past the index's refresh interval
    rows = {r["requestId"]: r for r in world.api("/api/requests")["requests"]}
    assert rows[pending.request_id]["status"] == "PENDING"
    assert rows[pending.request_id]["finality"] == "expired (fee reclaimable)"
    assert rows[single.request_id]["finality"] == "final"


# ---------------------------------------------------------------------------------------------------------------------
# The check in the browser
# ---------------------------------------------------------------------------------------------------------------------


def test_browser_verifies_honest_result(world: World, browser: Any) -> None:
    row, _, _ = rows_where(world, browser, "credit_risk", world.credit.samples[2:30], same=True)
    result = world.request("credit_risk", row)
    page, kind, text = checked(world, browser, result.request_id)
    assert kind == "checked", text
    assert text.startswith("checked in this browser")
    shown = steps(page)
    for step in ("chain", "fetch", "hash", "run", "cmp:output bytes", "cmp:commitment", "cmp:on-chain verifyResult"):
        assert shown[step] == "ok", (step, shown)
    page.close()

    # The server cannot make the check pass or fail: a forged request document changes the lists, not the check
    # (which reads the chain), and forged model bytes fail the hash check.
    page = open_page(world, browser, "#/")
    forged = world.api(f"/api/requests/{result.request_id}")
    forged["result"]["output"]["values"] = [0.0, 1.0]
    page.route(f"**/api/requests/{result.request_id}", lambda route: route.fulfill(json=forged))
    page.goto(f"{world.url}/#/request/{result.request_id}")
    page.wait_for_selector("#check[data-state=done] #verdict", timeout=PAGE_TIMEOUT_MS)
    assert page.locator("#verdict").get_attribute("data-verdict") == "checked"
    page.close()

    other = world.iris.path.read_bytes()
    page = open_page(world, browser, "#/")
    page.route("**/api/models/*/file", lambda route: route.fulfill(body=other))
    page.goto(f"{world.url}/#/request/{result.request_id}")
    page.wait_for_selector("#check[data-state=done] #verdict", timeout=PAGE_TIMEOUT_MS)
    assert page.locator("#verdict").get_attribute("data-verdict") == "mismatch"
    assert "not the model id" in page.locator("#verdict").inner_text()
    assert steps(page)["hash"] == "fail"
    page.close()


def test_browser_flags_lying_result(world: World, browser: Any) -> None:
    row = world.iris.samples[5]
    honest = native_outputs(world.iris.path, [row], world.iris.input_shape)[0]
    lie = [[0.1, 0.2, 0.7]]
    assert codec.encode(lie, 1_000_000) != honest
    request_id = world.lie(row, lie)
    assert world.api(f"/api/requests/{request_id}")["status"] == "FULFILLED"  # the chain took the lie

    page, kind, text = checked(world, browser, request_id)
    assert kind == "mismatch", text
    assert "MISMATCH: the recorded output is not what the model computes" in text
    assert "beyond anything float arithmetic explains" in text
    assert "probabilities[0]: chain 0.1" in text  # the first element that differs, with both values
    shown = steps(page)
    assert shown["hash"] == "ok"
    assert shown["run"] == "ok"
    assert shown["cmp:output bytes"] == "fail"
    page.close()


def test_browser_consensus_and_zk_pages(world: World, browser: Any) -> None:
    row, _, _ = rows_where(world, browser, "credit_risk", world.credit.samples[30:60], same=True)
    consensus = world.request("credit_risk", row, Mode.CONSENSUS, redundancy=3)
    page, kind, text = checked(world, browser, consensus.request_id)
    assert kind == "checked", text
    votes = page.locator("#votes tbody tr")
    assert votes.count() == len(set(consensus.nodes))  # a row per voting node (one node may hold several seats)
    for i in range(votes.count()):
        assert "agreed" in votes.nth(i).inner_text()
    assert steps(page)["cmp:commitment"] == "ok"  # the consensus commitment over both nodes' votes
    page.close()

    zk = world.request("credit_risk_zk", world.credit.samples[3], Mode.ZK)
    page, kind, text = checked(world, browser, zk.request_id)
    assert kind == "checked", text
    assert "the model's verifier accepts it" in text
    shown = steps(page)
    for step in ("hash", "zk:proof input", "zk:proof output", "zk:proof (on-chain verifier)", "zk:commitment"):
        assert shown[step] == "ok", (step, shown)
    assert "run" not in shown  # a ZK result is checked by its proof, not by re-running the float model
    assert "accepted by the model's verifier" in page.locator("#proof-status").inner_text()
    page.close()


def test_browser_refuses_a_card_of_several_committed_outputs(world: World, browser: Any) -> None:
    # Its canonical output concatenates logits and probabilities; the page re-runs one output only, and says so
    # rather than compare one output with two.
    request_id = world.lie(world.iris.samples[0], [[0.0, 0.0, 0.0, 0.2, 0.3, 0.5]], model="iris_two_outputs")
    page, kind, text = checked(world, browser, request_id)
    assert kind == "error", text
    assert 'this page cannot re-run this model: the model\'s card commits 2 outputs ("logits", "probabilities")' in text
    assert f"verinfer verify {request_id}" in text
    shown = steps(page)
    assert shown["hash"] == "ok"
    assert shown["card"] == "fail"
    assert "run" not in shown
    page.close()


def test_browser_check_honest_about_wasm_differences(world: World, browser: Any) -> None:
    # iris ends in Softmax, whose exponential the page does not emulate: WASM's last unit can differ from native's.
    row, wasm, native = rows_where(world, browser, "iris", world.iris.samples, same=False)
    result = world.request("iris", row)
    assert result.output_bytes == native  # the node computed what native onnxruntime computes here
    assert world.user.verify(result.request_id).matches  # ... and the exact native check passes

    page, kind, text = checked(world, browser, result.request_id)
    assert kind == "wasm-difference", text
    units = max(abs(int(a) - int(b)) for a, b in zip(codec.decode_ints(wasm), codec.decode_ints(native), strict=True))
    assert text.startswith("not checked exactly in this browser")
    assert f"by at most {units} unit(s) of the encoding" in text
    assert "within what float32 arithmetic explains" in text
    assert f"verinfer verify {result.request_id} --rpc-url {world.info.rpc_url}" in text
    assert "checked in this browser:" not in text
    shown = steps(page)
    assert shown["cmp:output bytes"] == "warn"
    assert shown["cmp:record"] == "info"  # the record is consistent with its commitment, and the page says only that
    assert "emulate" not in shown  # a Softmax graph gets no emulation, and the page does not pretend otherwise
    output = page.locator("[data-tensor=output] tbody tr")
    assert [output.nth(i).locator("td").first.inner_text() for i in range(output.count())] == [
        "probabilities[0] setosa",
        "probabilities[1] versicolor",
        "probabilities[2] virginica",
    ]  # the card's labels name the positions
    page.close()


def test_browser_checks_gemm_exactly_by_emulating_native_fma(world: World, browser: Any) -> None:
    # The regressor is one Gemm: at one fine scale (10^6 for its output too), where WASM's unfused arithmetic
    # differs, the page's emulation of native's fused multiply-adds gives the chain's bytes exactly, and the check is
    # exact after all.
    assert world.scales(ONE_SCALE) == (10**6, 10**6)
    row, wasm, native = rows_where(world, browser, ONE_SCALE, world.one_scale.samples[:60], same=False)
    world.served(ONE_SCALE, nodes=1)
    result = world.request(ONE_SCALE, row)
    assert result.output_bytes == native != wasm
    page, kind, text = checked(world, browser, result.request_id)
    assert kind == "checked", text
    assert text.startswith("checked in this browser, with native onnxruntime's fused multiply-add Gemm emulated")
    units = abs(int(codec.decode_ints(wasm)[0]) - int(codec.decode_ints(native)[0]))
    assert f"WASM's output differed from the chain's by {units} unit(s)" in text
    shown = steps(page)
    assert shown["emulate"] == "ok"
    assert shown["cmp:commitment"] == "ok"
    assert shown["cmp:on-chain verifyResult"] == "ok"
    page.close()

    # A lie about a Gemm model is still caught: the emulation is compared with the chain, not trusted; a lie of
    # one part in a thousand is far beyond float32 arithmetic.
    honest = float(codec.decode(native, (1, 1), 10**6)[0, 0])
    request_id = world.lie(row, [[honest * 1.001]], model="diabetes_regressor")
    page, kind, text = checked(world, browser, request_id)
    assert kind == "mismatch", text
    shown = steps(page)
    assert shown["emulate"] == "warn"
    assert shown["cmp:output bytes"] == "fail"
    page.close()


def test_browser_checks_per_port_scales_exactly(world: World, browser: Any) -> None:
    # The demo regressor's card gives its features 2^40 (every float32 exact) and its prediction 2^15 (what float32
    # carries at its values). The page reads both from the card: a row where WASM gives native's bytes is checked
    # as it is, and a row where WASM's last float32 bit rounds to the next unit is checked through the emulation,
    # both at the card's scales (at the entry's 10^6 neither would match the chain).
    assert world.scales("diabetes_regressor") == (2**40, 2**15)
    rows = world.regressor.samples[:60]
    wasm, native = wasm_and_native(world, browser, "diabetes_regressor", rows)
    same = [i for i, (w, n) in enumerate(zip(wasm, native, strict=True)) if w == n]
    differ = [i for i in range(len(rows)) if i not in same]
    assert same, "no row where WASM gives native's bytes"
    assert differ, "no row where WASM differs: the emulation half of this test has nothing to check"

    result = world.request("diabetes_regressor", rows[same[0]])
    assert result.output_bytes == native[same[0]]
    page, kind, text = checked(world, browser, result.request_id)
    assert kind == "checked", text
    assert text.startswith("checked in this browser: the canonical output")
    shown = steps(page)
    for step in ("card", "run", "cmp:output bytes", "cmp:commitment", "cmp:on-chain verifyResult"):
        assert shown[step] == "ok", (step, shown)
    assert "emulate" not in shown
    card = page.locator("[data-step=card] .detail").inner_text()
    assert 'input "features" at 2^40, output "prediction" at 2^15' in card
    # The tables name the ports and show each value at its port's scale.
    cells = page.locator("[data-tensor=input] tbody tr").first.locator("td")
    assert cells.nth(0).inner_text() == "features[0]"
    assert float(cells.nth(1).inner_text()) == pytest.approx(float(rows[same[0]][0]), abs=2**-41)  # 2^40, not 10^6
    prediction = page.locator("[data-tensor=output] tbody tr").first.locator("td")
    assert prediction.nth(0).inner_text() == "prediction[0]"
    assert float(prediction.nth(1).inner_text()) == int(codec.decode_ints(native[same[0]])[0]) / 2**15
    page.close()

    result = world.request("diabetes_regressor", rows[differ[0]])
    assert result.output_bytes == native[differ[0]]
    page, kind, text = checked(world, browser, result.request_id)
    assert kind == "checked", text
    assert text.startswith("checked in this browser, with native onnxruntime's fused multiply-add Gemm emulated")
    assert steps(page)["emulate"] == "ok"
    page.close()


def test_devnet_up_starts_the_explorer_and_prints_its_url(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from verinfer.cli_node import _print_devnet

    url = world.info.explorer_url
    assert url is not None
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200
    assert "verinfer explorer" in page.text
    assert world.info.to_json()["explorer"] == {
        "url": url,
        "pid": world.info.explorer_pid,
        "log": str(world.info.state_dir / "explorer.log"),
    }
    assert world.info.request_url(7) == f"{url}#/request/7"
    _print_devnet(world.info)
    assert f"explorer: {url}" in capsys.readouterr().out
