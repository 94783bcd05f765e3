"""ops/compression.py: the API stack's GZip answers exactly as Starlette's does, and
compresses a repeated body once."""

import zlib
from collections.abc import Callable

import pytest
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drafty_bird.ops import compression
from drafty_bird.ops.compression import RememberingGZipMiddleware
from tests.aio import run_async

BOARD = b'{"leaderboard":[' + b",".join(b'{"player":"p%d","score":%d}' % (i, 400 - i) for i in range(40)) + b"]}"


def answering(body: bytes, headers: list[tuple[bytes, bytes]] | None = None, chunks: int = 1) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = headers if headers is not None else [(b"content-type", b"application/json")]
        raw = [*raw, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        size = len(body) // chunks + 1
        for i in range(chunks):
            part = body[i * size : (i + 1) * size]
            await send({"type": "http.response.body", "body": part, "more_body": i < chunks - 1})

    return app


def call(app: ASGIApp, accept: bytes | None = b"gzip, deflate") -> list[Message]:
    headers = [(b"accept-encoding", accept)] if accept is not None else []
    scope = {"type": "http", "method": "GET", "path": "/leaderboard", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    run_async(main())
    return sent


CASES: dict[str, Callable[[], ASGIApp]] = {
    "board": lambda: answering(BOARD),
    "small": lambda: answering(b'{"status":"ok"}'),
    "streamed": lambda: answering(BOARD, chunks=3),
    "png": lambda: answering(BOARD, [(b"content-type", b"image/png")]),
    "encoded already": lambda: answering(BOARD, [(b"content-type", b"text/plain"), (b"content-encoding", b"br")]),
    "page": lambda: answering(BOARD, [(b"content-type", b"text/html; charset=utf-8")]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("accept", [b"gzip, deflate", b"identity", None])
def test_same_messages_as_starlettes_gzip_every_time(case: str, accept: bytes | None) -> None:
    ours = RememberingGZipMiddleware(CASES[case](), minimum_size=500, compresslevel=9)
    theirs = GZipMiddleware(CASES[case](), minimum_size=500, compresslevel=9)
    expected = call(theirs, accept)
    for _ in range(3):  # compressed, then remembered
        assert call(ours, accept) == expected
    if case == "board" and accept == b"gzip, deflate":
        assert zlib.decompress(expected[1]["body"], 16 + zlib.MAX_WBITS) == BOARD
        assert list(ours.memo) == [BOARD]
    if case == "page":
        assert ours.memo == {}  # pages carry a fresh nonce: never worth keeping


def test_a_repeated_body_is_compressed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = RememberingGZipMiddleware(answering(BOARD), minimum_size=500)
    compressions = []
    real = compression.GZipResponder.apply_compression

    async def counted(self: compression.GZipResponder, body: bytes, *, more_body: bool) -> bytes:
        compressions.append(len(body))
        return await real(self, body, more_body=more_body)

    monkeypatch.setattr(compression.GZipResponder, "apply_compression", counted)
    for _ in range(5):
        call(ours)
    assert compressions == [len(BOARD)]


def test_the_memory_is_bounded() -> None:
    bodies = [BOARD + b" " * i for i in range(compression.MAX_REMEMBERED + 10)]
    big = b"x" * (compression.MAX_REMEMBERED_BYTES + 1)
    ours = RememberingGZipMiddleware(answering(BOARD), minimum_size=500)
    for body in [*bodies, big]:
        ours.app = answering(body)
        call(ours)
    assert len(ours.memo) == compression.MAX_REMEMBERED
    assert big not in ours.memo and bodies[-1] in ours.memo and bodies[0] not in ours.memo
