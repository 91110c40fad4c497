"""structlog to stderr: stdout belongs to MCP in server mode and to results in the CLI."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class StderrLogger:
    """Writes each line to whatever sys.stderr is now (a progress bar may have redirected it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = msg


def configure_logging(level: str = "info", *, json: bool = False) -> None:
    """Route every structlog and stdlib log line to stderr at the given level."""
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=lambda *_: StderrLogger(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(stream=sys.stderr, level=_LEVELS.get(level, logging.INFO), force=True)
