"""ops/logging.py's formatter writes what python-json-logger's JsonFormatter writes, byte for byte."""

import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pythonjsonlogger.json import JsonFormatter

from drafty_bird.ops.logging import json_formatter


def stock() -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}{request_id}{trace_id}{span_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


def record(msg: object = "request", args: tuple = (), exc: bool = False, stack: bool = False, **extra: object):
    exc_info = None
    if exc:
        try:
            raise ValueError("bad \u00e9")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.getLogger("drafty_bird.access").makeRecord(
        "drafty_bird.access", logging.INFO, __file__, 1, msg, args, exc_info, extra=extra or None
    )
    if stack:
        made.stack_info = "Stack (most recent call last):\n  here"
    return made


RECORDS = {
    "access line": lambda: record(
        method="GET",
        route="/leaderboard",
        status=200,
        duration_ms=0.37,
        client="127.0.0.1",
        request_id="r-1",
        trace_id="0" * 32,
        span_id="1" * 16,
        server_request_id="abc",
    ),
    "no request context": lambda: record("starting", version="0.1.0", port=8080, exporters=["none"]),
    "args and unicode": lambda: record("player %s scored %d", ("Zo\u00eb \U0001f426", 12), reason="\u202e bidi"),
    "odd values": lambda: record(when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), amount=Decimal("1.5"), none=None),
    "exception": lambda: record("storage call failed", exc=True, kind="StorageCorrupt"),
    "stack": lambda: record("look", stack=True),
    "dict message": lambda: record({"event": "chaos.inject", "n": 1}),
    "private extras": lambda: record(_hidden=1, shown=2),
}


@pytest.mark.parametrize("name", list(RECORDS))
def test_each_line_is_what_python_json_logger_writes(name: str) -> None:
    ours, theirs = RECORDS[name](), RECORDS[name]()
    theirs.created = ours.created
    assert json_formatter().format(ours) == stock().format(theirs)
