"""GET /metrics and the gauges read at scrape time (build info, chaos switch, open pages)."""

from collections.abc import Callable
from typing import Any

from prometheus_client import make_asgi_app
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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


def install(app: Any, *, version: str, revision: str, chaos_enabled: Callable[[], bool]) -> None:
    """GET /metrics plus the gauges read at scrape time. The middleware is added by the caller."""
    app.router.routes.append(_MetricsEndpoint().route)
    BUILD_INFO.labels(version, revision or "local").set(1)
    CHAOS_ENABLED.set_function(lambda: 1.0 if chaos_enabled() else 0.0)
    WS_CLIENTS.set_function(open_clients)
