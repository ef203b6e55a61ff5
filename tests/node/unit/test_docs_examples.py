"""The documentation's numbers, tables and dashboard stay true to the code.

The generated blocks of docs/ (the encoding example, the config and metrics references) must equal what
scripts/docs_example.py computes now; the encoding page's numbers are also re-derived here from the page's own text,
without the script's renderer; and the Grafana dashboard may only query metrics and labels the node exports.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from verinfer.chain import commitments
from verinfer.inference import codec

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
DASHBOARD = DOCS / "assets" / "grafana-dashboard.json"
# Labels Prometheus adds to every scraped series, and a histogram bucket's own label.
SCRAPE_LABELS = frozenset({"instance", "job", "le"})


def _load_script() -> ModuleType:
    path = ROOT / "scripts" / "docs_example.py"
    spec = importlib.util.spec_from_file_location("docs_example", path)
    assert spec is not None, f"cannot load {path}"
    assert spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_example"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


docs_example = _load_script()


@pytest.mark.parametrize("name", sorted(docs_example.BLOCKS))
def test_generated_block_is_current(name: str) -> None:
    page, render = docs_example.BLOCKS[name]
    assert docs_example.block_in_page(name) == render(), (
        f"docs/{page}: block {name} is out of date: run .venv/bin/python scripts/docs_example.py"
    )


def test_stale_blocks_names_a_drifted_block(tmp_path: Path) -> None:
    for page in {page for page, _ in docs_example.BLOCKS.values()}:
        (tmp_path / page).write_text((DOCS / page).read_text())
    assert docs_example.stale_blocks(tmp_path) == []
    docs_example.write_block("encoding-example", "outdated\n", tmp_path)
    assert docs_example.stale_blocks(tmp_path) == ["encoding-example"]


# ------------------------------------------------------------------------------------------ the encoding page


def _page_value(text: str, name: str) -> bytes:
    """The 0x-hex value of `name = 0x…` in the encoding page (continuation lines `= 0x…` included)."""
    match = re.search(rf"^{re.escape(name)}\s+(?:=[^\n]*\n\s*)?=\s*0x([0-9a-f]+)$", text, re.MULTILINE)
    assert match is not None, f"docs/encoding.md shows no value for {name}"
    return bytes.fromhex(match.group(1))


def _preimage_before(text: str, marker: str) -> bytes:
    """The ABI words of the code block that ends with the line starting with `marker`."""
    block = text[: text.index(marker)].rsplit("```text\n", 1)[1]
    words = [line.split()[0] for line in block.splitlines() if re.match(r"^[0-9a-f]{64}\b", line)]
    assert words, f"no ABI words before {marker!r}"
    return bytes.fromhex("".join(words))


def test_encoding_page_numbers_follow_from_each_other() -> None:
    text = docs_example.block_in_page("encoding-example")
    ex = docs_example.encoding_example()

    page_input = _page_value(text, "input")
    assert page_input == codec.encode([list(docs_example.EXAMPLE_INPUT)], docs_example.EXAMPLE_SCALE)
    assert codec.decode_ints(page_input).tolist() == [100_000, -1_200_000, 300_000, 2_000_000]
    assert page_input[8:16] == (-1_200_000).to_bytes(8, "big", signed=True)  # two's complement, big-endian
    assert _page_value(text, "inputHash") == keccak(page_input)

    page_output = _page_value(text, "output")
    assert codec.value_at(page_output, 0) == 3_575_000  # 0.1*0.5 - 1.2*0.25 - 0.3 + 2*2 + 0.125, scaled
    assert np.isclose(codec.decode(page_output, (1, 1), docs_example.EXAMPLE_SCALE)[0, 0], 3.575)
    assert _page_value(text, "outputHash") == keccak(page_output)

    model_id = _page_value(text, "modelId = keccak256(file)")
    assert model_id == keccak(docs_example.example_model().SerializeToString())

    params_preimage = _preimage_before(text, "paramsHash")
    request_id, params = abi_decode(["uint256", commitments.REQUEST_PARAMS_ABI], params_preimage)
    assert (request_id, params[0], params[1]) == (1, model_id, keccak(page_input))
    assert _page_value(text, "paramsHash") == keccak(params_preimage) == commitments.request_hash(1, ex.params)

    result_preimage = _preimage_before(text, "commitment ")
    words = [result_preimage[i : i + 32] for i in range(0, len(result_preimage), 32)]
    assert words[1:4] == [model_id, keccak(page_input), keccak(page_output)]
    commitment = _page_value(text, "commitment")
    assert commitment == keccak(result_preimage)
    assert _page_value(text, "commitmentOf(requestId)") == commitments.stored_form(commitment)
    slot = _page_value(text, "slot once FULFILLED")
    assert slot[:16] == commitment[:16]
    assert slot[16:28] == keccak(params_preimage)[:12]
    assert slot[28:31] == (docs_example.EXAMPLE_RESULT_AGE + 1).to_bytes(3, "big")
    assert slot[31] == 2

    assert _page_value(text, "envHash") == keccak(docs_example.canonical_json(docs_example.EXAMPLE_MANIFEST))
    vote_preimage = _preimage_before(text, "commitHash")
    assert _page_value(text, "commitHash") == keccak(vote_preimage)


# ------------------------------------------------------------------------------------------ the config reference


def test_every_config_field_has_a_meaning() -> None:
    fields = {name for name, _ in docs_example.config_fields()}
    meanings = set(docs_example.CONFIG_MEANINGS)
    assert fields - meanings == set(), "fields without a meaning in scripts/docs_example.py CONFIG_MEANINGS"
    assert meanings - fields == set(), "CONFIG_MEANINGS names fields NodeConfig no longer has"


def test_config_reference_shows_defaults() -> None:
    table = docs_example.block_in_page("config-reference")
    assert "| `confirmations` | int (≥ 0, ≤ 64) | `2` | `VERINFER_CONFIRMATIONS` |" in table
    assert '| `modes` | list of mode names | `["SINGLE", "CONSENSUS"]` |' in table
    assert "| `keys` | section | **required** |" in table


# ------------------------------------------------------------------------------------------ the Python API


def test_python_api_reference_describes_every_public_name() -> None:
    import verinfer

    table = docs_example.block_in_page("python-api")
    for name in verinfer.__all__:
        assert f"| `verinfer.{name}` |" in table, f"verinfer.{name} is missing from the dApp guide's API table"
    empty = [line for line in table.splitlines() if line.startswith("| `") and line.rstrip().endswith("|  |")]
    assert empty == [], f"API entries without a description (add a docstring or an API_MEMBER_SUMMARIES entry): {empty}"


# ------------------------------------------------------------------------------------------ the dashboard


def _exprs(dashboard: dict[str, object]) -> list[str]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_dashboard_queries_only_metrics_the_node_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = docs_example.node_metrics()
    series = {s: m for m in metrics for s in m.series}
    exprs = _exprs(dashboard)
    used: set[str] = set()
    for expr in exprs:
        names = re.findall(r"\bverinfer_[a-z_]+\b", expr)
        assert names, f"a dashboard query reads no verinfer metric: {expr}"
        unknown = [name for name in names if name not in series]
        assert unknown == [], f"the dashboard queries {unknown}, which the node does not export ({expr})"
        labels = set(SCRAPE_LABELS).union(*(series[name].labels for name in names))
        grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")}
        assert grouped <= labels, f"{expr} groups by {sorted(grouped - labels)}, labels its metrics do not have"
        used.update(series[name].name for name in names)
    assert used == {m.name for m in metrics}, f"metrics on no panel: {sorted({m.name for m in metrics} - used)}"


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dashboard["uid"] == "verinfer-node"
    assert dashboard["title"]
    assert all(panel["datasource"]["uid"] == "${DS_PROMETHEUS}" for panel in dashboard["panels"])
    text = DASHBOARD.read_text()
    assert "http://" not in text, "the dashboard must load nothing from outside"
    assert "https://" not in text, "the dashboard must load nothing from outside"
