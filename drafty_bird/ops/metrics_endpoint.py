"""GET /metrics (public port, a setting) or a private loopback listener, and the gauges read at scrape time.

The private listener is a minimal HTTP/1.1 responder on the event loop, bound to
127.0.0.1: the collector sidecar shares the replica's localhost and the ingress never
reaches it. It answers GET with the registry and closes; nothing else is served there.
"""

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

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
SILENT_CLIENT_S = 2.0  # a connected client that says nothing is cut off after this
MAX_REQUEST_HEAD = 8192  # bytes: a scrape's request line and headers are a few hundred
_REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}


def bind_private(port: int) -> socket.socket:
    """Bind the loopback-only listening socket now, before storage is opened; CannotListen (exit 3) when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((PRIVATE_HOST, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(
            f"METRICS_PORT {port} cannot be used ({PRIVATE_HOST}:{port}: {exc.strerror or exc}): "
            "stop the other server or set METRICS_PORT to a free port"
        ) from None
    sock.listen(16)
    sock.setblocking(False)
    return sock


async def serve_private(sock: socket.socket) -> asyncio.Server:
    """Serve scrapes on the bound socket, from the event loop (an app start-up handler).

    On the loop, not on a thread of its own: while the loop keeps the GIL busy, a thread
    waits up to the 5 ms switch interval at every accept, read and write, and its scrapes
    took 27-120 ms (PERFORMANCE.md). On the loop a scrape waits one turn and then runs its
    ~3.5 ms exposition in one go, like the public /metrics route but without the HTTP stack.
    """
    return await asyncio.get_running_loop().create_server(_PrivateScrape, sock=sock)


class _PrivateScrape(asyncio.Protocol):
    """One scrape per connection: the registry, uncompressed (loopback), then close."""

    def __init__(self) -> None:
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.silent = asyncio.get_running_loop().call_later(SILENT_CLIENT_S, transport.close)

    def data_received(self, data: bytes) -> None:
        self.head += data
        head, ended, _ = self.head.partition(b"\r\n\r\n")
        if len(head) > MAX_REQUEST_HEAD:
            self._answer(431, "text/plain; charset=utf-8", b"request head too large\n")
            return
        if not ended:
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._answer(400, "text/plain; charset=utf-8", b"not an HTTP/1.x request\n")
        elif parts[0] != "GET":
            self._answer(405, "text/plain; charset=utf-8", b"only GET\n", allow=True)
        else:
            accept = next((line.split(":", 1)[1] for line in header_lines if line.lower().startswith("accept:")), "")
            encoder, content_type = choose_encoder(accept.strip())
            self._answer(200, content_type, encoder(REGISTRY))

    def _answer(self, status: int, content_type: str, body: bytes, *, allow: bool = False) -> None:
        self.silent.cancel()
        head = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Type: {content_type}"]
        head += [f"Content-Length: {len(body)}", "Connection: close"] + (["Allow: GET"] if allow else [])
        self.transport.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)
        self.transport.close()
        self.head = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.silent.cancel()


def install(app: Any, *, public: bool, version: str, revision: str, chaos_enabled: Callable[[], bool]) -> None:
    """The gauges read at scrape time, and GET /metrics when public. The middleware is added by the caller."""
    if public:
        app.router.routes.append(_MetricsEndpoint().route)
    BUILD_INFO.labels(version, revision or "local").set(1)
    CHAOS_ENABLED.set_function(lambda: 1.0 if chaos_enabled() else 0.0)
    WS_CLIENTS.set_function(open_clients)
