"""Live top 10 across replicas: two real server processes on one PostgreSQL database, a
real Chromium page on B, scores posted to A. One LISTEN per process carries the change;
killing B's listener backend does not stop B's board from updating."""

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.pg import query, throwaway_db
from tests.server import launch, wait_healthy, wait_until
from tests.ui.conftest import GAME_ENV
from tests.ui.helpers import open_game

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_score_on_replica_a_shows_on_a_page_of_replica_b(page: Page, tmp_path: Path) -> None:
    with throwaway_db() as url:
        env = {**GAME_ENV, "DATABASE_URL": url}
        a, b = (launch(tmp_path, env, db_path=tmp_path / n / "unused.sqlite", name=n) for n in ("a", "b"))
        try:
            wait_healthy(a)
            wait_healthy(b)
            b_listener = f"drafty-bird-listen-{b.proc.pid}"

            def listener_pids() -> list[int]:
                sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                return [r[0] for r in query(url, sql, (b_listener,))]

            wait_until(lambda: len(listener_pids()) == 1, 15, message="B's LISTEN connection")
            open_game(page, b.url)
            page.evaluate("window.__noReload = 'still here'")

            posted = httpx.post(a.url + "/score", json={"player": "FromA", "score": 42}, timeout=10)
            assert posted.status_code == 201
            t0 = time.monotonic()
            page.locator(".db-board-panel li", has_text="FromA").wait_for(timeout=5_000)
            elapsed = time.monotonic() - t0
            assert elapsed <= 1.0, f"page on B saw A's score after {elapsed:.2f}s"

            # B's listener is cut off by the server; the next score on A still reaches B's page.
            old_pid = listener_pids()[0]
            assert query(url, "SELECT pg_terminate_backend(%s)", (old_pid,)) == [(True,)]
            posted = httpx.post(a.url + "/score", json={"player": "AfterCut", "score": 43}, timeout=10)
            assert posted.status_code == 201
            page.locator(".db-board-panel li", has_text="AfterCut").wait_for(timeout=10_000)
            wait_until(lambda: listener_pids() not in ([], [old_pid]), 10, message="B's listener to reconnect")
            third = httpx.post(a.url + "/score", json={"player": "Third", "score": 44}, timeout=10)
            assert third.status_code == 201
            t0 = time.monotonic()
            page.locator(".db-board-panel li", has_text="Third").wait_for(timeout=5_000)
            assert time.monotonic() - t0 <= 1.0, "live again on the new listener connection"
            assert page.evaluate("window.__noReload") == "still here", "B's page reloaded"
            assert "leaderboard listener reconnected" in b.raw_log()
        finally:
            a.stop()
            b.stop()
