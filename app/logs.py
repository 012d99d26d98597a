"""Structured logging: JSON lines on stderr, quiet (WARNING) by default."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


_LOGGED = "__coolpapers_logged__"


def mark_logged(exc: BaseException) -> None:
    """Note that the app's 500 handler has logged this exception (with its request id)."""
    setattr(exc, _LOGGED, True)


class AlreadyLogged(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application": Starlette re-raises an exception after its
    500 handler has answered and logged it, and uvicorn would log the same traceback again, without
    the request id. Anything the app did not log (a crash outside a request) still gets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED, False)


# A profile's token is its only key, and it travels in the path (/api/v1/profiles/<token>/...).
_TOKEN_IN_PATH = re.compile(r"(/profiles/)[A-Za-z0-9_-]{16,}")


def loggable_path(path: str) -> str:
    """A request path fit for a log line: a profile's token is cut out."""
    return _TOKEN_IN_PATH.sub(r"\1<token>", path)


class RedactedAccess(logging.Filter):
    """uvicorn's access lines (`client - "GET <path> HTTP/1.1" 200`, on at Compose's log level) without
    profile tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], loggable_path(args[2]), *args[3:])
        return True


def configure_logging(level: str = "WARNING") -> None:
    from app.observability import RequestIdFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, AlreadyLogged) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(AlreadyLogged())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedAccess) for f in access.filters):
        access.addFilter(RedactedAccess())
