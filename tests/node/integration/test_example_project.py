"""The Foundry project under examples/ imports verinfer as a dependency (remapping `verinfer/=lib/verinfer/contracts/`),
builds with the second compiler (solc 0.8.24, the oldest the importable contracts' pragma admits), is deployed with
`forge create` against a devnet and asks for a score with `cast send`; the devnet's real node serves it, the example's
callback stores it, and the SDK verifies the result by re-execution."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from verinfer.devnet import Devnet
from verinfer.inference import codec
from verinfer.sdk.client import Client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "foundry-consumer"
FOUNDRY = ROOT / "node_modules" / "@foundry-rs"
DELIVERY_TIMEOUT_S = 120.0
# An applicant for the demo credit model (income, debt ratio, late payments, years employed), as real values.
FEATURES = [0.62, 0.18, 0.35, 0.12]


def tool(name: str) -> str:
    """The native Foundry binary (never the npm launcher, which exits 0 whatever happens)."""
    path = FOUNDRY / f"{name}-linux-amd64" / "bin" / name
    if not path.is_file():
        pytest.fail(f"native {name} missing at {path}: run scripts/setup.sh")
    return str(path)


def run(*args: str) -> str:
    done = subprocess.run(args, cwd=EXAMPLE, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def test_example_project_builds_with_second_compiler_and_serves_on_devnet(tmp_path: Path) -> None:
    built = run(tool("forge"), "build", "--force")
    assert "Solc 0.8.24" in built, built  # the example compiles verinfer's importable contracts with 0.8.24

    with Devnet(tmp_path / "devnet", nodes=1, deployment_file=tmp_path / "deployment.json") as devnet:
        info = devnet.info
        credit = info.model("credit_risk")
        client = Client(info.rpc_url, info.user.private_key, info.deployment)
        terms = client.system.terms_of(credit.model_id)
        assert len(FEATURES) * 8 == terms.input_bytes, "the example's features fit the credit model"
        rpc = ["--rpc-url", info.rpc_url, "--private-key", info.user.private_key]

        created = run(
            tool("forge"),
            "create",
            "src/RiskOracle.sol:RiskOracle",
            *rpc,
            "--broadcast",
            "--constructor-args",
            info.deployment.hub.address,
            "0x" + credit.model_id.hex(),
            "1",
        )
        found = re.search(r"Deployed to: (0x[0-9a-fA-F]{40})", created)
        assert found, created
        oracle = found.group(1)

        fixed = codec.quantize(FEATURES, terms.scale).tolist()
        run(tool("cast"), "send", oracle, "score(int64[])", "[" + ",".join(map(str, fixed)) + "]",
            "--value", str(terms.price), *rpc)  # fmt: skip

        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while True:
            value, delivered, failed = (
                run(tool("cast"), "call", oracle, "scoreOf(uint256)((int64,bool,bool))", "1", "--rpc-url", info.rpc_url)
                .strip()
                .strip("()")
                .split(", ")
            )
            if delivered == "true" or time.monotonic() > deadline:
                break
            assert not devnet.problems(), devnet.problems()
            time.sleep(0.5)
        assert (delivered, failed) == ("true", "false"), f"no delivery within {DELIVERY_TIMEOUT_S} s"

        report = client.verify(1)
        assert report.matches, report.failed
        result = client.handle(1).result(timeout=10)
        stored = int(value.split()[0])  # cast prints large ints as "675565 [6.755e5]"
        assert stored == codec.value_at(result.output_bytes, 1), "the callback stored element 1 of the output"


def test_example_project_builds_with_the_pinned_compiler_too(tmp_path: Path) -> None:
    """The floating pragma spans the range: the example builds with the repository's own compiler (0.8.37) as well as
    with 0.8.24, so a dApp on any 0.8.x from 0.8.24 on can import verinfer."""
    out = tmp_path / "out"
    built = run(
        tool("forge"), "build", "--use", str(ROOT / "scripts" / "solc"), "--out", str(out),
        "--cache-path", str(tmp_path / "cache"),
    )  # fmt: skip
    assert "Solc 0.8.37" in built, built
    assert (out / "RiskOracle.sol" / "RiskOracle.json").is_file()
