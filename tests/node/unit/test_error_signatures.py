"""The contracts' custom errors decode by name on a machine that never built them, from the ABIs the package ships.

`cast` decodes a revert from its local signature cache (or an online database, unreachable here). A dApp developer
fills that cache from `verinfer/abi/` with `forge selectors cache --extra-abis-path`, as the dApp guide says; this
test plays that on a fresh home directory, with no forge project around, and checks both halves: before the cache
the selector is unknown, after it the error comes back with its name and arguments.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

import verinfer

ROOT = Path(__file__).resolve().parents[3]
FOUNDRY = ROOT / "node_modules/@foundry-rs"
FORGE = FOUNDRY / "forge-linux-amd64/bin/forge"
CAST = FOUNDRY / "cast-linux-amd64/bin/cast"
SHIPPED_ABIS = Path(verinfer.__file__).parent / "abi"

# A revert the node meets in practice (a request whose deadline is already past), as eth_sendRawTransaction returns it.
SIGNATURE = "DeadlineInvalid(uint64,uint256,uint256)"
ARGS = (1_700_000_000, 1_700_000_100, 1_700_086_500)


def _run(tool: Path, *args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No network: an empty proxy that refuses at once keeps cast from waiting on the online signature database.
    env = {**os.environ, "HOME": str(home), "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    return subprocess.run([str(tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CAST.exists(), reason="Foundry is installed by scripts/setup.sh")
def test_cast_decodes_hub_errors_from_the_shipped_abis(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    elsewhere.mkdir()
    revert = "0x" + (keccak(text=SIGNATURE)[:4] + encode(["uint64", "uint256", "uint256"], ARGS)).hex()

    before = _run(CAST, "decode-error", revert, home=home, cwd=elsewhere)
    assert before.returncode != 0, f"a fresh machine already knew the selector: {before.stdout}"

    cached = _run(FORGE, "selectors", "cache", "--extra-abis-path", str(SHIPPED_ABIS), home=home, cwd=elsewhere)
    assert cached.returncode == 0, cached.stderr

    after = _run(CAST, "decode-error", revert, home=home, cwd=elsewhere)
    assert after.returncode == 0, after.stderr
    # cast appends a scientific form to large integers ("1700000000 [1.7e9]"): compare the exact values only.
    decoded = [word for word in after.stdout.split() if not word.startswith("[")]
    assert decoded == [SIGNATURE, *map(str, ARGS)]
