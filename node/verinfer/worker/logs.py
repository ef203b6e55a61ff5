"""structlog set-up for the node: key=value lines with colour on a terminal, one JSON object per line otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


def configure(stream: TextIO | None = None, *, json: bool | None = None, level: int = logging.INFO) -> None:
    """Configures structlog process-wide; `json=None` picks JSON when `stream` is not a terminal."""
    stream = stream if stream is not None else sys.stderr
    if json is None:
        json = not stream.isatty()
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
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def logger(**context: Any) -> Any:
    return structlog.get_logger("verinfer.node").bind(**context)
