"""What a page's socket can make this process log, bounded (issue 17, item 2).

NiceGUI writes what a page sends: its socket `log` message became a line at the level the
page chose (50 x 900 KB made 45 MB of ERROR lines from logger `nicegui` in 1 s), and a
message NiceGUI's dispatch cannot handle escaped as a task exception that asyncio logged
with a full traceback repeating the page's text (~12x the message). Two hooks, no fork:

- `guard_socket` swaps entries of socket.io's handler table, which NiceGUI fills at import.
  Only there is a line known to come from the page: a filter sees just logger `nicegui`
  at ERROR. A page's log line is cut to MAX_CLIENT_CHARS and never above WARNING; a
  message the dispatch chokes on becomes one short "socket message refused" line.
- `LogBudget`, a logging.Filter on each logger a client can make speak, covers the paths
  not foreseen: every line is cut to a size; a traceback is logged in full once per code
  path, then as one line (a client repeating bad input repeats the path); past
  LOG_FLOOD_LIMIT lines are dropped, counted in drafty_bird_log_lines_dropped_total{logger}
  and summed up in one "log lines dropped" line at most every SUMMARY_EVERY_S.
"""

import asyncio
import hashlib
import inspect
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from nicegui import Client
from prometheus_client import Counter

from drafty_bird.config_types import parse_limit

log = logging.getLogger(__name__)
# What pages report (nicegui.js logAndEmit: "Method ... not found", oversized messages).
page_log = logging.getLogger("nicegui.client")
# Not budgeted itself (a child logger skips its parent's filters): one line per interval.
summary_log = logging.getLogger(__name__ + ".dropped")

# Loggers a client can make write: NiceGUI (handler exceptions, 404s, page log lines),
# asyncio (task exceptions), socket.io's two (malformed packets), and our refusals.
BUDGETED = ("nicegui", "nicegui.client", "asyncio", "engineio.server", "socketio.server", __name__)
MAX_CLIENT_CHARS = 300  # a page's log text or the error it caused: enough for NiceGUI's own
MAX_MESSAGE_CHARS = 1000  # any line of a budgeted logger
MAX_TRACEBACK_LINE_CHARS = 300  # frames are ours; the exception's text may be the page's
MAX_TRACEBACK_CHARS = 4000  # the innermost frames are kept
SUMMARY_EVERY_S = 10.0
# A page may pick the level up to WARNING: its "error" is not the server's.
PAGE_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.WARNING}
# Raised by NiceGUI's dispatch on a message of the wrong shape: the client's fault, no traceback.
CLIENT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
GUARDED = ("connect", "handshake", "event", "javascript_response", "ack")

LINES_DROPPED = Counter(
    "drafty_bird_log_lines_dropped_total", "Log lines dropped past LOG_FLOOD_LIMIT, by logger.", ["logger"]
)
SOCKET_REFUSED = Counter(
    "drafty_bird_socket_messages_refused_total",
    "Socket messages NiceGUI could not dispatch (malformed), and page log lines refused, by event.",
    ["event"],
)
for _name in BUDGETED:
    LINES_DROPPED.labels(_name)
for _event in (*GUARDED, "log"):
    SOCKET_REFUSED.labels(_event)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters and about 2x that in the JSON line (escaped, a character
    outside ASCII takes 6 to 12 bytes)."""
    head = text[:limit]
    while len(json.dumps(head)) > 2 * limit + 2:
        head = head[: len(head) // 2]
    return head if len(head) == len(text) else f"{head}...[{len(text) - len(head)} more chars]"


def bounded_traceback(exc_info: Any) -> str:
    lines = "".join(traceback.format_exception(*exc_info)).splitlines()
    text = "\n".join(cut(line, MAX_TRACEBACK_LINE_CHARS) for line in lines)
    if len(text) > MAX_TRACEBACK_CHARS:
        text = f"...[{len(text) - MAX_TRACEBACK_CHARS} chars of traceback left out]\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


class TracebackOnce:
    """A traceback is logged in full the first time its code path fails, later as one line.

    The path (exception type and frames, not the message) names the bug; a client repeating
    the same bad input repeats the path. Both lines carry the same traceback_id.
    """

    def __init__(self, keep: int = 512) -> None:
        self.keep = keep
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def render(self, record: logging.LogRecord) -> None:
        exc_type, exc, tb = record.exc_info or (None, None, None)
        record.exc_info = None  # the JSON formatter then uses exc_text
        if exc_type is None:
            return
        path = exc_type.__qualname__ + "".join(f"|{f.filename}:{f.lineno}" for f in traceback.extract_tb(tb))
        record.traceback_id = tid = hashlib.blake2s(path.encode(), digest_size=4).hexdigest()
        with self._lock:
            first = tid not in self._seen
            if first:
                if len(self._seen) >= self.keep:  # bounded: forget, at worst log a path again
                    self._seen.clear()
                self._seen.add(tid)
        if first:
            record.exc_text = bounded_traceback((exc_type, exc, tb))
        else:
            record.exc_text = f"{exc_type.__name__}: {cut(str(exc), MAX_CLIENT_CHARS)} (traceback {tid} logged before)"


class LogBudget(logging.Filter):
    """Per-logger rate limit and size caps (a logger's filters see only its own records)."""

    def __init__(self, logger: str, limit: str, limiter: MovingWindowRateLimiter, tracebacks: TracebackOnce) -> None:
        super().__init__()
        self.logger, self.item, self.limiter, self.tracebacks = logger, parse_limit(limit), limiter, tracebacks
        self.pending = 0
        self.next_summary = 0.0
        self._lock = threading.Lock()  # DB threads log too

    def filter(self, record: logging.LogRecord) -> bool:
        # Before any formatting: a dropped 900 KB line costs no copy.
        if self.item is not None and not self.limiter.hit(self.item, self.logger):
            LINES_DROPPED.labels(self.logger).inc()
            with self._lock:
                self.pending += 1
            return False
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (bad %-args or a failing __str__: a filter must not raise into the caller)
            message = str(record.msg)
        record.msg, record.args = cut(message, MAX_MESSAGE_CHARS), None
        if record.exc_info:
            self.tracebacks.render(record)
        elif record.exc_text:
            record.exc_text = cut(record.exc_text, MAX_TRACEBACK_CHARS)
        if record.stack_info:
            record.stack_info = cut(record.stack_info, MAX_TRACEBACK_CHARS)
        return True

    def report(self, now: float) -> None:
        with self._lock:
            if not self.pending or now < self.next_summary:
                return
            dropped, self.pending, self.next_summary = self.pending, 0, now + SUMMARY_EVERY_S
        summary_log.warning(
            "log lines dropped",  # a fixed message, like every line of ours: the count is a field
            extra={"dropped_logger": self.logger, "dropped": dropped, "limit": str(self.item)},
        )


_budgets: list[LogBudget] = []


def install_budgets(limit: str) -> list[LogBudget]:
    """Idempotent: replaces the budgets of an earlier call (tests build the app twice)."""
    limiter, tracebacks = MovingWindowRateLimiter(MemoryStorage()), TracebackOnce()
    for old in _budgets:
        logging.getLogger(old.logger).removeFilter(old)
    _budgets[:] = [LogBudget(name, limit, limiter, tracebacks) for name in BUDGETED]
    for budget in _budgets:
        logging.getLogger(budget.logger).addFilter(budget)
    return list(_budgets)


def report_dropped() -> None:
    now = time.monotonic()
    for budget in _budgets:
        budget.report(now)


async def report_dropped_forever(interval: float = 1.0) -> None:
    """The summary lines, also after a flood stops (a task started once serving)."""
    while True:
        await asyncio.sleep(interval)
        report_dropped()


def _client_address(environ: Any) -> str | None:
    try:
        return str(environ["asgi.scope"]["client"][0])
    except (KeyError, TypeError, IndexError):
        return None


def _refused(sio: Any, event: str, sid: str, exc: BaseException | str, environ: Any = None) -> None:
    SOCKET_REFUSED.labels(event).inc()
    error = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    environ = environ or sio.get_environ(sid)  # None once the socket is gone
    log.warning(
        "socket message refused",
        extra={"event": event, "error": cut(error, MAX_CLIENT_CHARS), "client": _client_address(environ)},
    )


def _guard(sio: Any, event: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """NiceGUI's handler, with the errors a message of the wrong shape raises in its dispatch
    turned into one refusal line. Our event handlers' own exceptions never get here (NiceGUI
    logs them, with a traceback, as it catches them); any other type still propagates."""

    async def guarded(sid: str, *args: Any) -> Any:
        try:
            result = handler(sid, *args)
            return await result if inspect.isawaitable(result) else result
        except CLIENT_ERRORS as exc:
            _refused(sio, event, sid, exc, args[0] if event == "connect" and args else None)
            return False if event == "connect" else None  # connect: refuse the socket

    guarded.__name__ = f"guarded_{event}"
    return guarded


def _on_page_log(sio: Any) -> Callable[[str, Any], None]:
    def on_log(sid: str, msg: Any) -> None:
        fields = msg if isinstance(msg, dict) else {}
        name, message, client_id = fields.get("level"), fields.get("message"), fields.get("client_id")
        level = PAGE_LEVELS.get(name) if isinstance(name, str) else None
        if level is None or not isinstance(message, str) or not isinstance(client_id, str):
            _refused(sio, "log", sid, "not a {client_id, level, message} log message")
            return
        if client_id not in Client.instances:  # as NiceGUI: only pages this process serves
            return
        page_log.log(level, cut(message, MAX_CLIENT_CHARS), extra={"page_level": name, "client_id": client_id})

    return on_log


def guard_socket(sio: Any) -> None:
    """Call once, after NiceGUI registered its handlers (import time) and before serving."""
    handlers = sio.handlers["/"]
    for event in GUARDED:
        if event in handlers and not getattr(handlers[event], "__name__", "").startswith("guarded_"):
            handlers[event] = _guard(sio, event, handlers[event])
    handlers["log"] = _on_page_log(sio)
