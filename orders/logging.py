"""structlog configuration: console lines in a terminal, JSON lines otherwise, on stderr.

Context bound with `structlog.contextvars` (stream, revision, command_id, correlation_id)
appears on every line; any `scheme://user:password@` in a value is masked. Loggers are
cached on first use (a filtered-out call then costs nothing), so configure before logging.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from orders.settings import mask_secrets


def configure_logging(
    *, json: bool | None = None, level: str | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog for `orders`.

    `json=None` picks console output when `stream` (default stderr) is a terminal and JSON
    otherwise; `ORDERS_LOG_FORMAT=json|console` overrides that. `level` defaults to
    `ORDERS_LOG_LEVEL` or "warning".
    """
    out = stream or sys.stderr
    tail = _renderers(json, out)
    name = (level or os.environ.get("ORDERS_LOG_LEVEL") or "warning").upper()
    numeric = logging.getLevelNamesMapping().get(name, logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,  # a filtered-out call then costs ~nothing
    )


def quiet_grpc_core() -> None:
    """Keep gRPC's C core from printing its info lines on a user's terminal (a failed TLS
    handshake logs one per attempt); the command's own message says what failed. Call it
    before the first channel is made; GRPC_VERBOSITY set in the environment still wins."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def ensure_logging() -> None:
    """Configure logging unless the application already configured structlog."""
    if not structlog.is_configured():
        configure_logging()


def _renderers(json: bool | None, out: TextIO) -> list[structlog.typing.Processor]:
    chosen = os.environ.get("ORDERS_LOG_FORMAT", "").lower()
    if json is None:
        json = chosen == "json" or (chosen != "console" and not out.isatty())
    if json:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer(colors=out.isatty())]


def _mask(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and "@" in value:
            event[key] = mask_secrets(value)
    return event
