"""Let go of a page load's middleware chain once its answer is sent (pure ASGI).

NiceGUI keeps each page's Request in its client for as long as the page is open, and a
Request holds the `receive` and `send` it was called with: this request's whole chain of
middleware closures, and what they captured (response headers, the HTML body gathered
for the CSP nonces, ...). That was about a tenth of each open page's objects, which the
garbage collector walks on every full pass (docs/PERFORMANCE.md "Open pages"). This
layer, the innermost of ours, hands the page route relays that forget the chain when the
route returns; a late `receive` then reads a disconnect and a late `send` is dropped.
"""

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PageReleaseMiddleware:
    def __init__(self, app: ASGIApp, *, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        inner_receive: list[Receive] = [receive]
        inner_send: list[Send] = [send]

        async def relay_receive() -> Message:
            return await inner_receive[0]() if inner_receive else {"type": "http.disconnect"}

        async def relay_send(message: Message) -> None:
            if inner_send:
                await inner_send[0](message)

        try:
            await self.app(scope, relay_receive, relay_send)
        finally:
            inner_receive.clear()
            inner_send.clear()
