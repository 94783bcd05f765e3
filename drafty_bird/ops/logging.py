"""JSON-lines logs on stdout, each line carrying the current request id.

The original service's log shape is kept (timestamp, level, message, request_id, ...)
so existing Log Analytics queries keep working.
"""

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestContext())
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours; its errors still reach the root handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "nicegui"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Migration chatter on every start-up is noise; failures still log as errors.
    logging.getLogger("alembic").setLevel(logging.WARNING)
