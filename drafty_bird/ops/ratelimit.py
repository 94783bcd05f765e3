"""Per-client rate limits on the write endpoints (429 + Retry-After), with `limits`.

The client is scope["client"]: uvicorn's proxy-headers middleware has already replaced
it from X-Forwarded-For when, and only when, the peer is in TRUSTED_PROXIES
(forwarded_allow_ips). Counters live in this process: each replica limits on its own.
The page-load limit (ops/pages.py) shares LIMITER.
"""

import math
import time

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.config_types import parse_limit
from drafty_bird.ops.errors import error_body, send_json

# One per process, not per middleware instance: the fast path builds every layer into
# three stacks (ops/fast_path.py), and a client's count must be one whichever stack runs.
LIMITER = MovingWindowRateLimiter(MemoryStorage())


def client_of(scope: Scope) -> str:
    """The client address after trusted-proxy resolution (uvicorn's proxy headers)."""
    return (scope.get("client") or ("unknown", 0))[0]


def retry_after_s(item: RateLimitItem, *identifiers: str) -> int:
    """Whole seconds until the window lets this key in again (at least 1)."""
    reset_at = LIMITER.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset_at - time.time()))


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: dict[tuple[str, str], str]) -> None:
        self.app = app
        self.items = {route: item for route, spec in limits.items() if (item := parse_limit(spec)) is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        item = self.items.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if item is None:
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        # In-memory and O(1): cheap enough to run on the event loop.
        if LIMITER.hit(item, scope["path"], client):
            await self.app(scope, receive, send)
            return
        retry_after = retry_after_s(item, scope["path"], client)
        body = error_body(f"Too many requests: limit is {item}")
        await send_json(send, 429, body, [(b"retry-after", str(retry_after).encode())])
