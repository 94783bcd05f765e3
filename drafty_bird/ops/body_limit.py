"""Refuse request bodies over a fixed size before any parsing (413).

A score is a few hundred bytes; a cap keeps a hostile client from making the JSON
parser or the validator do unbounded work.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops.errors import error_body, send_json

MAX_BODY_BYTES = 16 * 1024


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                too_large = True
                raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The framework may turn our exception into its own 400; answer 413 instead.
            nonlocal answered
            if too_large:
                if not answered:
                    answered = True
                    await self._refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not answered:
                answered = True
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        message = f"The request body is too large: at most {self.max_bytes:,} bytes"
        await send_json(send, 413, error_body(message))
