"""The game against a server that verifies scores (SCORE_VERIFICATION=required), in real Chromium.

The other game tests run the server with verification off: they step the clock by hand
or force a seed, which a verifying server rightly refuses (too_fast, seed_mismatch).
Here a run is played in real time with real key presses, so the server's replay of
what the browser sends must give the score the browser shows.
"""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, start_server
from tests.ui.conftest import GAME_ENV
from tests.ui.helpers import autopilot_realtime, open_game

pytestmark = pytest.mark.browser


@pytest.fixture
def verifying_server(tmp_path: Path) -> Iterator[RunningServer]:
    with start_server(tmp_path, env={**GAME_ENV, "SCORE_VERIFICATION": "required"}) as running:
        yield running


def stored(server: RunningServer) -> list[tuple]:
    with sqlite3.connect(server.db_path) as db:
        return db.execute("SELECT score, run_id, verified, ticks FROM scores ORDER BY id").fetchall()


def test_a_run_played_in_chromium_is_stored_with_its_replayed_score(
    page: Page, verifying_server: RunningServer
) -> None:
    open_game(page, verifying_server.url)
    page.wait_for_function("window.__draftyBird.nextRun() !== null", timeout=10_000)  # token in hand
    page.locator("canvas").focus()
    page.keyboard.press("Space")
    autopilot_realtime(page, target=2)
    run = page.evaluate("window.__draftyBird.lastRun()")
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    (save,) = page.evaluate("window.__draftyBird.saves()")
    assert "result" in save, save

    replay = physics.simulate(run["seed"], run["inputs"])
    assert (replay.score, replay.ticks) == (run["score"], run["ticks"])
    assert stored(verifying_server) == [(run["score"], run["run_id"], 1, encode_ticks(run["inputs"]))]
    assert save["result"]["verified"] is True
    # Beside the rank, the player sees that the server replayed it.
    expect(page.locator(".db-save")).to_have_text("saved as \u201cGuest\u201d \u2713 verified")
    expect(page.locator(".db-place")).to_have_text("#1 of 1")


def test_a_refused_run_says_why_and_is_never_sent_again(page: Page, verifying_server: RunningServer) -> None:
    for _ in range(3):  # real-time play on a loaded machine can miss the first gap: 0 points, not sent
        open_game(page, verifying_server.url)
        page.wait_for_function("window.__draftyBird.nextRun() !== null", timeout=10_000)
        token_seed = page.evaluate("window.__draftyBird.nextRun().seed")
        # Play another course than the token's: a tampered client (the server replays the token's).
        other = (token_seed + 1) % 2**31
        page.evaluate(f"window.__draftyBird.forceSeed({other})")
        page.locator("canvas").focus()
        page.keyboard.press("Space")
        if autopilot_realtime(page, target=1)["score"] >= 1:  # the page does not send 0-point runs
            break
    else:
        pytest.fail("three real-time runs in a row scored 0: the autopilot never passed a duct")
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    expect(page.locator(".db-save")).to_have_text(
        f"not saved: run token is for seed {token_seed}, not {token_seed + 1}"
    )
    assert page.evaluate("window.__draftyBird.queue()") == []
    assert stored(verifying_server) == []

    page.reload()  # the next visit flushes the offline queue: the refused run is not in it
    open_game(page, verifying_server.url)
    page.wait_for_timeout(1_500)
    metrics = scrape(verifying_server.url)
    assert value(metrics, "drafty_bird_scores_rejected_total", reason="seed_mismatch") == 1
    assert value(metrics, "http_requests_total", route="/score", method="POST", status="422") == 1
    assert stored(verifying_server) == []
