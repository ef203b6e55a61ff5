"""What every `verinfer` command shares: the one-line error convention, the JSON and hex printers, the Rich console.

Light on purpose, like the command modules: typer and the base layer only; Rich loads when something is printed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from verinfer.errors import ConfigError, ContractRevert, VerinferError

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def console() -> Console:
    """The console tables and progress print to (stdout as it is at each print, so test runners can capture it)."""
    from rich.console import Console

    return Console()


def logs_to_stderr() -> None:
    """Sends structlog's lines to stderr, for the commands that run code that logs (the ZK pipeline, the devnet), so
    that stdout holds only what the command prints (its --json document above all)."""
    from verinfer.node import logs

    logs.configure()


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
