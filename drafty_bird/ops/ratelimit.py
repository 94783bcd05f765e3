"""Per-client rate limits on the write endpoints (429 + Retry-After), with `limits`.

The client is scope["client"]: uvicorn's proxy-headers middleware has already replaced
it from X-Forwarded-For when, and only when, the peer is in TRUSTED_PROXIES
(forwarded_allow_ips). Counters live in this process: each replica limits on its own.
"""

import math
import time

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.config_types import parse_limit
from drafty_bird.ops.errors import error_body, send_json


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: dict[tuple[str, str], str]) -> None:
        self.app = app
        self.items = {route: item for route, spec in limits.items() if (item := parse_limit(spec)) is not None}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        item = self.items.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if item is None:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        # In-memory and O(1): cheap enough to run on the event loop.
        if self.limiter.hit(item, scope["path"], client):
            await self.app(scope, receive, send)
            return
        reset_at = self.limiter.get_window_stats(item, scope["path"], client).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        body = error_body(f"Too many requests: limit is {item}")
        await send_json(send, 429, body, [(b"retry-after", str(retry_after).encode())])
