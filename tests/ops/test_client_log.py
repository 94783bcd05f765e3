"""A page's socket cannot flood the log (issue 17, item 2).

The flood test runs a real server process and speaks socket.io to it as a page does
(tests/pageclient.py); what it measures is the process's own stdout+stderr.
"""

import asyncio
import json
import logging
import re
from pathlib import Path

import aiohttp
import httpx

from drafty_bird.ops.socket_limits import MAX_MESSAGE_BYTES
from tests.aio import run_async
from tests.ops.scrape import required, scrape
from tests.pageclient import Page
from tests.server import RunningServer, start_server, wait_until

FILLER = "q"  # the client's text: no line of ours has a run of it
# The largest text a frame can carry: a bigger message closes the socket unread (issue 17,
# item 1; the flood was 900 KB messages before that limit, and one still ends it below).
BIG = MAX_MESSAGE_BYTES - 400
HUGE = 900_000
# What the whole flood below may add to the log: 50 x 900 KB page log lines alone were 45 MB.
LOG_GROWTH_BOUND = 200_000
BURSTS = 6
BAD_CONNECTS = 3
MAX_LINE = 6_000  # a line with a full (bounded) traceback and its JSON fields
MAX_CLIENT_TEXT = 1_000  # the longest run of the client's text any line may carry
MAX_PAGE_LINE = 340  # a page's log line: 300 characters and the "...[N more chars]" note


def game_listeners(html: str) -> tuple[str, dict[str, str]]:
    """The game element's id and its listener ids by event type, from the page's elements JSON."""
    listeners = dict((kind, lid) for lid, kind in re.findall(r'"listener_id":"([0-9a-f-]+)","type":"(\w+)"', html))
    assert {"run_began", "score_saved", "restore_mine"} <= listeners.keys(), "the page has no game listeners"
    at = html.index(f'"listener_id":"{listeners["run_began"]}"')
    element_ids = re.findall(r'"(\d+)":\{"tag":', html[:at])
    assert element_ids, "no element id before the game's listeners: NiceGUI's page format changed?"
    return element_ids[-1], listeners


def event(page: Page, element: str, listener: str, args: list) -> dict:
    return {"client_id": page.client_id, "id": int(element), "listener_id": listener, "args": args}


def malformed(page: Page, element: str, listeners: dict[str, str]) -> list[tuple[str, object]]:
    """One burst: messages NiceGUI cannot dispatch, each kind small and as big as a frame
    may be (ops/socket_limits.py: past MAX_MESSAGE_BYTES the socket is closed unread)."""
    burst: list[tuple[str, object]] = []
    for size in (20, BIG):
        text = FILLER * size
        burst += [
            ("event", text),  # not an object
            ("event", {"client_id": page.client_id}),  # no element id
            ("event", event(page, element, text, [])),  # unknown listener: KeyError('<text>')
            ("event", event(page, element, listeners["run_began"], ["{" + text])),  # args not JSON
            ("event", {"client_id": page.client_id, "id": 987654, "listener_id": text}),  # no such element
            ("ack", {"client_id": page.client_id}),
            ("javascript_response", {"client_id": page.client_id, "result": text}),
            ("log", {"client_id": page.client_id, "level": text, "message": "x"}),
            ("log", text),
            # Reaches our handler with junk (a server bug until it checks its input).
            ("event", event(page, element, listeners["score_saved"], [json.dumps(text)])),
        ]
    return burst


async def connect_reply(http: aiohttp.ClientSession, ws_url: str, query: dict[str, str]) -> str:
    """socket.io's answer to a namespace CONNECT on a fresh socket (pings answered)."""
    async with http.ws_connect(ws_url, params=query) as ws:
        assert (await ws.receive_str(timeout=10)).startswith("0")  # engine.io open
        await ws.send_str("40")
        async with asyncio.timeout(10):  # the old code never answered a connect it choked on
            while (reply := await ws.receive_str()) == "2":
                await ws.send_str("3")
        return reply


def new_lines(server: RunningServer, start: int) -> list[str]:
    return server.raw_log()[start:].splitlines()


def test_a_page_cannot_flood_the_log(tmp_path: Path) -> None:
    with start_server(tmp_path) as server:

        async def scenario() -> int:
            connector = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
                page = Page(server.url, http)
                await page.open()
                element, listeners = game_listeners(page.html)
                start = len(server.raw_log())
                # 1. The page's `log` message, at ERROR, 50 as big as a frame may be.
                for i in range(50):
                    message = f"flood-{i} " + FILLER * BIG
                    await page.emit("log", {"client_id": page.client_id, "level": "error", "message": message})
                for _ in range(5):  # escaped in JSON, each of these takes 12 bytes
                    message = "\N{GRINNING FACE}" * (BIG // 12)
                    await page.emit("log", {"client_id": page.client_id, "level": "warning", "message": message})
                # 2. Six bursts of malformed messages (past the 60/minute budget), and frames that are not JSON.
                for _ in range(BURSTS):
                    for name, payload in malformed(page, element, listeners):
                        await page.emit(name, payload)
                    assert page._ws is not None
                    for frame in ("42[" + FILLER * 20, "42[" + FILLER * (BIG + 200), "4" + FILLER * 20):
                        await page._ws.send_str(frame)
                # Socket.io runs each message's handler as a task, in arrival order: once this
                # valid event has been counted, everything before it has been handled.
                run_began = event(page, element, listeners["run_began"], [json.dumps({})])  # as game.js sends it
                await page.emit("event", run_began)
                await asyncio.to_thread(
                    wait_until,
                    lambda: required(scrape(server.url), "drafty_bird_games_started_total") == 1,
                    30,
                    message="the last event handled",
                )
                # A 900 KB log message, as before the socket's limit: the socket is closed unread.
                message = FILLER * HUGE
                await page.emit("log", {"client_id": page.client_id, "level": "error", "message": message})
                await asyncio.wait_for(page.closed.wait(), 10)
                assert page.close_code == 1009
                grown = len(server.raw_log()) - start
                assert grown < LOG_GROWTH_BOUND, f"the flood added {grown:,} bytes of log"
                # 3. Socket connects whose handshake query lacks NiceGUI's fields: refused.
                ws_url = server.url.replace("http", "ws", 1) + "/_nicegui_ws/socket.io/"
                query = {"client_id": page.client_id, "implicit_handshake": "true", "EIO": "4"}
                query["transport"] = "websocket"
                for _ in range(BAD_CONNECTS):
                    reply = await connect_reply(http, ws_url, query)
                    assert reply.startswith("44"), reply[:200]  # socket.io CONNECT_ERROR
                await page.close()
                return start

        start = run_async(scenario())
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
        grown = len(server.raw_log()) - start
        assert grown < LOG_GROWTH_BOUND, f"the flood and the connects added {grown:,} bytes of log"

        # Once the flood stops, one summary line says how much was dropped.
        wait_until(lambda: any('"log lines dropped"' in line for line in new_lines(server, start)), 15)
        lines = new_lines(server, start)
        records = [json.loads(line) for line in lines]  # every line is still one JSON object
        assert all({"timestamp", "level", "logger", "message", "request_id"} <= r.keys() for r in records)
        assert max(len(line) for line in lines) < MAX_LINE
        longest_client_text = max((len(run) for run in re.findall(f"{FILLER}+", server.raw_log()[start:])), default=0)
        assert longest_client_text <= MAX_CLIENT_TEXT

        page_lines = [r for r in records if r["logger"] == "nicegui.client"]
        assert page_lines and all(r["level"] == "WARNING" for r in page_lines)
        assert {r["page_level"] for r in page_lines} == {"error", "warning"}
        assert all(len(r["message"]) < MAX_PAGE_LINE for r in page_lines)
        refused = [r for r in records if r["message"] == "socket message refused"]
        assert refused and all("exc_info" not in r and len(r["error"]) < 400 for r in refused)
        # A traceback in full once per code path; repeats are one line.
        full = [r for r in records if "Traceback (most recent call last)" in r.get("exc_info", "")]
        assert 0 < len(full) <= 4, [r["message"] for r in full]
        assert not [r for r in records if r["level"] == "ERROR" and r["logger"] == "nicegui.client"]

        samples = scrape(server.url)
        dropped = sum(samples["drafty_bird_log_lines_dropped_total"].values())
        summed = sum(r["dropped"] for r in records if r["message"] == "log lines dropped")
        assert 0 < summed <= dropped
        assert required(samples, "drafty_bird_socket_messages_refused_total", event="event") == BURSTS * 2 * 4
        assert required(samples, "drafty_bird_socket_messages_refused_total", event="connect") == BAD_CONNECTS


def test_the_budget_cuts_lines_and_drops_past_the_limit() -> None:
    from drafty_bird.ops import client_log  # here: the flood test above also runs against the old code

    logger = logging.getLogger("tests.client_log.budget")
    logger.propagate = False
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    limiter = client_log.MovingWindowRateLimiter(client_log.MemoryStorage())
    budget = client_log.LogBudget(logger.name, "5/minute", limiter, client_log.TracebackOnce())
    logger.addFilter(budget)
    empty: dict[str, int] = {}
    try:
        for _ in range(3):
            try:
                empty[FILLER * BIG]
            except KeyError:
                logger.exception("boom %s", FILLER * BIG)
        for _ in range(5):
            logger.warning("x")
        assert len(seen) == 5 and budget.pending == 3
        assert all(len(r.getMessage()) <= client_log.MAX_MESSAGE_CHARS + 40 for r in seen)
        first, second = seen[0].exc_text or "", seen[1].exc_text or ""
        assert first.startswith("Traceback") and len(first) <= client_log.MAX_TRACEBACK_CHARS + 80
        assert "logged before" in second and len(second) < client_log.MAX_CLIENT_CHARS + 100
        assert seen[0].traceback_id == seen[1].traceback_id  # type: ignore[attr-defined]
        assert seen[0].exc_info is None  # the JSON formatter prints exc_text, not the original
        budget.report(now=0.0)
        assert budget.pending == 0
    finally:
        logger.removeFilter(budget)
