"""Liveness and readiness probes.

/healthz touches nothing but the process, so a slow disk never gets the replica
restarted. /readyz asks the store, so traffic moves away when storage is down.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

READY_CHECK_TIMEOUT_S = 2.0

router = APIRouter(tags=["probes"])


@dataclass
class Readiness:
    storage_mode: str
    check: Callable[[], Awaitable[None]]
    draining: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    async def probe(self) -> tuple[bool, dict[str, object]]:
        if self.draining:
            return False, {"status": "not_ready", "reason": "shutting down"}
        try:
            await asyncio.wait_for(self.check(), READY_CHECK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 (any failure means not ready)
            return False, {"status": "not_ready", "reason": f"storage: {type(exc).__name__}: {exc}"[:300]}
        # Callables in extra are read per probe (e.g. the writer role, which changes at runtime).
        extra = {key: value() if callable(value) else value for key, value in self.extra.items()}
        return True, {"status": "ready", "storage_mode": self.storage_mode, **extra}


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: storage answers and the process is not draining")
async def readyz(request: Request) -> JSONResponse:
    ready, body = await request.app.state.readiness.probe()
    return JSONResponse(body, status_code=200 if ready else 503)


# The route's answer, as FastAPI serialises {"status": "ok"} (tested equal).
_LIVE_BODY = b'{"status":"ok"}'
_LIVE_HEADERS = [(b"content-length", str(len(_LIVE_BODY)).encode()), (b"content-type", b"application/json")]


class LivenessMiddleware:
    """GET /healthz answered inside our innermost layer, without FastAPI's routing.

    Probes come every few seconds from every platform component; the route's answer never
    changes, and routing it cost a third of the probe's CPU. The layers around this one
    still count, time and id the probe; any other method takes the route (its 405).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 200, "headers": _LIVE_HEADERS})
            await send({"type": "http.response.body", "body": _LIVE_BODY})
            return
        await self.app(scope, receive, send)
