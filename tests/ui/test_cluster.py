"""`make run-cluster` end to end: two replicas on one PostgreSQL database behind Debian's
HAProxy with cookie stickiness, driven by real Chromium through the proxy.

Pages pinned to different replicas play and see each other's scores live. Then one
replica gets SIGTERM: HAProxy takes it out, its page moves to the other replica (NiceGUI
reloads it), and a run finished during the switch is stored exactly once.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.pg import query, throwaway_db
from tests.server import ROOT, free_port, wait_until
from tests.ui.helpers import STATE, autopilot_realtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COOKIE = "DRAFTY_REPLICA"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict]:
    with throwaway_db() as url:
        env = ["GAME_TEST_HOOKS=true", "RATE_LIMIT_SCORE=off", "RATE_LIMIT_GAME_START=off"]
        command = [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--database-url", url]
        command += ["--port", str(free_port()), "--workdir", str(tmp_path)]
        command += [arg for item in env for arg in ("--env", item)]
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]  # stdout=PIPE
        reader.start()
        try:
            wait_until(lambda: any(line.startswith("{") for line in lines), 120, message="the cluster to start")
            info = json.loads(next(line for line in lines if line.startswith("{")))
            yield {**info, "database_url": url}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def pinned_page(browser: Browser, url: str, replica: str) -> tuple[BrowserContext, Page]:
    """A browser whose stickiness cookie already names the replica; checks HAProxy obeyed."""
    ctx = browser.new_context()
    ctx.add_cookies([{"name": COOKIE, "value": replica, "url": url}])
    page = ctx.new_page()
    response = page.goto(url)
    assert response is not None and response.headers["x-drafty-replica"] == replica
    page.wait_for_function("window.__draftyBird && window.__draftyBird.state().frames > 2", timeout=15_000)
    page.get_by_role("button", name="Skip: play as Guest").click()  # a first visit asks for a name
    return ctx, page


def play_a_short_run(page: Page, name: str) -> dict:
    """Play a 1-point run in real time (the page does not send 0-point runs, and the cluster
    verifies runs, so no stepped clock); returns lastRun()."""
    page.locator(".db-name input").fill(name)
    for _attempt in range(3):  # a noisy machine may lose a run at 0 points: that one is not sent
        page.wait_for_function("window.__draftyBird.nextRun() !== null", timeout=10_000)  # /game-start answered
        run_id = page.evaluate("window.__draftyBird.nextRun().run_id")
        page.locator("canvas").click()
        autopilot_realtime(page, target=1)
        run = page.evaluate("window.__draftyBird.lastRun()")
        assert run["run_id"] == run_id
        if run["score"] >= 1:
            return run
        page.wait_for_timeout(500)  # the restart prompt ignores presses for 400 ms after a crash
        page.locator(".db-over").click(position={"x": 10, "y": 10})
    raise AssertionError("the autopilot never scored a point in 3 runs")


def pump_until(page: Page, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """wait_until that lets Playwright dispatch events (route handlers run only inside its calls)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        page.wait_for_timeout(100)


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def rows_for(url: str, run_id: str) -> list[tuple]:
    return query(url, "SELECT player, score FROM scores WHERE run_id = %s", (run_id,))


def test_two_replicas_behind_haproxy_share_a_live_board_and_survive_a_sigterm(browser: Browser, cluster: dict) -> None:
    url, db = cluster["url"], cluster["database_url"]
    ctx1, page1 = pinned_page(browser, url, "r1")
    ctx2, page2 = pinned_page(browser, url, "r2")
    try:
        # Each replica's page plays; the other replica's page shows the score live (no reload).
        play_a_short_run(page1, "Alice")
        page2.locator(".db-board-panel li", has_text="Alice").wait_for(timeout=5_000)
        play_a_short_run(page2, "Bob")
        page1.locator(".db-board-panel li", has_text="Bob").wait_for(timeout=5_000)
        page1.wait_for_function("window.__draftyBird.state().phase === 'over'")
        page1.locator(".db-over").click(position={"x": 10, "y": 10})  # back to 'ready' for later

        # r2 is told to stop while its page saves a run: the score must land exactly once.
        page2.wait_for_function("window.__draftyBird.state().phase === 'over'", timeout=15_000)
        page2.wait_for_timeout(500)
        page2.locator(".db-over").click(position={"x": 10, "y": 10})
        page2.wait_for_function("window.__draftyBird.state().phase === 'ready'", timeout=5_000)
        r2 = next(r for r in cluster["replicas"] if r["name"] == "r2")
        # The run's POST is held in the browser until r2 has stopped listening, so it really
        # crosses the switch (a draining replica still answers for SHUTDOWN_DELAY_S). The run
        # is played first: a scoring run takes seconds, and r2's stop reloads the page.
        held: list[Route] = []
        page2.route("**/score", lambda route: held.append(route))
        carol = play_a_short_run(page2, "Carol")
        switch_run = carol["run_id"]
        pump_until(page2, lambda: bool(held), 20, "the run's POST /score")
        os.kill(r2["pid"], signal.SIGTERM)
        pump_until(page2, lambda: refuses(r2["port"]), 30, "r2 to stop listening")
        page2.unroute("**/score")
        for route in held:
            with contextlib.suppress(PlaywrightError):  # the page may have reloaded meanwhile
                route.continue_()

        wait_until(lambda: len(rows_for(db, switch_run)) >= 1, 60, message="the run finished during the switch")
        # Stored by r1 (the replica that also stored Alice's run), not by the stopped r2.
        writers = dict(query(db, "SELECT player, writer_id FROM scores"))
        assert writers["Carol"] == writers["Alice"] != writers["Bob"]
        # The page now lives on r1: HAProxy re-pinned it.
        wait_until(
            lambda: {c["name"]: c["value"] for c in ctx2.cookies()}.get(COOKIE) == "r1",
            30,
            message="page 2 re-pinned to r1",
        )
        page2.wait_for_function("window.__draftyBird && window.__draftyBird.queue().length === 0", timeout=30_000)
        page2.wait_for_timeout(3_000)  # a duplicate send (retry + queue flush after reload) would land by now
        assert rows_for(db, switch_run) == [("Carol", carol["score"])]

        # And it is live on r1: a new score from page 1 reaches it.
        page1.wait_for_function("window.__draftyBird.state().phase === 'ready'", timeout=5_000)
        play_a_short_run(page1, "Dave")
        page2.locator(".db-board-panel li", has_text="Dave").wait_for(timeout=10_000)
        expect(page2.locator("canvas")).to_be_visible()
        assert page2.evaluate(STATE)["frames"] > 0
        assert query(db, "SELECT count(*), count(DISTINCT run_id) FROM scores") == [(4, 4)]
    finally:
        ctx1.close()
        ctx2.close()
