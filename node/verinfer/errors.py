"""Every error verinfer raises, one subclass per layer.

    VerinferError                 root: catch this to catch everything verinfer raises
    ├── ConfigError               a setting is missing or invalid (says which one and how to fix it)
    ├── ArtifactError             the forge build output (out/) is missing or unreadable
    ├── ChainError                RPC, transaction or receipt trouble
    │   └── ContractRevert        a contract reverted; carries the decoded error name and arguments
    └── ModelError                model files, inference runs, tensors
        └── CodecError            a tensor cannot be encoded or decoded canonically

Lower-level exceptions are wrapped with `raise ... from exc`, so the original stays in `__cause__`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class VerinferError(Exception):
    """Root of every error verinfer raises."""


class ConfigError(VerinferError):
    """A setting is missing or invalid."""


class ArtifactError(VerinferError):
    """The contract build output is missing or unreadable."""


class ChainError(VerinferError):
    """Talking to the chain failed: RPC, transaction, receipt."""


class ModelError(VerinferError):
    """A model, an inference run or a tensor is unusable."""


class CodecError(ModelError, ValueError):
    """A tensor cannot be encoded or decoded canonically (see `verinfer.inference.codec`)."""


def format_value(value: object) -> str:
    """How a decoded revert argument reads: bytes as 0x-hex, enums by name, addresses bare, other strings quoted."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, str):
        return value if _ADDRESS.fullmatch(value) else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


class ContractRevert(ChainError):  # noqa: N818 - it is the revert itself, named as the contracts name it
    """A contract reverted with a decodable reason.

    `name` is the Solidity error's name (`InsufficientFee`, or `Error` for a revert string, `Panic` for a panic code),
    `arguments` maps each parameter name to its decoded value, `signature` is the canonical signature and `data` the
    raw revert data. `str()` reads like the Solidity call: `InsufficientFee(paid=1, required=5)`.
    """

    def __init__(
        self,
        name: str,
        arguments: Mapping[str, object] | None = None,
        *,
        signature: str = "",
        data: bytes = b"",
    ) -> None:
        self.name = name
        self.arguments: Mapping[str, object] = MappingProxyType(dict(arguments or {}))
        self.signature = signature
        self.data = data
        rendered = ", ".join(f"{key}={format_value(value)}" for key, value in self.arguments.items())
        super().__init__(f"{name}({rendered})")

    def __getitem__(self, key: str) -> object:
        return self.arguments[key]

    def __repr__(self) -> str:
        return f"ContractRevert({self})"

    @property
    def selector(self) -> bytes:
        """The first four bytes of the revert data (empty for a bare revert)."""
        return self.data[:4]
