"""Page-load floods (issue 17, item 3): a per-client limit on GET /, trusted-proxy aware, and
page loads whose socket never connects dropped in seconds, so a flood over many
addresses leaves RSS bounded and the replica serves new visitors right after it.

Real server processes; pages are loaded the way the browser does (tests/pageclient.py).
"""

import asyncio
import itertools
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.aio import run_async
from tests.ops.scrape import required, scrape, value
from tests.pageclient import Page, Refused
from tests.server import start_server, wait_until

ALICE = {"X-Forwarded-For": "203.0.113.7"}
BOB = {"X-Forwarded-For": "198.51.100.9"}


def session() -> aiohttp.ClientSession:
    # force_close: see bench/pages_load.py (an upgrade on a reused GET connection is dropped).
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True), cookie_jar=aiohttp.DummyCookieJar()
    )


async def load(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    async with http.get(url + "/", headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


def test_a_page_flood_from_one_client_gets_429_while_another_client_still_loads_the_page(tmp_path: Path) -> None:
    # 127.0.0.1 is a trusted proxy by default: X-Forwarded-For names the client.
    # A long connect timeout: the held pages are counted at the end, however slow the machine.
    with start_server(tmp_path, {"RATE_LIMIT_PAGE": "10/minute", "PAGE_CONNECT_TIMEOUT_S": "60"}) as server:

        async def scenario() -> None:
            async with session() as http:
                flood = await asyncio.gather(*(load(http, server.url, ALICE) for _ in range(25)))
                statuses = sorted(status for status, _, _ in flood)
                assert statuses == [200] * 10 + [429] * 15, statuses
                for status, headers, body in flood:
                    if status != 429:
                        continue
                    # The busy page's style: small, no script, reloads itself when the window allows.
                    assert headers["Content-Type"].startswith("text/html")
                    assert 1 <= int(headers["Retry-After"]) <= 60
                    assert f'content="{headers["Retry-After"]}"' in body
                    assert "<script" not in body and len(body) < 1000
                async with http.head(server.url + "/", headers=ALICE) as response:
                    assert response.status == 429, "HEAD shares GET's count"
                # Another client behind the same proxy gets the page, and its socket connects.
                bob = Page(server.url, http, headers=dict(BOB))
                await bob.open()
                assert bob.connected
                # The limit is on the page only: Alice still reads the API.
                async with http.get(server.url + "/leaderboard", headers=ALICE) as response:
                    assert response.status == 200
                samples = scrape(server.url)
                assert required(samples, "drafty_bird_busy_answers_total", reason="rate_limit") == 16
                assert required(samples, "http_requests_total", route="/", method="GET", status="429") == 15
                # A refused load built no NiceGUI client: Alice's 10 pages and Bob's.
                assert required(samples, "drafty_bird_pages_held") == 11
                await bob.close()

        run_async(scenario())


def test_forwarded_for_from_an_untrusted_peer_does_not_spread_a_flood_over_many_buckets(tmp_path: Path) -> None:
    # The test client (127.0.0.1) is not a trusted proxy here: its X-Forwarded-For is ignored.
    env = {"RATE_LIMIT_PAGE": "5/minute", "TRUSTED_PROXIES": "192.0.2.1"}
    with start_server(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        statuses = [http.get("/", headers={"X-Forwarded-For": f"10.1.0.{k}"}).status_code for k in range(1, 11)]
        assert statuses == [200] * 5 + [429] * 5, statuses


# The flood over many addresses. The bound: MAX_PAGES clients of ~0.1-0.2 MB each
# (docs/PERFORMANCE.md), plus the allocator's slack; see docs/DECISIONS.md 10.
FLOOD_MAX_PAGES = 300
FLOOD_LOADS = 600
FLOOD_CONCURRENCY = 16
CONNECT_TIMEOUT_S = 5
RSS_GROWTH_BOUND_MB = 100


def rss_mb(url: str) -> float:
    return required(scrape(url), "process_resident_memory_bytes") / 2**20


def test_a_flood_over_many_addresses_keeps_rss_bounded_and_unconnected_pages_are_pruned_in_seconds(
    tmp_path: Path,
) -> None:
    env = {
        "MAX_PAGES": str(FLOOD_MAX_PAGES),
        "PAGE_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        "RATE_LIMIT_PAGE": "60/minute",
        "LOG_LEVEL": "warning",
    }
    with start_server(tmp_path, env) as server:

        async def scenario() -> None:
            async with session() as http:
                # A real player, connected before the flood: never pruned, whatever the flood does.
                carol = Page(server.url, http, headers={"X-Forwarded-For": "192.0.2.50"})
                await carol.open()
                baseline = rss_mb(server.url)
                peak = baseline
                held_peak = 0.0
                addresses = (f"10.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 4), range(256), range(1, 255)))
                queue = [next(addresses) for _ in range(FLOOD_LOADS)]
                statuses: list[int] = []
                flooding = True

                async def flooder() -> None:
                    while queue:
                        status, _, _ = await load(http, server.url, {"X-Forwarded-For": queue.pop()})
                        statuses.append(status)

                async def sampler() -> None:
                    nonlocal peak, held_peak
                    while flooding:
                        samples = await asyncio.to_thread(scrape, server.url)
                        peak = max(peak, required(samples, "process_resident_memory_bytes") / 2**20)
                        held_peak = max(held_peak, value(samples, "drafty_bird_pages_held"))
                        await asyncio.sleep(0.2)

                watch = asyncio.create_task(sampler())
                started = time.monotonic()
                await asyncio.gather(*(flooder() for _ in range(FLOOD_CONCURRENCY)))
                flood_s = time.monotonic() - started
                flooding = False
                await watch
                peak = max(peak, rss_mb(server.url))
                assert set(statuses) <= {200, 503}, sorted(set(statuses))
                loaded = statuses.count(200)
                print(
                    f"flood: {FLOOD_LOADS} loads in {flood_s:.1f} s, {loaded} pages, "
                    f"{statuses.count(503)} busy, held peak {held_peak:.0f}, RSS {baseline:.0f} -> {peak:.0f} MB"
                )
                assert held_peak <= FLOOD_MAX_PAGES + 1
                assert peak - baseline <= RSS_GROWTH_BOUND_MB, f"RSS {baseline:.0f} -> {peak:.0f} MB"

                # Within seconds of the flood the replica serves a new visitor again
                # (NiceGUI alone keeps socket-less clients 60-70 s, holding every seat).
                dave = {"X-Forwarded-For": "192.0.2.60"}
                deadline = CONNECT_TIMEOUT_S + 1 + 8  # the age, the prune interval, a loaded machine

                def dave_gets_the_page() -> bool:
                    return httpx.get(server.url + "/", headers=dave, timeout=10).status_code == 200

                await asyncio.to_thread(wait_until, dave_gets_the_page, deadline, 0.5, "a new visitor gets the page")
                await asyncio.to_thread(
                    wait_until,
                    lambda: required(scrape(server.url), "drafty_bird_pages_held") <= 2,  # Carol, and Dave's page
                    deadline,
                    0.5,
                    "the flood's socket-less pages pruned",
                )
                samples = scrape(server.url)
                assert required(samples, "drafty_bird_pages_pruned_total") >= loaded
                assert carol.connected, "a page with a socket is never pruned"
                await carol.close()

        run_async(scenario())


def test_a_page_whose_socket_comes_after_the_connect_timeout_is_refused_and_one_in_time_is_kept(
    tmp_path: Path,
) -> None:
    with start_server(tmp_path, {"PAGE_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S)}) as server:

        async def scenario() -> None:
            async with session() as http:
                late, early = Page(server.url, http), Page(server.url, http)
                await late.load()
                await early.load()
                await early.connect()
                started = time.monotonic()
                await asyncio.to_thread(
                    wait_until,
                    lambda: value(scrape(server.url), "drafty_bird_pages_pruned_total") >= 1,
                    CONNECT_TIMEOUT_S + 1 + 8,
                    0.2,
                    "the unconnected page pruned",
                )
                assert time.monotonic() - started >= CONNECT_TIMEOUT_S - 1.5, "pruned before its time"
                # nicegui.js reloads the page on this refusal: a slow browser gets a fresh page.
                with pytest.raises(Refused, match="handshake failed"):
                    await late.connect()
                assert early.connected
                assert required(scrape(server.url), "drafty_bird_pages_held") == 1
                await early.close()

        run_async(scenario())
