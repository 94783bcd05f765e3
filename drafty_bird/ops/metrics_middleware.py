"""Counts and times every HTTP request under its route template (pure ASGI).

Also counts the POST /score outcomes that never reached the service (validation 4xx,
429, chaos 503); the service counts the rest (see metrics.submission_seen).
"""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops.metrics import HTTP_DURATION, HTTP_REQUESTS, SCORE_SUBMISSIONS, submission_seen
from drafty_bird.ops.routes import route_label

# The method is client input too: any token parses, so unknown ones share one label.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Each label set's counter and histogram, looked up once: labels() checks and locks on
# every call. As bounded as the labels themselves (route templates, methods, statuses).
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    found = _SERIES.get((route, method, status))
    if found is None:
        found = _SERIES[(route, method, status)] = (
            HTTP_REQUESTS.labels(route, method, str(status)),
            HTTP_DURATION.labels(route, method),
        )
    return found


def _rest_submission_result(status: int) -> str | None:
    if status in (429, 503):
        return "rejected"
    if 400 <= status < 500:
        return "invalid"
    if status >= 500:
        return "failed"
    return None


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope["path"]  # mounts (socket.io) rewrite it downstream
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        status = 500
        seen_token = submission_seen.set([False]) if method == "POST" else None
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
            requests, duration = _series(route, method, status)
            requests.inc()
            duration.observe(elapsed)
            if seen_token is not None:
                seen = submission_seen.get()  # the list set above, possibly flipped by the service
                if route == "/score" and seen is not None and not seen[0]:
                    result = _rest_submission_result(status)
                    if result:
                        SCORE_SUBMISSIONS.labels(result).inc()
                submission_seen.reset(seen_token)
