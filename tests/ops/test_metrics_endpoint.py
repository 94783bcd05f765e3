"""GET /metrics answers what prometheus-client's ASGI app answers, without writing the
exposition on the event loop."""

import asyncio
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message

from drafty_bird.ops.metrics_endpoint import _MetricsEndpoint


class ThreadSpy(Collector):
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.threads.append(threading.current_thread())
        yield GaugeMetricFamily("spy", "Collected.", value=1)


def registry() -> tuple[CollectorRegistry, ThreadSpy]:
    reg = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["route", "method", "status"], registry=reg)
    requests.labels("/leaderboard", "GET", "200").inc(3)
    requests.labels('/we"ird\\path', "POST", "500").inc()
    Histogram("latency_seconds", "Latency.", ["route"], registry=reg).labels("/score").observe(0.2)
    Gauge("ready", "Ready.", registry=reg).set(1)
    spy = ThreadSpy()
    reg.register(spy)
    return reg, spy


def call(app: ASGIApp, query: bytes = b"", accept: bytes | None = None) -> tuple[list[Message], set[int]]:
    headers = [(b"accept", accept)] if accept is not None else []
    headers.append((b"accept-encoding", b"gzip"))
    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": query, "headers": headers}
    sent: list[Message] = []
    loop_threads: set[int] = set()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        loop_threads.add(threading.get_ident())
        await app(scope, receive, send)

    asyncio.run(main())
    return sent, loop_threads


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        (b"", None),
        (b"", b"application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (b"", b"text/plain; version=1.0.0; escaping=allow-utf-8"),
        (b"name[]=ready&name[]=http_requests_total", None),
    ],
)
def test_same_answer_as_prometheus_clients_app(query: bytes, accept: bytes | None) -> None:
    reg, _ = registry()
    ours, _ = call(_MetricsEndpoint(reg), query, accept)
    theirs, _ = call(make_asgi_app(reg, disable_compression=True), query, accept)
    # The same registry, read twice: only the _created timestamps could differ, and they are fixed above.
    assert ours == theirs
    assert b"spy 1.0" in ours[1]["body"] or query


def test_the_exposition_is_written_off_the_event_loop() -> None:
    reg, spy = registry()
    sent, loop_threads = call(_MetricsEndpoint(reg))
    assert sent[0]["status"] == 200
    assert spy.threads and all(thread.ident not in loop_threads for thread in spy.threads)
