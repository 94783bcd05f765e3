"""Protect a full replica: page loads past MAX_PAGES, and sockets past a per-client cap,
get a light "busy, retrying" answer (503 + Retry-After) instead of a NiceGUI client.

Pure ASGI. Only the game page (GET /) and the socket.io endpoint are gated: the API,
probes and /metrics never are. The client is scope["client"], which uvicorn's proxy
headers middleware has already resolved from X-Forwarded-For when, and only when, the
peer is a trusted proxy (same rule as ops/ratelimit.py).
"""

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

PAGE_PATHS = frozenset({"/"})
SOCKET_PREFIX = "/_nicegui_ws/"
RETRY_AFTER_S = 5

PAGES_CONNECTED = Gauge("drafty_bird_pages_connected", "Open game pages (sockets held by this process).")
PAGES_LIMIT = Gauge("drafty_bird_pages_limit", "MAX_PAGES: page loads past this get the busy answer.")
SOCKET_EVENTS = Counter(
    "drafty_bird_page_sockets_total", "Page socket connects, disconnects and refusals.", ["event", "reason"]
)
BUSY_ANSWERS = Counter("drafty_bird_busy_answers_total", "Busy answers (503) by reason.", ["reason"])
LOOP_LAG = Histogram(
    "drafty_bird_event_loop_lag_seconds",
    "How late the event loop wakes a 0.25 s sleep: every page, probe and request waits this long.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
for _event, _reason in (("connect", ""), ("disconnect", ""), ("refused", "per_client")):
    SOCKET_EVENTS.labels(_event, _reason)
for _reason in ("max_pages", "per_client"):
    BUSY_ANSWERS.labels(_reason)

# Small, no scripts: it costs the server nothing to keep answering it.
BUSY_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Drafty Bird is busy</title>"
    f'<meta http-equiv="refresh" content="{RETRY_AFTER_S}">'
    "<body>"  # no inline style: the strict CSP of non-NiceGUI answers would refuse it
    "<h1>Drafty Bird is busy</h1><p>Every seat on this server is taken. Retrying in a few seconds&hellip;</p>"
).encode()


# Open sockets per client address, for this process (see PageCapacityMiddleware).
SOCKETS: Tally[str] = Tally()
PAGES_CONNECTED.set_function(lambda: sum(SOCKETS.values()))


def busy_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(BUSY_PAGE)).encode()),
    ]


class PageCapacityMiddleware:
    """`pages` returns how many NiceGUI clients this process holds (with or without a socket)."""

    def __init__(self, app: ASGIApp, *, max_pages: int, max_sockets_per_client: int, pages: Callable[[], int]) -> None:
        self.app = app
        self.max_pages = max_pages
        self.per_client = max_sockets_per_client  # 0 = no cap
        self.pages = pages
        # Process-wide, not per instance: the fast path builds this layer into three stacks
        # (ops/fast_path.py), and the socket count and the per-client cap must be one.
        self.sockets = SOCKETS
        PAGES_LIMIT.set(max_pages)

    def _client(self, scope: Scope) -> str:
        return (scope.get("client") or ("unknown", 0))[0]

    def _over_client_cap(self, client: str) -> bool:
        return self.per_client > 0 and self.sockets[client] >= self.per_client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and path in PAGE_PATHS:
            reason = None
            if self.pages() >= self.max_pages:
                reason = "max_pages"
            elif self._over_client_cap(self._client(scope)):
                reason = "per_client"
            if reason is not None:
                BUSY_ANSWERS.labels(reason).inc()
                await send({"type": "http.response.start", "status": 503, "headers": busy_headers()})
                await send({"type": "http.response.body", "body": BUSY_PAGE if scope["method"] == "GET" else b""})
                return
        if scope["type"] == "websocket" and path.startswith(SOCKET_PREFIX):
            await self._socket(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self._client(scope)
        if self._over_client_cap(client):
            SOCKET_EVENTS.labels("refused", "per_client").inc()
            BUSY_ANSWERS.labels("per_client").inc()
            # The same busy answer, as the upgrade's HTTP response (ASGI websocket denial extension).
            await send({"type": "websocket.http.response.start", "status": 503, "headers": busy_headers()})
            await send({"type": "websocket.http.response.body", "body": BUSY_PAGE})
            return
        self.sockets[client] += 1
        SOCKET_EVENTS.labels("connect", "").inc()
        try:
            await self.app(scope, receive, send)  # lasts as long as the socket
        finally:
            self.sockets[client] -= 1
            if self.sockets[client] <= 0:
                del self.sockets[client]
            SOCKET_EVENTS.labels("disconnect", "").inc()


async def watch_loop_lag(interval: float = 0.25) -> None:
    """Samples event-loop lag forever (a task started once serving)."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, time.monotonic() - start - interval))
