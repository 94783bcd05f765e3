"""GZip for the API stack that compresses a body it has compressed before only once.

NiceGUI's GZip (Starlette's) compresses every API answer of 500 bytes or more when the
client asks, and each compression allocates and initialises a fresh zlib stream (about
85 µs for the 700-byte leaderboard). The leaderboard's body is the same bytes until the
board changes (leaderboard.LeaderboardService.leaderboard_json), so its compressed form
is kept too: zlib's output depends only on the input and the settings, so the answer is
byte for byte what a fresh compression gives. Bounded: small, whole JSON bodies only,
and a few of them; the rest (the game page, /metrics) is compressed as before.
"""

from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware, GZipResponder
from starlette.types import ASGIApp, Receive, Scope, Send

JSON = "application/json"
MAX_REMEMBERED = 32
MAX_REMEMBERED_BYTES = 16 * 1024  # the 100-row board is about 7 KB


class _RememberingResponder(GZipResponder):
    def __init__(self, app: ASGIApp, memo: dict[bytes, bytes], middleware: GZipMiddleware) -> None:
        super().__init__(
            app,
            middleware.minimum_size,
            compresslevel=middleware.compresslevel,
            thread_minimum_size=middleware.thread_minimum_size,
            exclude_content_types=middleware.exclude_content_types,
        )
        self.memo = memo

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if more_body or len(body) > MAX_REMEMBERED_BYTES or not self._json():
            return await super().apply_compression(body, more_body=more_body)
        compressed = self.memo.get(body)
        if compressed is None:
            compressed = await super().apply_compression(body, more_body=False)
            if len(self.memo) >= MAX_REMEMBERED:
                del self.memo[next(iter(self.memo))]  # the oldest
            self.memo[body] = compressed
        return compressed

    def _json(self) -> bool:
        # The API's answers; a page (same stack, a fresh CSP nonce in every body) never repeats.
        return Headers(raw=self.initial_message.get("headers", [])).get("content-type", "").startswith(JSON)


class RememberingGZipMiddleware(GZipMiddleware):
    """GZipMiddleware with the same settings and answers; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 9,
        thread_minimum_size: int = 128 * 1024,
        *,
        exclude_content_types: tuple[str, ...] = DEFAULT_EXCLUDED_CONTENT_TYPES,
    ) -> None:
        super().__init__(
            app, minimum_size, compresslevel, thread_minimum_size, exclude_content_types=exclude_content_types
        )
        self.memo: dict[bytes, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "gzip" not in Headers(scope=scope).get("Accept-Encoding", ""):
            await super().__call__(scope, receive, send)  # identity, exactly as Starlette answers it
            return
        await _RememberingResponder(self.app, self.memo, self)(scope, receive, send)
