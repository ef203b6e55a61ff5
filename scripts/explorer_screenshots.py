"""Screenshots of the explorer for the docs (docs/assets/explorer/*.png), from a fresh devnet: the request list, an
honest SINGLE result checked in the browser, a lying node's result flagged, a CONSENSUS round, a ZK result, a
result where WASM arithmetic differs from native (iris: Softmax), one where the page's emulation of native Gemm
makes the check exact again (the regressor), a model page and a node page.

    .venv/bin/python scripts/explorer_screenshots.py

Uses the browser tests' world (tests/node/integration/explorerworld.py) and Debian's chromium.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.node.integration.explorerworld import (  # noqa: E402 - the repository root goes on the path first
    ONE_SCALE,
    PAGE_TIMEOUT_MS,
    World,
    browser_outputs,
    ensure_bundle,
    launch_chromium,
    native_outputs,
    open_page,
)
from verinfer.devnet import Devnet  # noqa: E402
from verinfer.types import Mode  # noqa: E402

OUT = ROOT / "docs" / "assets" / "explorer"


def main() -> None:
    from playwright.sync_api import sync_playwright

    ensure_bundle()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="verinfer-shots-"))
    with Devnet(work / "devnet", nodes=2, deployment_file=work / "deployment.json") as devnet, sync_playwright() as p:
        world = World(devnet, work)
        browser = launch_chromium(p)

        def first_differing(name: str, built: Any) -> Any:
            rows = built.samples[:150]
            scales = world.scales(name)  # each side at its entry's scale (the card's, else the entry's)
            wasm = browser_outputs(world, browser, world.model_id(name), rows, built.input_shape, scales)
            native = native_outputs(built.path, rows, built.input_shape, scales)
            return next(r for r, w, n in zip(rows, wasm, native, strict=True) if w != n)

        iris_row = first_differing("iris", world.iris)
        # The emulation is shown on the one-scale twin of the regressor: at the demo's own output scale (2^15) WASM and
        # native rarely differ at all.
        regressor_row = first_differing(ONE_SCALE, world.one_scale)

        honest = world.request("credit_risk", world.credit.samples[2])
        lying = world.lie(world.iris.samples[5], [[0.1, 0.2, 0.7]])
        consensus = world.request("credit_risk", world.credit.samples[31], Mode.CONSENSUS, redundancy=2)
        zk = world.request("credit_risk_zk", world.credit.samples[3], Mode.ZK)
        differs = world.request("iris", iris_row)
        emulated = world.request(ONE_SCALE, regressor_row)

        def shoot(name: str, fragment: str, check: bool) -> None:
            page = open_page(world, browser, fragment)
            if check:
                page.wait_for_selector("#check[data-state=done] #verdict", timeout=PAGE_TIMEOUT_MS)
            else:
                page.wait_for_timeout(2_000)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            page.close()
            print(f"wrote {OUT / name}.png")

        shoot("list", "#/", check=False)
        shoot("single-checked", f"#/request/{honest.request_id}", check=True)
        shoot("lying-node-mismatch", f"#/request/{lying}", check=True)
        shoot("consensus", f"#/request/{consensus.request_id}", check=True)
        shoot("zk", f"#/request/{zk.request_id}", check=True)
        shoot("wasm-difference", f"#/request/{differs.request_id}", check=True)
        shoot("gemm-emulated", f"#/request/{emulated.request_id}", check=True)
        shoot("model", f"#/model/0x{honest.model_id.hex()}", check=False)
        shoot("node", f"#/node/{honest.nodes[0]}", check=False)
        browser.close()


if __name__ == "__main__":
    main()
