"""The node's signing account: keystore round trips, password sources, and raw keys on devnets only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from verinfer.config import KeysConfig
from verinfer.errors import ConfigError
from verinfer.keys import DEVNET_CHAIN_IDS, devnet_account, load_account

# anvil's first well-known test key (public; devnets only).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "correct horse battery staple"
PASSWORD_ENV = "VERINFER_TEST_KEYSTORE_PASSWORD"


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    """DEV_KEY encrypted under PASSWORD; pbkdf2 with few iterations keeps the test fast."""
    path = tmp_path / "node.json"
    path.write_text(json.dumps(Account.encrypt(bytes.fromhex(DEV_KEY[2:]), PASSWORD, kdf="pbkdf2", iterations=1000)))
    return path


def password_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "password"
    path.write_text(text)
    return path


def test_devnet_chain_ids() -> None:
    assert frozenset({31337, 1337}) == DEVNET_CHAIN_IDS


def test_keystore_with_password_file(tmp_path: Path, keystore: Path) -> None:
    keys = KeysConfig(keystore_path=keystore, password_file=password_file(tmp_path, PASSWORD + "\n"))
    assert load_account(keys, 1).address == DEV_ADDRESS  # keystores work on any chain


def test_password_file_keeps_inner_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(Account.encrypt(bytes.fromhex(DEV_KEY[2:]), " spaced ", kdf="pbkdf2", iterations=1000)))
    keys = KeysConfig(keystore_path=path, password_file=password_file(tmp_path, " spaced \r\n"))
    assert load_account(keys, 1).address == DEV_ADDRESS


def test_keystore_with_password_env(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    keys = KeysConfig(keystore_path=keystore, password_env=PASSWORD_ENV)
    assert load_account(keys, 10).address == DEV_ADDRESS


def test_wrong_password(tmp_path: Path, keystore: Path) -> None:
    keys = KeysConfig(keystore_path=keystore, password_file=password_file(tmp_path, "hunter2"))
    with pytest.raises(ConfigError) as caught:
        load_account(keys, 1)
    assert str(caught.value) == f"wrong password for keystore {keystore}"


def test_unset_password_env(keystore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    keys = KeysConfig(keystore_path=keystore, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError, match=f"keys.password_env: the environment variable {PASSWORD_ENV} is not set"):
        load_account(keys, 1)


def test_missing_password_file(tmp_path: Path, keystore: Path) -> None:
    missing = tmp_path / "no-password"
    keys = KeysConfig(keystore_path=keystore, password_file=missing)
    with pytest.raises(ConfigError, match=re.escape(f"keys.password_file: no password file at {missing}")):
        load_account(keys, 1)


def test_missing_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    missing = tmp_path / "nope.json"
    keys = KeysConfig(keystore_path=missing, password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError, match=re.escape(f"keys.keystore_path: no keystore at {missing}")):
        load_account(keys, 1)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not JSON, so not an eth-account keystore"),
        ("[1, 2]", "is not an eth-account keystore \\(expected a JSON object\\)"),
        ('{"version": 3}', "is not an eth-account keystore"),
    ],
)
def test_malformed_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_account(KeysConfig(keystore_path=path, password_env=PASSWORD_ENV), 1)


@pytest.mark.parametrize("chain_id", sorted(DEVNET_CHAIN_IDS))
def test_raw_key_on_devnets(chain_id: int) -> None:
    assert load_account(KeysConfig(private_key=SecretStr(DEV_KEY)), chain_id).address == DEV_ADDRESS


def test_raw_key_refused_on_real_chains() -> None:
    with pytest.raises(ConfigError) as caught:
        load_account(KeysConfig(private_key=SecretStr(DEV_KEY)), 1)
    message = str(caught.value)
    assert message.startswith("refusing a raw private key on chain 1: raw keys are for devnets only (chain ids 1337")
    assert "keys.keystore_path" in message
    assert DEV_KEY[2:] not in message


@pytest.mark.parametrize("bad", ["0x1234", "0x" + "zz" * 32, DEV_KEY + "00", ""])
def test_malformed_raw_key_is_not_echoed(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"^keys\.private_key is not a valid") as caught:
        load_account(KeysConfig(private_key=SecretStr(bad)), 31337)
    assert str(caught.value) == "keys.private_key is not a valid 32-byte hex private key"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_devnet_account_takes_raw_keys_on_devnets_only() -> None:
    """The raw-key rule the SDK client and `verinfer deploy` go through: a devnet accepts it, chain 1 refuses it."""
    assert devnet_account(DEV_KEY, 1337).address == DEV_ADDRESS
    with pytest.raises(ConfigError, match=r"refusing a raw private key on chain 1: raw keys are for devnets only"):
        devnet_account(DEV_KEY, 1)


def test_keys_repr_hides_the_key() -> None:
    keys = KeysConfig(private_key=SecretStr(DEV_KEY))
    for text in (repr(keys), str(keys), keys.model_dump_json()):
        assert DEV_KEY[2:] not in text
