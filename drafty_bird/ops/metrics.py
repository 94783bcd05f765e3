"""Prometheus metrics: definitions, the pure-ASGI request middleware and GET /metrics.

Names and labels are a contract with infra/observability/prometheus/alerts.yml and the
dashboard: rename nothing without changing those. Every label value comes from a
bounded set (route templates, known methods, fixed result names), never from raw
input. The storage gauges live in storage_metrics.py.
"""

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, make_asgi_app
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops.routes import route_label

log = logging.getLogger(__name__)

# Around the 500 ms latency objective, so p99 > 0.5 s is read between real buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SUBMISSION_RESULTS = ("stored", "duplicate", "invalid", "rejected", "failed")
# The method is client input too: any token parses, so unknown ones share one label.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template, method and status.", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
GAMES_STARTED = Counter("drafty_bird_games_started_total", "Runs started (POST /game-start or the page).")
GAMES_COMPLETED = Counter(
    "drafty_bird_games_completed_total",
    "Runs whose score was stored for the first time (retries of a run_id are not counted).",
)
HIGH_SCORE = Gauge("drafty_bird_high_score", "Highest stored score.")
CHAOS_INJECTIONS = Counter("drafty_bird_chaos_injections_total", "Chaos injections by type.", ["type"])
CHAOS_ENABLED = Gauge("drafty_bird_chaos_enabled", "1 while chaos injection is switched on.")
SCORE_SUBMISSIONS = Counter("drafty_bird_score_submissions_total", "Score submissions by outcome.", ["result"])
DB_SECONDS = Histogram(
    "drafty_bird_db_operation_duration_seconds",
    "Store calls, queue wait on the DB threads included.",
    ["op"],
    buckets=DB_BUCKETS,
)
WS_CLIENTS = Gauge("drafty_bird_ws_clients", "Open game pages (NiceGUI clients with a live socket).")
BUILD_INFO = Gauge("drafty_bird_build_info", "Always 1; the labels name the running build.", ["version", "revision"])

for _result in SUBMISSION_RESULTS:  # exported as 0 from the start, so rate() works at once
    SCORE_SUBMISSIONS.labels(_result)
for _type in ("error", "latency"):
    CHAOS_INJECTIONS.labels(_type)

# POST /score outcomes: the service counts what it sees (stored, duplicate, store
# errors); the middleware counts what never reached it (validation 4xx, 429, chaos 503).
# A mutable box, not a flag, so a write made in a child task is still visible here.
_submission_seen: ContextVar[list[bool] | None] = ContextVar("submission_seen", default=None)


def score_submitted(result: str) -> None:
    SCORE_SUBMISSIONS.labels(result).inc()
    if result == "stored":
        GAMES_COMPLETED.inc()
    seen = _submission_seen.get()
    if seen is not None:
        seen[0] = True


def game_started() -> None:
    GAMES_STARTED.inc()


def set_high_score(score: int) -> None:
    HIGH_SCORE.set(score)


def _rest_submission_result(status: int) -> str | None:
    if status in (429, 503):
        return "rejected"
    if 400 <= status < 500:
        return "invalid"
    if status >= 500:
        return "failed"
    return None


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope["path"]  # mounts (socket.io) rewrite it downstream
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        status = 500
        seen_token = _submission_seen.set([False]) if method == "POST" else None
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope, raw_path)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_DURATION.labels(route, method).observe(elapsed)
            if seen_token is not None:
                seen = _submission_seen.get()  # the list set above, possibly flipped by the service
                if route == "/score" and seen is not None and not seen[0]:
                    result = _rest_submission_result(status)
                    if result:
                        SCORE_SUBMISSIONS.labels(result).inc()
                _submission_seen.reset(seen_token)


class _MetricsEndpoint:
    """A class, so Starlette's Route treats it as a raw ASGI app (prometheus-client's)."""

    def __init__(self) -> None:
        # ui.run's GZip middleware compresses again: twice-gzipped bodies fail every
        # real Prometheus scrape (up == 0), though httpx decodes them silently.
        self._app = make_asgi_app(disable_compression=True)
        self.route = Route("/metrics", self, methods=["GET"], include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def open_clients() -> int:
    from nicegui import Client  # late: keeps this module importable without a NiceGUI app

    return sum(1 for client in list(Client.instances.values()) if client.has_socket_connection)


def install(app: Any, *, version: str, revision: str, chaos_enabled: Callable[[], bool]) -> None:
    """GET /metrics plus the gauges read at scrape time. The middleware is added by the caller."""
    app.router.routes.append(_MetricsEndpoint().route)
    BUILD_INFO.labels(version, revision or "local").set(1)
    CHAOS_ENABLED.set_function(lambda: 1.0 if chaos_enabled() else 0.0)
    WS_CLIENTS.set_function(open_clients)


class TimedStore:
    """Times every async store call into drafty_bird_db_operation_duration_seconds{op}.

    A proxy, so the data layer never imports ops; op is the method name (bounded).
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._wrapped: dict[str, Callable[..., Awaitable[Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr
        if name not in self._wrapped:
            histogram = DB_SECONDS.labels(name)

            async def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await getattr(self._store, name)(*args, **kwargs)
                finally:
                    histogram.observe(time.perf_counter() - started)

            self._wrapped[name] = timed
        return self._wrapped[name]


async def prime_high_score(read: Callable[[], Awaitable[int]]) -> None:
    """drafty_bird_high_score right at start-up, read from the DB (not 0 until the next score)."""
    try:
        set_high_score(await read())
    except Exception:
        log.warning("could not read the high score at start-up", exc_info=True)


def submission_failed(exc: BaseException) -> str:
    """Count a store failure: the StorageUnavailable family (503 + Retry-After) is a refusal."""
    result = "rejected" if getattr(exc, "retry_after_s", None) is not None else "failed"
    score_submitted(result)
    return result
