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


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _SANE_REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
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
            log.log(
                level,
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)
