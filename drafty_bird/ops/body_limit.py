"""Refuse request bodies over a fixed size before any parsing (413).

A score is a few hundred bytes; a cap keeps a hostile client from making the JSON
parser or the validator do unbounded work. The page socket's long-polling POSTs get the
socket's own limit (ops/socket_limits.py): engine.io's check of the same number would
disconnect the session and then wait for a poll that an attacker never sends.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops.errors import error_body, send_json
from drafty_bird.ops.socket_limits import MAX_MESSAGE_BYTES

MAX_BODY_BYTES = 16 * 1024
SOCKET_PREFIX = "/_nicegui_ws/"


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, socket_max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.socket_max_bytes = socket_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.socket_max_bytes if scope.get("path", "").startswith(SOCKET_PREFIX) else self.max_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The framework may turn our exception into its own 400; answer 413 instead.
            nonlocal answered
            if too_large:
                if not answered:
                    answered = True
                    await self._refuse(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not answered:
                answered = True
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        message = f"The request body is too large: at most {limit:,} bytes"
        await send_json(send, 413, error_body(message))
