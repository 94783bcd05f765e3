"""Protect a full replica: page loads past MAX_PAGES, and sockets past a per-client cap,
get a light "busy, retrying" answer (503 + Retry-After) instead of a NiceGUI client; page
loads past RATE_LIMIT_PAGE from one client get the same light page as a 429.

Pure ASGI. Only the game page (GET /) and the socket.io endpoint are gated: the API,
probes and /metrics never are. The client is scope["client"], which uvicorn's proxy
headers middleware has already resolved from X-Forwarded-For when, and only when, the
peer is a trusted proxy (same rule and same limiter as ops/ratelimit.py).

A page load whose socket never connects still holds a NiceGUI client, and its outbox
polls 10 times a second until NiceGUI prunes it (after 60-70 s): prune_unconnected
drops those after PAGE_CONNECT_TIMEOUT_S instead.
"""

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable

from limits import RateLimitItem
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.config_types import parse_limit
from drafty_bird.ops.ratelimit import LIMITER, client_of, retry_after_s

PAGE_PATHS = frozenset({"/"})
SOCKET_PREFIX = "/_nicegui_ws/"
RETRY_AFTER_S = 5

PAGES_CONNECTED = Gauge("drafty_bird_pages_connected", "Open game pages (sockets held by this process).")
PAGES_LIMIT = Gauge("drafty_bird_pages_limit", "MAX_PAGES: page loads past this get the busy answer.")
SOCKET_EVENTS = Counter(
    "drafty_bird_page_sockets_total", "Page socket connects, disconnects and refusals.", ["event", "reason"]
)
BUSY_ANSWERS = Counter(
    "drafty_bird_busy_answers_total", "Busy answers by reason (rate_limit: 429, the others: 503).", ["reason"]
)
PAGES_HELD = Gauge("drafty_bird_pages_held", "NiceGUI clients held, with a socket or not (what MAX_PAGES counts).")
PAGES_PRUNED = Counter("drafty_bird_pages_pruned_total", "Page loads dropped: no socket within PAGE_CONNECT_TIMEOUT_S.")
LOOP_LAG = Histogram(
    "drafty_bird_event_loop_lag_seconds",
    "How late the event loop wakes a 0.25 s sleep: every page, probe and request waits this long.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
for _event, _reason in (("connect", ""), ("disconnect", ""), ("refused", "per_client")):
    SOCKET_EVENTS.labels(_event, _reason)
for _reason in ("max_pages", "per_client", "rate_limit"):
    BUSY_ANSWERS.labels(_reason)

# Small, no scripts: it costs the server nothing to keep answering it.
BUSY_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Drafty Bird is busy</title>"
    f'<meta http-equiv="refresh" content="{RETRY_AFTER_S}">'
    "<body>"  # no inline style: the strict CSP of non-NiceGUI answers would refuse it
    "<h1>Drafty Bird is busy</h1><p>Every seat on this server is taken. Retrying in a few seconds&hellip;</p>"
).encode()


def too_many_page(retry_after: int) -> bytes:
    """The busy page's twin for one client past RATE_LIMIT_PAGE: it reloads when the window lets it in."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Drafty Bird: slow down</title>"
        f'<meta http-equiv="refresh" content="{retry_after}">'
        "<body><h1>Too many page loads</h1><p>This address opened the game too often. "
        f"It reloads by itself in {retry_after} s.</p>"
    ).encode()


# Open sockets per client address, for this process (see PageCapacityMiddleware).
SOCKETS: Tally[str] = Tally()
PAGES_CONNECTED.set_function(lambda: sum(SOCKETS.values()))


def busy_headers(body: bytes = BUSY_PAGE, retry_after: int = RETRY_AFTER_S) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"retry-after", str(retry_after).encode()),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode()),
    ]


class PageCapacityMiddleware:
    """`pages` returns how many NiceGUI clients this process holds (with or without a socket).

    `page_rate_limit` is RATE_LIMIT_PAGE ("60/minute"; "off" disables): GET and HEAD of the
    page share one count per client, kept in ops/ratelimit.py's process-wide LIMITER.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_pages: int,
        max_sockets_per_client: int,
        pages: Callable[[], int],
        page_rate_limit: str = "off",
    ) -> None:
        self.app = app
        self.max_pages = max_pages
        self.per_client = max_sockets_per_client  # 0 = no cap
        self.pages = pages
        self.rate = parse_limit(page_rate_limit)
        # Process-wide, not per instance: the fast path builds this layer into three stacks
        # (ops/fast_path.py), and the socket count and the per-client cap must be one.
        self.sockets = SOCKETS
        PAGES_LIMIT.set(max_pages)
        PAGES_HELD.set_function(pages)

    def _over_client_cap(self, client: str) -> bool:
        return self.per_client > 0 and self.sockets[client] >= self.per_client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and path in PAGE_PATHS:
            # First, so a flooding client is told to slow down whatever else is full.
            if self.rate is not None and not LIMITER.hit(self.rate, "page", client_of(scope)):
                await self._too_many(scope, send, self.rate)
                return
            reason = None
            if self.pages() >= self.max_pages:
                reason = "max_pages"
            elif self._over_client_cap(client_of(scope)):
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

    async def _too_many(self, scope: Scope, send: Send, rate: RateLimitItem) -> None:
        BUSY_ANSWERS.labels("rate_limit").inc()
        retry_after = retry_after_s(rate, "page", client_of(scope))
        body = too_many_page(retry_after)
        await send({"type": "http.response.start", "status": 429, "headers": busy_headers(body, retry_after)})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_of(scope)
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


def prune_unconnected_once(max_age_s: float) -> int:
    """Drop NiceGUI clients older than max_age_s that never had a socket; returns how many.

    NiceGUI's own Client.prune_instances, with our age: clients with a socket, or waiting
    out a reconnect after one (their delete task), are left alone. A browser whose socket
    comes later fails the handshake and reloads the page (nicegui.js).
    """
    from nicegui import Client  # late: keeps this module importable without a NiceGUI app

    before = len(Client.instances)
    Client.prune_instances(client_age_threshold=max_age_s)
    pruned = max(0, before - len(Client.instances))  # synchronous: nothing else ran meanwhile
    PAGES_PRUNED.inc(pruned)
    return pruned


async def prune_unconnected(max_age_s: float, interval_s: float = 1.0) -> None:
    """prune_unconnected_once every interval_s forever (a task started once serving).

    One pass over the held clients (at most MAX_PAGES) costs well under a millisecond.
    """
    while True:
        await asyncio.sleep(interval_s)
        prune_unconnected_once(max_age_s)


async def watch_loop_lag(interval: float = 0.25) -> None:
    """Samples event-loop lag forever (a task started once serving)."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, time.monotonic() - start - interval))
