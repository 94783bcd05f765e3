"""GET /metrics (public port, a setting) or a private loopback listener, and the gauges read at scrape time.

The private listener is a small HTTP server on its own thread, bound to 127.0.0.1: the
collector sidecar shares the replica's localhost, the ingress never reaches it, and a
scrape never waits on (or for) the event loop.
"""

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from prometheus_client import REGISTRY, make_asgi_app
from prometheus_client.exposition import choose_encoder
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from drafty_bird.ops.listen import CannotListen
from drafty_bird.ops.metrics import BUILD_INFO, CHAOS_ENABLED, WS_CLIENTS


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


def all_clients() -> int:
    """NiceGUI clients held, socket or not: what MAX_PAGES bounds (each costs memory)."""
    from nicegui import Client

    return len(Client.instances)


PRIVATE_HOST = "127.0.0.1"


class _PrivateScrape(BaseHTTPRequestHandler):
    """One scrape: the registry, uncompressed (loopback), through a buffered writer."""

    wbufsize = -1  # buffered: status and headers leave with (or just before) the body, not line by line
    timeout = 2  # s: a connected client that says nothing cannot hold the listener for longer

    def do_GET(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body = encoder(REGISTRY)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """The access log is the app's; scrapes are counted in the sidecar."""


def serve_private(port: int) -> None:
    """Start the loopback-only listener (daemon thread); CannotListen (exit 3) when the port is taken.

    One thread serving one scrape at a time, not prometheus-client's thread per request:
    while the event loop keeps the GIL busy, every hand-over costs this thread up to the
    5 ms switch interval, and a new thread per scrape (start, accept, read, each write)
    added several (scrapes took 60-130 ms on a busy process). Only the sidecar connects.
    """
    try:
        server = HTTPServer((PRIVATE_HOST, port), _PrivateScrape)
    except OSError as exc:
        raise CannotListen(
            f"METRICS_PORT {port} cannot be used ({PRIVATE_HOST}:{port}: {exc.strerror or exc}): "
            "stop the other server or set METRICS_PORT to a free port"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True).start()


def install(app: Any, *, public: bool, version: str, revision: str, chaos_enabled: Callable[[], bool]) -> None:
    """The gauges read at scrape time, and GET /metrics when public. The middleware is added by the caller."""
    if public:
        app.router.routes.append(_MetricsEndpoint().route)
    BUILD_INFO.labels(version, revision or "local").set(1)
    CHAOS_ENABLED.set_function(lambda: 1.0 if chaos_enabled() else 0.0)
    WS_CLIENTS.set_function(open_clients)
