"""GET/PUT /ops/chaos: flip chaos at runtime, so staging needs no new revision.

Registered only when CHAOS_ADMIN_TOKEN is set. Bearer token, compared in constant time:
401 without a well-formed Authorization header, 403 with a wrong token.
"""

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from drafty_bird.config_types import ChaosConfig
from drafty_bird.ops import chaos
from drafty_bird.ops.chaos import CONTROL_PATH

log = logging.getLogger(__name__)


def _bearer_checker(token: str) -> Any:
    expected = token.encode()

    def require_token(request: Request) -> None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(401, "Bearer token required", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented.encode(), expected):
            raise HTTPException(403, "Wrong token")

    return require_token


def _as_json(config: ChaosConfig) -> dict[str, Any]:
    return config.model_dump(mode="json")


def register(app: FastAPI, token: str) -> None:
    router = APIRouter(tags=["ops"], dependencies=[Depends(_bearer_checker(token))])

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
