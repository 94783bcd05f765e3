"""The event loop's fixed costs per open page (ops/runtime.py, ops/page_release.py):
asyncio.wait_for as Python 3.12 has it, GC thresholds and pauses, engine.io's ping
interval, no permessage-deflate, and page loads that let go of their middleware chain.
"""

import asyncio
import gc
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drafty_bird.ops import runtime
from drafty_bird.ops.page_release import PageReleaseMiddleware
from tests.aio import run_async
from tests.ops.scrape import scrape
from tests.pageclient import Page
from tests.server import start_server


def test_wait_for_returns_times_out_and_cancels_like_the_stdlib() -> None:
    async def scenario() -> None:
        ready = asyncio.Event()
        ready.set()
        assert await runtime.wait_for(ready.wait(), 1) is True
        assert await runtime.wait_for(asyncio.sleep(0, "done"), None) == "done"

        # On timeout the awaited thing is cancelled and TimeoutError raised, as asyncio's does.
        never = asyncio.Event()
        waiter = asyncio.ensure_future(never.wait())
        with pytest.raises(TimeoutError):
            await runtime.wait_for(waiter, 0.01)
        assert waiter.cancelled()
        with pytest.raises(TimeoutError):
            await runtime.wait_for(asyncio.Event().wait(), 0)

        # Cancelling the caller is not turned into a timeout.
        outer = asyncio.ensure_future(runtime.wait_for(asyncio.Event().wait(), 10))
        await asyncio.sleep(0.01)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer

        # And a failure inside propagates as itself.
        async def boom() -> None:
            raise ValueError("inner")

        with pytest.raises(ValueError, match="inner"):
            await runtime.wait_for(boom(), 1)

    async def bounded() -> None:
        async with asyncio.timeout(10):  # a wait_for that never times out fails here, not hangs
            await scenario()

    run_async(bounded())


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's own wait_for is this one")
def test_use_fast_wait_for_installs_it_for_every_caller() -> None:
    original = asyncio.wait_for
    try:
        assert runtime.use_fast_wait_for()
        assert asyncio.wait_for is runtime.wait_for and asyncio.tasks.wait_for is runtime.wait_for
    finally:
        asyncio.wait_for = original
        asyncio.tasks.wait_for = original


def test_gc_thresholds_and_pauses_are_measured() -> None:
    before = gc.get_threshold()
    try:
        runtime.tune_gc()
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
        runtime.measure_gc_pauses()
        runtime.measure_gc_pauses()  # once only
        assert gc.callbacks.count(runtime._on_gc) == 1
        count = runtime.GC_PAUSE.labels("2")._sum.get()
        gc.collect()
        assert runtime.GC_PAUSE.labels("2")._sum.get() > count
    finally:
        gc.set_threshold(*before)
        gc.callbacks.remove(runtime._on_gc)


def test_a_page_route_keeps_no_reference_to_the_chain_once_answered() -> None:
    kept: dict = {}
    outer_sent: list[MutableMapping[str, Any]] = []

    async def page(scope, receive, send) -> None:  # a bare ASGI app
        kept["receive"], kept["send"] = receive, send  # as NiceGUI's client keeps its Request
        assert (await receive())["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"page"})

    async def outer_receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def outer_send(message: MutableMapping[str, Any]) -> None:
        outer_sent.append(message)

    async def scenario() -> None:
        layer = PageReleaseMiddleware(page, paths=["/"])
        await layer({"type": "http", "path": "/", "method": "GET"}, outer_receive, outer_send)
        assert [m["type"] for m in outer_sent] == ["http.response.start", "http.response.body"]
        # Afterwards the kept callables reach nothing: a disconnect, a dropped message.
        assert await kept["receive"]() == {"type": "http.disconnect"}
        await kept["send"]({"type": "http.response.body", "body": b"late"})
        assert len(outer_sent) == 2
        closure_cells = [c.cell_contents for c in kept["send"].__closure__ + kept["receive"].__closure__]
        assert outer_send not in [x for cell in closure_cells for x in (cell if isinstance(cell, list) else [cell])]

        # Other paths are passed through untouched.
        other: dict = {}

        async def api(scope, receive, send) -> None:
            other["send"] = send

        await PageReleaseMiddleware(api, paths=["/"])({"type": "http", "path": "/score"}, outer_receive, outer_send)
        assert other["send"] is outer_send

    run_async(scenario())


def test_page_sockets_are_pinged_every_page_ping_interval_without_deflate(tmp_path: Path) -> None:
    with start_server(tmp_path, {"PAGE_PING_INTERVAL_S": "7", "PAGE_RECONNECT_TIMEOUT_S": "10"}) as server:

        async def scenario() -> None:
            connector = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
                page = Page(server.url, http)
                await page.open()  # offers permessage-deflate, as browsers do
                # engine.io tells the page its ping interval; NiceGUI's own would be 0.8 x 10 s.
                assert page.handshake["pingInterval"] == 7000
                assert page.handshake["pingTimeout"] == 4000  # NiceGUI's 0.4 x the reconnect timeout
                assert page._ws is not None and page._ws.compress == 0, "permessage-deflate was negotiated"
                await page.close()

        run_async(scenario())
        samples = scrape(server.url)
        assert "drafty_bird_gc_pause_seconds_count" in samples
