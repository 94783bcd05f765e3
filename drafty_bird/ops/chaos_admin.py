"""GET/PUT /ops/chaos: flip chaos at runtime, so staging needs no new revision.

Registered only when CHAOS_ADMIN_TOKEN is set. Bearer token, compared in constant time:
401 without a well-formed Authorization header, 403 with a wrong token. Each 401/403 is
logged with the client address and counted per client (after TRUSTED_PROXIES): past
CHAOS_AUTH_FAILURE_LIMIT every attempt from that client is a 429, the right token too,
so guessing cannot continue at full speed and learn from a 200.
"""

import hmac
import logging
import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError

from drafty_bird.config_types import ChaosConfig, parse_limit
from drafty_bird.ops import chaos
from drafty_bird.ops.chaos import CONTROL_PATH

log = logging.getLogger(__name__)


def _bearer_checker(token: str, failure_limit: str) -> Any:
    expected = token.encode()
    item = parse_limit(failure_limit)
    limiter = MovingWindowRateLimiter(MemoryStorage())

    def refuse(client: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        if item is not None:
            limiter.hit(item, "chaos-auth", client)
        log.warning("chaos admin auth failed", extra={"client": client, "status": status})
        raise HTTPException(status, message, headers=headers)

    def require_token(request: Request) -> None:
        # uvicorn already replaced the peer with X-Forwarded-For's client when the peer is trusted.
        client = request.client.host if request.client else "unknown"
        if item is not None and not limiter.test(item, "chaos-auth", client):
            reset_at = limiter.get_window_stats(item, "chaos-auth", client).reset_time
            retry_after = str(max(1, math.ceil(reset_at - time.time())))
            raise HTTPException(429, f"Too many failed attempts: limit is {item}", {"Retry-After": retry_after})
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            refuse(client, 401, "Bearer token required", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented.encode(), expected):
            refuse(client, 403, "Wrong token")

    return require_token


def _as_json(config: ChaosConfig) -> dict[str, Any]:
    return config.model_dump(mode="json")


def register(app: FastAPI, token: str, failure_limit: str = "10/minute") -> None:
    router = APIRouter(tags=["ops"], dependencies=[Depends(_bearer_checker(token, failure_limit))])

    @router.get(CONTROL_PATH, summary="Current chaos configuration")
    async def get_chaos() -> dict[str, Any]:
        return _as_json(chaos.chaos_state().config)

    @router.put(CONTROL_PATH, summary="Change chaos: the fields given replace the current ones (re-seeds)")
    async def put_chaos(changes: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        before = chaos.chaos_state().config
        # The same model as the CHAOS_* variables: same bounds, same p99 >= p50 rule.
        try:
            config = ChaosConfig.model_validate({**before.model_dump(), **changes})
        except ValidationError as exc:  # a 422 in the API's error shape, nothing changed
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
        chaos.configure(config)
        log.warning(
            "chaos configuration changed",
            extra={"event": "chaos.config", "before": _as_json(before), "after": _as_json(config)},
        )
        return _as_json(config)

    app.include_router(router)
