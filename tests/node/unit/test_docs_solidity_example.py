"""The dApp guide's Solidity consumer compiles against the contracts as they are, with the project's pinned solc."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "dapp-guide.md"
SOLC = ROOT / "scripts" / "solc"


def _consumer_example() -> str:
    blocks = re.findall(r"```solidity\n(.*?)```", PAGE.read_text(), re.DOTALL)
    examples = [block for block in blocks if "is InferenceConsumer" in block]
    assert len(examples) == 1, f"{PAGE} should hold exactly one consumer contract example"
    return str(examples[0])


def test_consumer_example_compiles(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        pytest.skip("node or the npm solc package is missing: run scripts/setup.sh")
    # The page's imports assume the remapping verinfer/=contracts/.
    shutil.copytree(ROOT / "contracts", tmp_path / "verinfer")
    (tmp_path / "Classifier.sol").write_text(_consumer_example())
    compiled = subprocess.run(
        [str(SOLC), "--combined-json", "abi", "--base-path", str(tmp_path), "Classifier.sol"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    abi = json.loads(compiled.stdout)["contracts"]["Classifier.sol:Classifier"]["abi"]
    functions = {item["name"] for item in abi if item["type"] == "function"}
    assert {"classify", "onInferenceResult", "inferenceHub", "labelScore"} <= functions
