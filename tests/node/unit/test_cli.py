"""The thin CLI, through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from verinfer import __version__
from verinfer.chain.anvil import free_port
from verinfer.cli import app
from verinfer.inference.manifest import manifest_hash

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


# -- every expected error is one line on stderr, `error: ...`, and exit code 1 -----------------------------------------

KEY = "0x" + "11" * 32
MODEL = "0x" + "ab" * 32


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


def assert_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def test_deploy_error_is_one_line() -> None:
    result = runner.invoke(app, ["deploy", "--rpc-url", unreachable(), "--private-key", KEY])
    assert_error(result, "no JSON-RPC endpoint answering")


def test_env_show_json_shape() -> None:
    result = runner.invoke(app, ["env", "show", "--threads", "2", "--opt-level", "extended", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"manifest", "hash"}
    env = document["manifest"]
    assert env["verinfer"] == __version__
    assert (env["intra_op_threads"], env["graph_optimization_level"]) == (2, "extended")
    assert document["hash"] == "0x" + manifest_hash(env).hex()


def test_env_show_prints_the_manifest_and_its_hash() -> None:
    result = runner.invoke(app, ["env", "show"])
    assert result.exit_code == 0, result.output
    default = json.loads(runner.invoke(app, ["env", "show", "--json"]).stdout)
    assert default["manifest"]["intra_op_threads"] == 1
    assert f"hash {default['hash']}" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--threads", "0"], "intra_op_threads"), (["--opt-level", "fastest"], "graph_optimization_level")],
)
def test_env_show_refuses_bad_settings(args: list[str], fragment: str) -> None:
    assert_error(runner.invoke(app, ["env", "show", *args]), fragment)


@pytest.mark.parametrize("model_id", ["0x12", "ab" * 32, "0x" + "zz" * 32, "0x" + "ab" * 33])
def test_model_show_refuses_a_bad_model_id(model_id: str) -> None:
    assert_error(runner.invoke(app, ["model", "show", model_id, "--rpc-url", unreachable()]), "MODEL_ID", "32 bytes")


def test_request_refuses_a_bad_model_id() -> None:
    result = runner.invoke(app, ["request", "0x12", "--input", "[[1]]", "--private-key", KEY])
    assert_error(result, "MODEL_ID")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--input", "[[1, 2"], "--input is not JSON"),
        (["--input", '{"x": 1}'], "JSON array"),
        ([], "--input"),
        (["--input", "[[1]]", "--input-csv", "x.csv"], "not both"),
        (["--input-csv", "/nonexistent/input.csv"], "cannot read --input-csv"),
        (["--input", "[[1, null]]"], "--input[0][1] is null, not a number"),
        (["--input", '[[1, "5.1"]]'], '--input[0][1] is "5.1", not a number'),
        (["--input", "[true, 2]"], "--input[0] is true, not a number"),
        (["--input", '[[1], [2, {"a": 1}]]'], "--input[1][1]"),
    ],
)
def test_request_refuses_bad_input(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["request", MODEL, *args, "--private-key", KEY, "--rpc-url", unreachable()])
    assert_error(result, fragment)


def test_request_refuses_a_csv_of_words(tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    path.write_text("1,2\nthree,4\n")
    result = runner.invoke(app, ["request", MODEL, "--input-csv", str(path), "--private-key", KEY])
    assert_error(result, "line 2, column 1: 'three' is not a number")


def test_request_reads_a_csv_with_a_header_row(tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    path.write_text("age,income\n1,2\n")
    args = ["request", MODEL, "--input-csv", str(path), "--private-key", KEY, "--rpc-url", unreachable()]
    assert_error(runner.invoke(app, args), "no JSON-RPC endpoint answering")  # past the input, on to the chain


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"x": [[0.1, 2]], "ids": [[3]]}', "no JSON-RPC endpoint answering"),
        ('{"ids": [[null]]}', '--input["ids"][0][0]'),
    ],
    ids=["named", "named-null"],
)
def test_request_takes_named_inputs_as_a_json_object(text: str, fragment: str) -> None:
    result = runner.invoke(app, ["request", MODEL, "--input", text, "--private-key", KEY, "--rpc-url", unreachable()])
    assert_error(result, fragment)  # past the input, on to the chain; or the named position of a bad value


def test_model_register_refuses_a_missing_file(tmp_path: Path) -> None:
    args = ["model", "register", str(tmp_path / "absent.onnx"), "--uri", "file:///x", "--price", "1"]
    assert_error(runner.invoke(app, [*args, "--private-key", KEY]), "no model file at")


def test_model_register_refuses_a_bad_environment(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"onnx")
    args = ["model", "register", str(path), "--uri", "file:///x", "--price", "1", "--allowed-env", "0x01"]
    assert_error(runner.invoke(app, [*args, "--private-key", KEY]), "--allowed-env")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--zk"], "--zk needs --calibration-csv"),
        (["--calibration-csv", "rows.csv"], "--calibration-csv and --srs apply to --zk only"),
        (["--srs", "kzg.srs"], "--calibration-csv and --srs apply to --zk only"),
    ],
)
def test_model_register_zk_options_are_checked_before_connecting(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"onnx")
    args = ["model", "register", str(path), "--uri", "file:///x", "--price", "1", "--rpc-url", unreachable()]
    assert_error(runner.invoke(app, [*args, *extra, "--private-key", KEY]), message)


def test_verify_refuses_a_missing_model_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "1", "--model", str(tmp_path / "absent.onnx")])
    assert_error(result, "no model file at")


@pytest.mark.parametrize(
    "args",
    [
        ["model", "list"],
        ["model", "show", MODEL],
        ["result", "1"],
        ["verify", "1"],
        ["request", MODEL, "--input", "[[1]]", "--private-key", KEY],
    ],
)
def test_chain_commands_report_an_unreachable_endpoint(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--rpc-url", unreachable()], env={"VERINFER_PRIVATE_KEY": ""})
    assert_error(result, "no JSON-RPC endpoint answering")
