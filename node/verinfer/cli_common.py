"""What every `verinfer` command shares: the one-line error convention and the JSON and hex printers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import typer

from verinfer.errors import ConfigError, ContractRevert, VerinferError


@contextmanager
def errors(fixes: Mapping[str, str] | None = None) -> Iterator[None]:
    """Any `VerinferError` becomes one line on stderr, `error: ...`, and exit code 1. A multi-line message (one bad
    config field per line) is joined: "head: field one; field two". A revert named in `fixes` gets its fix appended.
    Plain echo, not Rich: no markup in messages, no wrapping onto a second line."""
    try:
        yield
    except VerinferError as exc:
        head, *rest = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        message = " ".join([head, "; ".join(rest)]) if rest else head
        if fixes and isinstance(exc, ContractRevert) and exc.name in fixes:
            message += f": {fixes[exc.name]}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from exc


def echo_json(document: object) -> None:
    typer.echo(json.dumps(document, indent=2))


def hex_(value: bytes) -> str:
    return "0x" + value.hex()


def bytes32(text: str, what: str) -> bytes:
    """A 0x-prefixed 32-byte hex string (a model id, an environment hash); ConfigError naming `what` otherwise."""
    try:
        value = bytes.fromhex(text[2:]) if text[:2].lower() == "0x" else b""
    except ValueError:
        value = b""
    if len(value) != 32:
        raise ConfigError(f"{what} must be 32 bytes as 0x-hex (0x + 64 hex digits), got {text!r}")
    return value
