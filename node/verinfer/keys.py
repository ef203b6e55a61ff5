"""The node's signing account, from `[keys]`: an encrypted keystore (eth-account keyfile), or a raw private key on a
devnet only. No message raised here ever contains a key or a password.

`devnet_account` is the raw-key rule on its own: the SDK client and `verinfer deploy` take raw keys through it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from verinfer.errors import ConfigError

if TYPE_CHECKING:
    from verinfer.config import KeysConfig  # annotations only: pydantic is not needed to check a raw key

DEVNET_CHAIN_IDS = frozenset({31337, 1337})


def load_account(keys: KeysConfig, chain_id: int) -> LocalAccount:
    """The account `keys` describes, for a node on `chain_id` (the chain's own id, as the node reports it)."""
    if keys.private_key is not None:
        return devnet_account(keys.private_key.get_secret_value(), chain_id)
    if keys.keystore_path is None:  # KeysConfig already requires one of the two
        raise ConfigError("keys: set keys.keystore_path or keys.private_key")
    return keystore_account(keys.keystore_path, read_password(keys))


def devnet_account(private_key: str, chain_id: int) -> LocalAccount:
    """The account of a raw private key, refused unless the chain is a devnet."""
    if chain_id not in DEVNET_CHAIN_IDS:
        raise ConfigError(
            f"refusing a raw private key on chain {chain_id}: raw keys are for devnets only "
            f"(chain ids {', '.join(map(str, sorted(DEVNET_CHAIN_IDS)))}); use a keystore or signer for real chains "
            "(keys.keystore_path with keys.password_file or keys.password_env)"
        )
    try:
        account: LocalAccount = Account.from_key(private_key)
    except (ValueError, TypeError):
        # `from None`: eth-account's message may quote the key.
        raise ConfigError("keys.private_key is not a valid 32-byte hex private key") from None
    return account


def keystore_account(path: Path, password: str) -> LocalAccount:
    """Decrypts the eth-account keyfile at `path`."""
    keyfile = _read_keyfile(path)
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise ConfigError(f"wrong password for keystore {path}") from None
        raise ConfigError(f"keys.keystore_path: {path} is not a usable eth-account keystore: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"keys.keystore_path: {path} is not an eth-account keystore (no {exc})") from None
    account: LocalAccount = Account.from_key(key)
    return account


def read_password(keys: KeysConfig) -> str:
    """The keystore's password, from `keys.password_file` (one trailing newline dropped) or `keys.password_env`."""
    if keys.password_file is not None:
        try:
            return keys.password_file.read_text().removesuffix("\n").removesuffix("\r")
        except FileNotFoundError as exc:
            raise ConfigError(f"keys.password_file: no password file at {keys.password_file}") from exc
        except OSError as exc:
            raise ConfigError(f"keys.password_file: cannot read {keys.password_file}: {exc.strerror}") from exc
    if keys.password_env is not None:
        password = os.environ.get(keys.password_env)
        if password is None:
            raise ConfigError(
                f"keys.password_env: the environment variable {keys.password_env} is not set; "
                "export the keystore's password in it"
            )
        return password
    raise ConfigError("keys: a keystore needs keys.password_file or keys.password_env")


def _read_keyfile(path: Path) -> dict[str, Any]:
    try:
        keyfile = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"keys.keystore_path: no keystore at {path}") from exc
    except OSError as exc:
        raise ConfigError(f"keys.keystore_path: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"keys.keystore_path: {path} is not JSON, so not an eth-account keystore") from exc
    if not isinstance(keyfile, dict):
        raise ConfigError(f"keys.keystore_path: {path} is not an eth-account keystore (expected a JSON object)")
    return keyfile
