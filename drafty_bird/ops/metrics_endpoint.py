"""GET /metrics (public port, a setting) or a private loopback listener, and the gauges read at scrape time.

The private listener is prometheus-client's own HTTP server on its own thread, bound to
127.0.0.1: the collector sidecar shares the replica's localhost, the ingress never reaches
it, and a scrape never waits on (or for) the event loop.
"""

from collections.abc import Callable
from typing import Any

from prometheus_client import make_asgi_app, start_http_server
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


def serve_private(port: int) -> None:
    """Start the loopback-only listener (daemon thread); CannotListen (exit 3) when the port is taken."""
    try:
        start_http_server(port, addr=PRIVATE_HOST)
    except OSError as exc:
        raise CannotListen(
            f"METRICS_PORT {port} cannot be used ({PRIVATE_HOST}:{port}: {exc.strerror or exc}): "
            "stop the other server or set METRICS_PORT to a free port"
        ) from None


def install(app: Any, *, public: bool, version: str, revision: str, chaos_enabled: Callable[[], bool]) -> None:
    """The gauges read at scrape time, and GET /metrics when public. The middleware is added by the caller."""
    if public:
        app.router.routes.append(_MetricsEndpoint().route)
    BUILD_INFO.labels(version, revision or "local").set(1)
    CHAOS_ENABLED.set_function(lambda: 1.0 if chaos_enabled() else 0.0)
    WS_CLIENTS.set_function(open_clients)
