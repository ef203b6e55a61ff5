"""structlog set-up for the node: key=value lines with colour on a terminal, one JSON object per line otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


class _Stderr:
    """Whatever `sys.stderr` is at the moment of writing (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(stream: TextIO | None = None, *, json: bool | None = None, level: int = logging.INFO) -> None:
    """Configures structlog process-wide, writing to `stream` (default: the current stderr, looked up at each write);
    `json=None` picks JSON when it is not a terminal."""
    target: Any = stream if stream is not None else _Stderr()
    if json is None:
        json = not target.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(target),
        cache_logger_on_first_use=False,
    )


def logger(**context: Any) -> Any:
    return structlog.get_logger("verinfer.node").bind(**context)
