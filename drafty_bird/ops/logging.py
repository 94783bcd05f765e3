"""JSON-lines logs on stdout, each line carrying the current request id.

The original service's log shape is kept (timestamp, level, message, request_id, ...)
so existing Log Analytics queries keep working.
"""

import logging
import sys
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

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


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestContext())
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}{request_id}{trace_id}{span_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
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
