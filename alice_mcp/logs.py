"""structlog to stderr: stdout belongs to MCP in server mode and to results in the CLI."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class StderrLogger:
    """Writes each line to whatever sys.stderr is now (a progress bar may have redirected it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = msg


def scrub_keys(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the providers' API keys (as set, or lower-cased) never reach a log
    line, whatever put them in one (the provider errors mask pieces of them already)."""
    keys = [k for var in KEY_VARIABLES if len(k := os.environ.get(var, "").strip()) >= 8]
    if keys:
        for name, value in event.items():
            if isinstance(value, str):
                for key in keys:
                    value = value.replace(key, "***").replace(key.lower(), "***")
                event[name] = value
    return event


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
            scrub_keys,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=lambda *_: StderrLogger(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(stream=sys.stderr, level=_LEVELS.get(level, logging.INFO), force=True)
