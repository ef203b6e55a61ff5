"""`verinfer watch` before any chain is touched: its command line is a layer over the node's config, as the
`VERINFER_WATCH__*` variables are, and it leaves the environment as it found it. The watchtower itself runs in
tests/node/integration/test_cli_watch.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.node.unit.test_cli import assert_error
from verinfer.chain.anvil import free_port
from verinfer.cli import app

runner = CliRunner()
OVERRIDDEN = ("VERINFER_WATCH__WATCHTOWER", "VERINFER_WATCH__COMMITTEE", "VERINFER_WATCH__MAX_BOND_WEI")


def config_with(tmp_path: Path, watch: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(
        f'rpc_url = "http://127.0.0.1:{free_port()}"\n[keys]\nprivate_key = "0x{"11" * 32}"\n[watch]\n{watch}\n'
    )
    return path


def test_watch_overrides_the_files_watch_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OVERRIDDEN:
        monkeypatch.delenv(name, raising=False)
    # Values `node run` refuses: the command line replaces them, so the node gets as far as the chain.
    config = config_with(tmp_path, 'watchtower = "maybe"\ncommittee = "perhaps"\nmax_bond_wei = -1')
    assert_error(runner.invoke(app, ["node", "run", "--config", str(config)]), "watch.watchtower", "watch.committee")
    watched = runner.invoke(app, ["watch", "--config", str(config), "--max-bond-wei", "5"])
    assert_error(watched, "no JSON-RPC endpoint answering")
    assert [name for name in OVERRIDDEN if name in os.environ] == []


def test_watch_keeps_the_files_bond_cap_without_the_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_WATCH__WATCHTOWER", "false")  # an operator's own variable, back after the command
    config = config_with(tmp_path, "max_bond_wei = -1")
    assert_error(runner.invoke(app, ["watch", "--config", str(config)]), "watch.max_bond_wei")
    assert os.environ["VERINFER_WATCH__WATCHTOWER"] == "false"
