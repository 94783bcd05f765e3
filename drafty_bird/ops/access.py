"""Request ids and the access log, as pure ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) so streaming and websocket traffic pass through
untouched and the request id is set in the same context the handlers run in.
"""

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops.errors import error_body, send_json
from drafty_bird.ops.logging import request_id_var
from drafty_bird.ops.routes import route_label

log = logging.getLogger("drafty_bird.access")

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
# Probes and scrapes hit every few seconds: debug only, so a healthy service is quiet.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _SANE_REQUEST_ID.match(value):
            return value.decode()
    return None


def client_address(scope: Scope) -> str:
    """The peer, already replaced by X-Forwarded-For's client when the peer is a trusted proxy."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The client's id is echoed (the original contract); the server's own is the one a
        # client cannot choose, so it is logged beside the client's whenever they differ.
        own_id = uuid.uuid4().hex
        request_id = incoming_request_id(scope) or own_id
        token = request_id_var.set(request_id)
        raw_path = scope["path"]
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER],
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # One log line with the traceback; the client gets the id, never the trace.
            log.exception("unhandled exception", extra={"method": scope["method"], "path": raw_path})
            if scope.get("nicegui_page_path") or response_started:
                raise
            status = 500
            await send_json(send_with_id, 500, error_body("Internal server error"))  # request_id_var is set above
        finally:
            route = route_label(scope, raw_path)
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            fields = {
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client_address(scope),
            }
            if request_id != own_id:
                fields["server_request_id"] = own_id
            log.log(level, "request", extra=fields)
            request_id_var.reset(token)
