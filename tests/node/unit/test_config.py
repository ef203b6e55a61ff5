"""The node's configuration: file plus environment; each bad field named with its value, what is allowed, the fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from verinfer.config import NodeConfig, load_config
from verinfer.errors import ConfigError
from verinfer.types import Mode

# anvil's first well-known test key (public; devnets only).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

MINIMAL = """
rpc_url = "http://127.0.0.1:8545"
[keys]
keystore_path = "/keys/node.json"
password_env = "NODE_PASSWORD"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("VERINFER_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def config_error(path: Path | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.rpc_url == "http://127.0.0.1:8545"
    assert config.chain_id is None
    assert config.keys.keystore_path == Path("/keys/node.json")
    assert config.keys.password_env == "NODE_PASSWORD"
    assert config.journal_path == Path.home() / ".verinfer/journal.sqlite"
    assert config.modes == (Mode.SINGLE, Mode.CONSENSUS)
    assert config.batch.max_items == 16
    assert config.runner.graph_optimization_level == "basic"
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9464)
    assert config.policy.min_fee_wei == 0


def test_full_file(tmp_path: Path) -> None:
    top = 'chain_id = 1\nmodes = ["single"]\nconfirmations = 64\njournal_path = "~/j.sqlite"\n'
    sections = """
[batch]
max_items = 256
max_gas = 5000000
[runner]
intra_op_threads = 4
graph_optimization_level = "disabled"
[policy]
min_fee_wei = 1000
[metrics]
host = "0.0.0.0"
port = 9100
"""
    config = load_config(write(tmp_path, top + MINIMAL + sections))
    assert config.chain_id == 1
    assert config.modes == (Mode.SINGLE,)
    assert config.confirmations == 64
    assert config.journal_path == Path.home() / "j.sqlite"
    assert (config.batch.max_items, config.batch.max_gas) == (256, 5_000_000)
    assert (config.runner.intra_op_threads, config.runner.graph_optimization_level) == (4, "disabled")
    assert config.policy.min_fee_wei == 1000
    assert (config.metrics.host, config.metrics.port) == ("0.0.0.0", 9100)


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_RPC_URL", "wss://rpc.example.org")
    monkeypatch.setenv("VERINFER_BATCH__MAX_ITEMS", "8")
    monkeypatch.setenv("VERINFER_MODES", '["CONSENSUS"]')
    config = load_config(write(tmp_path, MINIMAL + "[batch]\nmax_items = 100\nmax_gas = 123\n"))
    assert config.rpc_url == "wss://rpc.example.org"
    assert config.batch.max_items == 8
    assert config.batch.max_gas == 123  # the rest of the section still comes from the file
    assert config.modes == (Mode.CONSENSUS,)


def test_env_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.setenv("VERINFER_KEYS__PRIVATE_KEY", DEV_KEY)
    config = load_config(None)
    assert config.keys.private_key is not None
    assert config.keys.private_key.get_secret_value() == DEV_KEY


def test_missing_required_fields_say_how_to_set_them() -> None:
    message = config_error(None)
    assert "rpc_url: required but not set" in message
    assert "set VERINFER_RPC_URL or `rpc_url` in node.toml" in message
    assert "keys: required but not set" in message
    assert "VERINFER_KEYS__KEYSTORE_PATH" in message


@pytest.mark.parametrize(
    ("line", "section", "expected"),
    [
        ('rpc_url = "ftp://x"', None, "rpc_url = 'ftp://x': must be an http(s) or ws(s) URL with a host"),
        ('rpc_url = "http://"', None, "rpc_url = 'http://': must be an http(s) or ws(s) URL"),
        ("chain_id = 0", None, "chain_id = 0: input should be greater than or equal to 1"),
        ("max_model_bytes = 0", None, "max_model_bytes = 0: input should be greater than 0; allowed: > 0."),
        ("fetch_timeout_s = -1", None, "fetch_timeout_s = -1: input should be greater than 0"),
        ("confirmations = 65", None, "confirmations = 65: input should be less than or equal to 64"
            "; allowed: >= 0 and <= 64"),
        ("max_log_range = 0", None, "max_log_range = 0: input should be greater than or equal to 1"
            "; allowed: >= 1 and <= 10000"),
        ("poll_interval_s = 0", None, "poll_interval_s = 0: input should be greater than 0"),
        ('modes = ["FAST"]', None, "modes = ['FAST']: unknown mode 'FAST'"),
        ("modes = []", None, "modes = []: must be a non-empty list of mode names"),
        ("max_items = 257", "batch", "batch.max_items = 257: input should be less than or equal to 256"
            "; allowed: >= 1 and <= 256"),
        ("max_gas = 0", "batch", "batch.max_gas = 0: input should be greater than 0"),
        ("intra_op_threads = 0", "runner", "runner.intra_op_threads = 0: input should be greater than or equal to 1"
            "; allowed: >= 1"),
        ('graph_optimization_level = "max"', "runner", "runner.graph_optimization_level = 'max': input should be "
            "'disabled', 'basic', 'extended' or 'all'; allowed: one of disabled, basic, extended, all"),
        ("min_fee_wei = -1", "policy", "policy.min_fee_wei = -1: input should be greater than or equal to 0"),
        ("port = 70000", "metrics", "metrics.port = 70000: input should be less than or equal to 65535"
            "; allowed: >= 0 and <= 65535"),
        ('port = "http"', "metrics", "metrics.port = 'http': input should be a valid integer"),
    ],
)  # fmt: skip
def test_each_bad_field_is_named_with_its_value_and_fix(
    tmp_path: Path, line: str, section: str | None, expected: str
) -> None:
    body = f"{line}\n{MINIMAL}" if section is None else f"{MINIMAL}[{section}]\n{line}\n"
    if line.startswith("rpc_url"):
        body = body.replace('rpc_url = "http://127.0.0.1:8545"\n', "")
    message = config_error(write(tmp_path, body))
    assert message.startswith(f"invalid configuration ({tmp_path / 'node.toml'}):")
    assert expected in message
    name = line.split(" = ")[0]
    if section is None:
        assert f"Fix: set VERINFER_{name.upper()} or `{name}` in node.toml" in message
    else:
        env = f"VERINFER_{section.upper()}__{name.upper()}"
        assert f"Fix: set {env} or `{name}` under [{section}] in node.toml" in message
    assert len(message.splitlines()) == 2  # one header, one bad field


def test_all_bad_fields_are_listed_at_once(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, f"confirmations = 99\n{MINIMAL}[batch]\nmax_items = 0\n"))
    assert "confirmations = 99" in message
    assert "batch.max_items = 0" in message


def test_zk_mode_needs_the_proving_artifacts(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, 'modes = ["ZK"]\n' + MINIMAL))
    assert "modes includes ZK but zk.artifacts_dir is not set: point it at the ZK models' proving artifacts" in message
    config = load_config(write(tmp_path, 'modes = ["SINGLE", "ZK"]\n' + MINIMAL + '[zk]\nartifacts_dir = "zk"\n'))
    assert config.modes == (Mode.SINGLE, Mode.ZK)
    assert config.zk.artifacts_dir == Path("zk")


def test_env_value_errors_say_the_variable_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_METRICS__PORT", "-1")
    message = config_error(write(tmp_path, MINIMAL + "[metrics]\nport = 9100\n"))
    assert "metrics.port = '-1': input should be greater than or equal to 0" in message
    assert "VERINFER_METRICS__PORT (it is set now, and wins over the file)" in message


def test_env_parse_failure_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_MODES", "SINGLE,CONSENSUS")
    with pytest.raises(ConfigError, match=r"VERINFER_\* environment variables: .*modes.*take JSON"):
        load_config(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus = 1\n" + MINIMAL, "bogus = 1: unknown field (check the spelling); allowed: the fields rpc_url, "),
        (MINIMAL + "[batch]\nmax_itemz = 3\n", "batch.max_itemz = 3: unknown field (check the spelling)"
            "; allowed: the fields max_items, max_gas. Fix: remove `max_itemz` under [batch] from node.toml"),
        (MINIMAL + "[extras]\nx = 1\n", "extras: unknown field (check the spelling)"),
    ],
)  # fmt: skip
def test_unknown_fields_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    message = config_error(write(tmp_path, text))
    assert expected in message
    assert "unknown field" in message


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            f'keystore_path = "/k.json"\npassword_env = "P"\nprivate_key = "{DEV_KEY}"',
            "keys: set exactly one of keys.keystore_path (an eth-account keyfile) or keys.private_key (devnets)",
        ),
        ('password_env = "P"', "keys: set exactly one of keys.keystore_path"),
        ('keystore_path = "/k.json"', "keys: a keystore needs exactly one password source"),
        ('keystore_path = "/k.json"\npassword_env = "P"\npassword_file = "/p"', "exactly one password source"),
        (f'private_key = "{DEV_KEY}"\npassword_env = "P"', "apply to a keystore only"),
        ('keystore_path = "/k.json"\npassword_env = ""', "keys.password_env = '': string should have at least 1"),
    ],
)
def test_keys_section_rules(tmp_path: Path, keys: str, expected: str) -> None:
    message = config_error(write(tmp_path, f'rpc_url = "http://127.0.0.1:8545"\n[keys]\n{keys}\n'))
    assert expected in message
    assert DEV_KEY not in message
    assert DEV_KEY[2:] not in message


def test_bad_private_key_value_is_hidden(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, 'rpc_url = "http://127.0.0.1:8545"\n[keys]\nprivate_key = 12345678901\n'))
    assert "keys.private_key = <hidden>: input should be a valid string" in message
    assert "12345678901" not in message


def test_secrets_stay_out_of_repr_str_and_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.setenv("VERINFER_KEYS__PRIVATE_KEY", DEV_KEY)
    config = load_config(None)
    for text in (repr(config), str(config), repr(config.keys), config.model_dump_json(), str(config.model_dump())):
        assert DEV_KEY[2:] not in text
    assert "**********" in repr(config.keys)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"no config file at {path}")):
        load_config(path)


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'rpc_url = "http://x"\n[batch\nmax_items = 1\n')
    with pytest.raises(ConfigError, match=re.escape(f"config file {path} is not valid TOML: ") + r".*line 2"):
        load_config(path)


def test_config_is_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERINFER_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.setenv("VERINFER_KEYS__PRIVATE_KEY", DEV_KEY)
    config = load_config(None)
    with pytest.raises(ValueError, match="frozen"):
        config.confirmations = 3
    assert isinstance(config, NodeConfig)
