"""Logs an operator can use: a refused request is one line, and every line is JSON when asked.

BentoML's handler logs every client error it raises (a request that fails validation) as an ERROR with
a 30-line traceback, so a burst of bad requests floods the log and trips any log-based alert. Those
records are dropped here; the middleware writes one WARNING line per refused request instead, with the
status, the reason and the request id (what the caller sent is escaped: `printable`).
`ML_PLATFORM_LOG_FORMAT=json` makes every line a JSON object.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

BENTOML_HANDLER_LOGGER = "bentoml._internal.server.http_app"
FIELDS = "ml_platform"  # the `extra` key our records carry their fields under (BentoML overwrites `request_id`)


class DropClientErrorTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_client_error(record.exc_info[1] if record.exc_info else None)


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request's fields, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line |= getattr(record, FIELDS, {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def printable(text: str, limit: int = 200) -> str:
    """A caller's text (a path, an error quoting it) as it may enter a log line: control characters and
    line separators escaped, so a `%0a` in a path cannot forge a line, and at most `limit` characters."""
    text = text[:limit] + ("..." if len(text) > limit else "")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def configure(log_format: str) -> None:
    """Call once logging is set up in the worker (from the service's `__init__`)."""
    logging.getLogger(BENTOML_HANDLER_LOGGER).addFilter(DropClientErrorTracebacks())
    if log_format == "json":
        for handler in _every_handler():
            handler.setFormatter(JsonLines())


def _every_handler() -> set[logging.Handler]:
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]
    return {handler for logger in loggers if isinstance(logger, logging.Logger) for handler in logger.handlers}


def _is_client_error(exc: BaseException | None) -> bool:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return True
    return isinstance(exc, BentoMLException) and 400 <= exc.error_code.value < 500
