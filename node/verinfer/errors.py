"""Every error verinfer raises, one subclass per layer.

    VerinferError                 root: catch this to catch everything verinfer raises
    ├── ConfigError               a setting is missing or invalid (says which one and how to fix it)
    │   └── MissingExtraError     an optional part was used without its extra installed (names the pip command)
    ├── ArtifactError             a packaged ABI or the forge build output (out/) is missing or unreadable
    ├── ChainError                RPC, transaction or receipt trouble
    │   └── ContractRevert        a contract reverted; carries the decoded error name and arguments
    └── ModelError                model files, inference runs, tensors
        ├── CodecError            a tensor cannot be encoded or decoded canonically
        └── ModelCardError        a model card is malformed or does not describe its file

Lower-level exceptions are wrapped with `raise ... from exc`, so the original stays in `__cause__`.
"""

from __future__ import annotations

import enum
import importlib.util
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class VerinferError(Exception):
    """Root of every error verinfer raises."""


class ConfigError(VerinferError):
    """A setting is missing or invalid."""


class MissingExtraError(ConfigError):
    """An optional part of verinfer (the node service, ZK, the demo) was used without the extra that installs it."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(f"{what} needs {module}, which is not installed: pip install 'verinfer[{extra}]'")


@contextmanager
def requires_extra(what: str, extra: str) -> Iterator[None]:
    """Turns a missing third-party module, imported inside the block, into a `MissingExtraError` naming `extra`.
    A missing verinfer module is a bug, not a missing extra: it propagates as it is."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == "verinfer":
            raise
        raise MissingExtraError(what, extra, exc.name) from exc


def require_modules(what: str, extra: str, *modules: str) -> None:
    """Raises `MissingExtraError` for the first of `modules` that is not installed (looked up, not imported), so that a
    command fails before it starts anything rather than half-way through."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(what, extra, module)


class ArtifactError(VerinferError):
    """A packaged contract ABI or the contract build output is missing or unreadable."""


class ChainError(VerinferError):
    """Talking to the chain failed: RPC, transaction, receipt."""


class ModelError(VerinferError):
    """A model, an inference run or a tensor is unusable."""


class CodecError(ModelError, ValueError):
    """A tensor cannot be encoded or decoded canonically (see `verinfer.inference.codec`)."""


class ModelCardError(ModelError, ValueError):
    """A model card (`ModelSpec.card`) is malformed or does not describe its model file (`verinfer.inference.card`)."""


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
