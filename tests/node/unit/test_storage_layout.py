"""Packing comments are claims: check each one against the compiler's storage layout (`forge inspect`).

Every `[lo..hi] field` in the comment above a struct must match the field's slot-0 bit offset as laid out by solc.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORGE = ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"

# (contract to inspect, file holding the struct's comment, struct name)
STRUCTS = [
    ("ModelRegistry", "contracts/interfaces/IModelRegistry.sol", "ModelTerms"),
    ("ModelRegistry", "contracts/interfaces/IModelRegistry.sol", "ModelProvenance"),
    ("NodeRegistry", "contracts/interfaces/INodeRegistry.sol", "NodeInfo"),
    ("InferenceHub", "contracts/InferenceHub.sol", "Config"),
    ("InferenceHub", "contracts/InferenceHub.sol", "Round"),
    ("LendingPool", "contracts/consumers/examples/ILendingPool.sol", "Application"),
    ("Timelock", "contracts/governance/Timelock.sol", "Call"),
]

CLAIM = re.compile(r"\[(\d+)\.\.(\d+)\]\s+(\w+)")


def claimed_layout(source: str, struct: str) -> dict[str, tuple[int, int]]:
    """The `[lo..hi] field` claims in the comment block right above `struct <struct> {`."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s*struct {struct}\s*{{", line))
    comment: list[str] = []
    for line in reversed(lines[:start]):
        if not line.strip().startswith("///"):
            break
        comment.insert(0, line)
    return {name: (int(lo), int(hi)) for lo, hi, name in CLAIM.findall(" ".join(comment))}


def compiled_layout(contract: str, struct: str) -> dict[str, tuple[int, int, int]]:
    """field -> (slot, bit offset, bit width) from forge's storage layout."""
    raw = subprocess.run(
        [str(FORGE), "inspect", contract, "storageLayout", "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    layout = json.loads(raw)
    types = layout["types"]
    key = next(k for k in types if k.startswith(f"t_struct({struct})"))
    return {
        m["label"]: (int(m["slot"]), m["offset"] * 8, int(types[m["type"]]["numberOfBytes"]) * 8)
        for m in types[key]["members"]
    }


@pytest.mark.skipif(not FORGE.exists(), reason="native forge missing: run scripts/setup.sh")
@pytest.mark.parametrize(("contract", "path", "struct"), STRUCTS, ids=[s[2] for s in STRUCTS])
def test_packing_comment_matches_compiler(contract: str, path: str, struct: str) -> None:
    claims = claimed_layout((ROOT / path).read_text(), struct)
    assert claims, f"{path}: no [lo..hi] layout comment above struct {struct}"
    actual = compiled_layout(contract, struct)
    for field, (lo, hi) in claims.items():
        assert field in actual, f"{struct}: the comment names {field!r}, which is not a member"
        slot, offset, width = actual[field]
        assert slot == 0, f"{struct}.{field}: claimed in the first slot, compiled into slot {slot}"
        assert (lo, hi) == (offset, offset + width - 1), (
            f"{struct}.{field}: comment says [{lo}..{hi}], compiler puts it at [{offset}..{offset + width - 1}]"
        )
    first_slot = {f for f, (slot, _, _) in actual.items() if slot == 0}
    assert first_slot == set(claims), f"{struct}: first-slot members {sorted(first_slot)} vs comment {sorted(claims)}"
