"""Only Azure Front Door reaches the app: requests without our profile's X-Azure-FDID get 403.

ACA's ingress already admits only the AzureFrontDoor.Backend ranges, but those ranges are
shared by every Front Door customer: anyone's profile could point at our origin. Front Door
overwrites X-Azure-FDID with the id of the profile that forwarded the request, so a matching
id means our profile. Pure ASGI, so the WebSocket handshake (/_nicegui_ws) is checked too:
BaseHTTPMiddleware never sees websocket scopes.
"""

import hmac
import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.ops.errors import error_body, send_json

HEADER = b"x-azure-fdid"
# ACA's probes call the container directly, not through Front Door.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
# The OTel sidecar scrapes this over the replica's shared localhost.
LOCAL_PATHS = frozenset({"/metrics"})


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class FrontDoorOnlyMiddleware:
    def __init__(self, app: ASGIApp, front_door_id: str) -> None:
        self.app = app
        self.expected = front_door_id.strip().lower().encode()

    def _allowed(self, scope: Scope) -> bool:
        if scope["path"] in PROBE_PATHS or (scope["path"] in LOCAL_PATHS and _is_loopback(scope)):
            return True
        values = [v for k, v in scope.get("headers", []) if k == HEADER]
        # One header, our id. Front Door replaces any value the client sent.
        return len(values) == 1 and hmac.compare_digest(values[0].strip().lower(), self.expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Closing before accept makes the server answer the handshake with HTTP 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        await send_json(send, 403, error_body("forbidden"))
