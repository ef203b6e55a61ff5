"""The thin CLI, through Typer's CliRunner."""

from __future__ import annotations

from typer.testing import CliRunner

from verinfer import __version__
from verinfer.chain.anvil import free_port
from verinfer.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_deploy_needs_a_key() -> None:
    result = runner.invoke(app, ["deploy"], env={"VERINFER_PRIVATE_KEY": ""})
    assert result.exit_code != 0


def test_deploy_reports_an_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["deploy", "--rpc-url", url, "--private-key", "0x" + "11" * 32])
    assert result.exit_code == 1
    assert "no JSON-RPC endpoint answering" in result.output
