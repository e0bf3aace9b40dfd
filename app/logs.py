"""Logging: every line of a request names its request id, GraphQL operation, viewer kind and
the time since the request began; `LOG_FORMAT=json` writes each line as one JSON object."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson


@dataclass
class RequestLog:
    """What the lines of one request share; filled in as the request learns it."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    operation: str | None = None
    viewer_kind: str | None = None

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


# Set by the request middleware for the task serving the request; the GraphQL extension
# fills in the operation and viewer on the same object, so later lines carry them too.
current_request: ContextVar[RequestLog | None] = ContextVar("current_request", default=None)

REQUEST_FIELDS = ("request_id", "operation", "viewer_kind", "duration_ms")
# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Passed with `extra=` for terminals only: uvicorn's copy of the message with colour codes.
_TERMINAL_ONLY = {"color_message"}


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request.get()
        record.request_id = request.request_id if request else None
        record.operation = request.operation if request else None
        record.viewer_kind = request.viewer_kind if request else None
        if not hasattr(record, "duration_ms"):
            record.duration_ms = request.elapsed_ms() if request else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES | _TERMINAL_ONLY and not key.startswith("_")
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """One line for people: the request's id, operation, viewer and time in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = (getattr(record, name, None) for name in REQUEST_FIELDS)
        request_id, operation, viewer_kind, duration_ms = fields
        record.request = (
            f" [{request_id} {operation or '-'} {viewer_kind or '-'} {duration_ms}ms]"
            if request_id
            else ""
        )
        return super().format(record)


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Route every logger, uvicorn's and arq's included, through one handler on stderr."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The request middleware writes the access line, with the request's fields.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection
