"""JSON-lines logs on stdout, each line carrying the current request id.

The original service's log shape is kept (timestamp, level, message, request_id, ...)
so existing Log Analytics queries keep working.
"""

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonEncoder, JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        # The active span's ids tie each log line to its trace (null outside a span).
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        return True


class _JsonLines(JsonFormatter):
    """python-json-logger's lines, byte for byte, with less work per record.

    Every request writes one line (the access log), so the common record (a plain message,
    no exception, no stack) skips the library's general path: the same fields in the same
    order, encoded by one reused encoder of the library's own class. Anything else goes
    the library's way. tests/ops/test_log_format.py holds both to the same output.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rename = self.rename_fields
        self._fields = [(field, rename.get(field, field)) for field in self._required_fields]
        self._plain = not (self.defaults or self.static_fields or self.rename_fields_keep_missing or self.prefix)
        self._plain = self._plain and self.json_encoder is JsonEncoder and self.json_default is None
        self._plain = self._plain and self.json_indent is None and self.timestamp is True
        self._plain = self._plain and "asctime" not in self._required_fields
        self._encoder = JsonEncoder(ensure_ascii=self.json_ensure_ascii)

    def format(self, record: logging.LogRecord) -> str:
        if not self._plain or isinstance(record.msg, dict) or record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = record.getMessage()
        attributes = record.__dict__
        data = {name: attributes.get(field) for field, name in self._fields}
        skip, rename = self._skip_fields, self.rename_fields
        for key, value in attributes.items():
            if key not in skip and not key.startswith("_"):
                data[rename.get(key, key)] = value
        data[rename.get("timestamp", "timestamp")] = datetime.fromtimestamp(record.created, tz=UTC)
        return self._encoder.encode(data)


def json_formatter() -> JsonFormatter:
    """The formatter of every log line."""
    return _JsonLines(
        "{levelname}{name}{message}{request_id}{trace_id}{span_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestContext())
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours; its errors still reach the root handler.
    # socket.io's two add a plain-text stderr handler of their own at import: one JSON copy only.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "nicegui", "engineio.server", "socketio.server"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Migration chatter on every start-up is noise; failures still log as errors.
    logging.getLogger("alembic").setLevel(logging.WARNING)
