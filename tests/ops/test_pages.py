"""A full replica answers "busy" instead of degrading: MAX_PAGES, the per-client socket cap
(trusted-proxy aware), the page gauges, and the coalesced live board.

Real server processes; pages are opened the way the browser does (tests/pageclient.py).
"""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.aio import run_async
from tests.ops.scrape import required, scrape
from tests.pageclient import Busy, Page, Refused
from tests.server import start_server, wait_until


def session() -> aiohttp.ClientSession:
    # force_close: see bench/pages_load.py (an upgrade on a reused GET connection is dropped).
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True), cookie_jar=aiohttp.DummyCookieJar()
    )


async def open_pages(url: str, http: aiohttp.ClientSession, n: int, headers: dict | None = None) -> list[Page]:
    pages = [Page(url, http, headers=dict(headers or {})) for _ in range(n)]
    for page in pages:
        await page.open()
    return pages


def test_past_max_pages_a_page_load_gets_the_busy_page_and_the_api_still_answers(tmp_path: Path) -> None:
    with start_server(tmp_path, {"MAX_PAGES": "4", "MAX_SOCKETS_PER_CLIENT": "0"}) as server:

        async def scenario() -> None:
            async with session() as http:
                pages = await open_pages(server.url, http, 4)
                assert all(p.connected for p in pages)
                with pytest.raises(Busy) as busy:
                    await Page(server.url, http).load()
                assert busy.value.status == 503 and busy.value.retry_after == "5"
                async with http.get(server.url + "/") as response:
                    body = await response.text()
                    assert response.headers["content-type"].startswith("text/html")
                    assert "busy" in body.lower() and len(body) < 2000 and "<script" not in body
                # API and probes are never gated.
                for path in ("/healthz", "/readyz", "/leaderboard"):
                    async with http.get(server.url + path) as response:
                        assert response.status == 200, path
                async with http.post(server.url + "/score", json={"player": "Ada", "score": 3}) as response:
                    assert response.status == 201
                samples = scrape(server.url)
                assert required(samples, "drafty_bird_pages_connected") == 4
                assert required(samples, "drafty_bird_pages_limit") == 4
                assert required(samples, "drafty_bird_page_sockets_total", event="connect", reason="") == 4
                assert required(samples, "drafty_bird_busy_answers_total", reason="max_pages") >= 2
                for page in pages:
                    await page.close()

                # Closed sockets are counted; closed pages free their seats once NiceGUI prunes them.
                def disconnects() -> float:
                    return required(scrape(server.url), "drafty_bird_page_sockets_total", event="disconnect", reason="")

                await asyncio.to_thread(wait_until, lambda: disconnects() == 4, 15, message="4 disconnects counted")
                assert required(scrape(server.url), "drafty_bird_pages_connected") == 0

        run_async(scenario())


def test_socket_cap_per_client_counts_the_forwarded_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    # The test client is 127.0.0.1, a trusted proxy by default: X-Forwarded-For names the client.
    with start_server(tmp_path, {"MAX_PAGES": "100", "MAX_SOCKETS_PER_CLIENT": "3"}) as server:

        async def scenario() -> None:
            async with session() as http:
                alice = {"X-Forwarded-For": "203.0.113.7"}
                held = await open_pages(server.url, http, 3, alice)
                # A fourth page load from the same client: the busy page.
                with pytest.raises(Busy) as busy:
                    await Page(server.url, http, headers=dict(alice)).load()
                assert busy.value.status == 503 and busy.value.retry_after == "5"
                # A page loaded elsewhere, whose socket then comes from Alice: refused with the same 503.
                sneaky = Page(server.url, http, headers={"X-Forwarded-For": "198.51.100.9"})
                await sneaky.load()
                sneaky.headers = dict(alice)
                with pytest.raises(Refused, match="HTTP 503"):
                    await sneaky.connect()
                # Another client behind the same proxy is not affected.
                bob = await open_pages(server.url, http, 3, {"X-Forwarded-For": "198.51.100.9"})
                assert all(p.connected for p in held + bob)
                samples = scrape(server.url)
                assert required(samples, "drafty_bird_page_sockets_total", event="refused", reason="per_client") == 1
                assert required(samples, "drafty_bird_busy_answers_total", reason="per_client") == 2
                # A seat freed is a seat Alice gets back.
                await held[0].close()
                await asyncio.to_thread(
                    wait_until,
                    lambda: required(scrape(server.url), "drafty_bird_pages_connected") == 5,
                    10,
                    message="the closed socket released",
                )
                again = await open_pages(server.url, http, 1, alice)
                assert again[0].connected

        run_async(scenario())


def recorder(box: list[tuple[float, str]]) -> Callable[[str, float], None]:
    return lambda frame, at: box.append((at, frame))


def is_board_update(frame: str) -> bool:
    # One shared socket.io event per push (ui/board.py), not a per-page element update.
    return frame.startswith('42["db_top"')


def test_board_pushes_are_coalesced_to_one_per_interval_carrying_the_latest(tmp_path: Path) -> None:
    interval_s = 0.5
    with start_server(tmp_path, {"BOARD_PUSH_INTERVAL_MS": str(int(interval_s * 1000))}) as server:

        async def scenario() -> None:
            async with session() as http:
                pushes: list[list[tuple[float, str]]] = [[] for _ in range(3)]
                pages = []
                for box in pushes:
                    page = Page(server.url, http, on_event=recorder(box))
                    await page.open()
                    pages.append(page)
                await asyncio.sleep(1)
                for box in pushes:
                    box.clear()
                # 40 new #1 scores as fast as one client can post them.
                started = time.monotonic()
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
                    for k in range(40):
                        response = await api.post("/score", json={"player": f"burst{k}", "score": 100 + k})
                        assert response.status_code == 201
                burst_s = time.monotonic() - started
                await asyncio.sleep(interval_s * 3)  # the trailing push
                for box in pushes:
                    board = [(t, d) for t, d in box if is_board_update(d)]
                    # Leading push, then at most one per interval, then the trailing one.
                    bound = int(burst_s / interval_s) + 2
                    assert 1 <= len(board) <= bound, f"{len(board)} pushes in {burst_s:.1f} s (bound {bound})"
                    assert len(board) < 40
                    # No check of arrival gaps: a stalled client or loop delivers two pushes back to back.
                    assert '"burst39"' in board[-1][1], "the last push carries the latest top 10"

        run_async(scenario())


def test_a_page_built_before_a_push_and_connected_after_it_still_gets_it(tmp_path: Path) -> None:
    # The push is one socket.io event to the pages' rooms, not replayed like outbox
    # messages: a page whose socket was not in its room yet is caught up on connect.
    with start_server(tmp_path, {"BOARD_PUSH_INTERVAL_MS": "0"}) as server:

        async def scenario() -> None:
            async with session() as http:
                seen: list[tuple[float, str]] = []
                watcher = Page(server.url, http, on_event=recorder(seen))
                await watcher.open()
                late_frames: list[tuple[float, str]] = []
                late = Page(server.url, http, on_event=recorder(late_frames))
                await late.load()  # built now, before the push; no socket yet
                async with http.post(server.url + "/score", json={"player": "Between", "score": 7}) as response:
                    assert response.status == 201

                def watcher_has_it() -> bool:
                    return any(is_board_update(d) and '"Between"' in d for _, d in seen)

                await asyncio.to_thread(wait_until, watcher_has_it, 10, message="the push reached the open page")
                await late.connect()
                await asyncio.to_thread(
                    wait_until,
                    lambda: any("Between" in d for _, d in late_frames),
                    10,
                    message="the page that connected after the push got it",
                )
                # A page built after the push has it in its HTML and needs no catch-up.
                async with http.get(server.url + "/") as response:
                    assert "Between" in await response.text()

        run_async(scenario())
