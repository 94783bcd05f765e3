"""What a new player meets, in real Chromium against the real server (issue 16, Player).

Ranks that agree with the board, names that are stored as shown, a first visit that asks
for a name, no 0-point rows, the outcome on the result screen, a visible focus ring, a
device that remembers its player, phone layouts, and a started counter that counts runs.
"""

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ops.scrape import scrape, value
from tests.server import RunningServer
from tests.ui.helpers import STATE, db_rows, open_game, play_stepped_to

pytestmark = pytest.mark.browser


def post_scores(server: RunningServer, scores: list[tuple[str, int]]) -> None:
    for player, score in scores:
        httpx.post(server.url + "/score", json={"player": player, "score": score}, timeout=10).raise_for_status()


def saved_place(page: Page, saves: int) -> str:
    page.wait_for_function(f"window.__draftyBird.saves().length === {saves}", timeout=15_000)
    page.wait_for_function("window.__draftyBird.state().placeText !== ''", timeout=10_000)
    return page.evaluate(STATE)["placeText"]


def test_the_rank_told_is_the_rank_on_the_board_with_ties_and_outside_the_top_10(
    page: Page, game_server: RunningServer
) -> None:
    post_scores(game_server, [("Grace", 9), ("Linus", 2), ("Margaret", 2), ("Ken", 1)])
    open_game(page, game_server.url)
    run = play_stepped_to(page, 2)
    seeded = [9, 2, 2, 1]
    rank = 1 + sum(s > run["score"] for s in seeded)
    tied = run["score"] in seeded
    expected = f"#{rank} of 5" + (" (tied)" if tied else "")
    assert saved_place(page, 1) == expected
    expect(page.locator(".db-over .db-place")).to_have_text(expected)
    expect(page.locator(".db-you")).to_have_text(f"Your run: {expected}")
    # The highlighted row carries the same number; tied rows share it.
    mine = page.locator("li.db-mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".db-rank")).to_have_text(("=" if tied else "") + str(rank))
    scores = [int(t) for t in page.locator(".db-rows .db-score").all_inner_texts()]
    shown = page.locator(".db-rows .db-rank").all_inner_texts()
    for score, text in zip(scores, shown, strict=True):
        rank_of = 1 + sum(s > score for s in scores)
        assert text == ("=" if scores.count(score) > 1 else "") + str(rank_of), (scores, shown)

    # A full board of better runs: saved, and said plainly to be outside the top 10.
    post_scores(game_server, [(f"Pro{i}", 50) for i in range(10)])
    page.wait_for_timeout(500)
    page.keyboard.press("Space")
    page.wait_for_function("window.__draftyBird.state().phase === 'ready'")
    second = play_stepped_to(page, 1)
    place = saved_place(page, 2)
    total = 16
    rank = 1 + sum(s > second["score"] for s in [*[50] * 10, 9, 2, 2, 1, run["score"]])
    assert re.fullmatch(rf"#{rank} of {total}( \(tied\))?: outside the top 10", place), place
    expect(page.locator(".db-you")).to_have_text(f"Your run: {place}")
    expect(page.locator("li.db-mine")).to_have_count(0)


def test_a_refused_name_blocks_play_and_the_stored_name_is_the_one_shown(
    page: Page, game_server: RunningServer
) -> None:
    open_game(page, game_server.url)
    name = page.locator(".db-name input")
    scores: list[str] = []
    page.on("request", lambda r: scores.append(r.url) if r.url.endswith("/score") else None)
    for bad, error in [("Bob<script>", "no < or >"), ("A" * 30, "at most 24 characters")]:
        name.fill(bad)
        expect(page.locator("#db-name-err")).to_have_text(f"Name: {error}")
        page.locator("canvas").focus()
        page.keyboard.press("Space")
        page.locator("canvas").click()
        expect(page.locator(".db-status")).to_have_text("Fix the name first, or clear it to play as Guest.")
        assert page.evaluate(STATE)["phase"] == "ready"
        expect(name).to_be_focused()
    # Spaces are trimmed and collapsed: the stored form is shown before the run starts.
    name.fill("  Bob   Jones ")
    expect(page.locator("#db-name-err")).to_have_text("saved as \u201cBob Jones\u201d")
    run = play_stepped_to(page, 1)
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    expect(page.locator(".db-save")).to_have_text("saved as \u201cBob Jones\u201d")
    assert db_rows(game_server.db_path) == [("Bob Jones", run["score"], run["run_id"])]
    assert len(scores) == 1


# Navy pixels in the band where the canvas writes "Space, click or tap to flap" (board y 110,
# 30 px type). Nothing else navy is there on the start screen: the score sits above it, the
# bird below, and no duct is in view before the first flap.
HINT_BAND_NAVY = """() => {
  const c = document.querySelector('canvas'); const ctx = c.getContext('2d');
  const k = c.height / window.__draftyBird.constants.BOARD_H;
  const d = ctx.getImageData(0, Math.floor(105 * k), c.width, Math.ceil(40 * k)).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] === 28 && d[i + 1] === 76 && d[i + 2] === 117) n += 1;
  return n;
}"""


def test_a_first_visit_asks_for_the_name_and_enter_goes_to_the_game(page: Page, game_server: RunningServer) -> None:
    open_game(page, game_server.url, skip_name=False)
    ask = page.locator(".db-ask input")
    expect(ask).to_be_focused()
    expect(ask).to_have_attribute("placeholder", "Your name")
    # The prompt covers the board: the canvas does not also say how to flap under it (on a
    # phone the two overlapped).
    page.wait_for_function("window.__draftyBird.state().frames > 10")
    assert page.evaluate(HINT_BAND_NAVY) == 0
    page.keyboard.type("Zoe")
    page.keyboard.press("Enter")
    expect(page.locator(".db-ask")).to_have_count(0)
    expect(page.locator("canvas")).to_be_focused()
    page.wait_for_function(f"({HINT_BAND_NAVY})() > 50")  # the start screen's hint, once asked
    page.keyboard.press("Space")
    assert page.evaluate(STATE)["phase"] == "playing"
    assert page.evaluate(STATE)["player"] == "Zoe"

    page.reload()  # asked once per device
    open_game(page, game_server.url, skip_name=False)
    expect(page.locator(".db-ask")).to_have_count(0)
    name = page.locator(".db-name input")
    expect(name).to_have_value("Zoe")
    expect(name).to_have_attribute("placeholder", "your name for the top 10")
    name.fill("Zed")
    name.press("Enter")  # Enter in the field: keep the name, go to the game
    expect(page.locator("canvas")).to_be_focused()
    page.keyboard.press("Space")
    assert page.evaluate(STATE)["player"] == "Zed"


def test_skipping_the_name_plays_as_guest(page: Page, game_server: RunningServer) -> None:
    open_game(page, game_server.url, skip_name=False)
    page.get_by_role("button", name="Skip: play as Guest").click()
    expect(page.locator("canvas")).to_be_focused()
    run = play_stepped_to(page, 1)
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    assert db_rows(game_server.db_path) == [("Guest", run["score"], run["run_id"])]


def test_a_0_point_run_is_not_sent_and_the_result_screen_tells_the_outcome(
    page: Page, game_server: RunningServer
) -> None:
    open_game(page, game_server.url)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/score") else None)
    # The start screen says how to play, drafts included.
    howto = page.locator(".db-howto")
    expect(howto).to_contain_text("Space to flap")
    expect(howto).to_contain_text("streaks push you up")

    page.locator("canvas").focus()
    page.keyboard.press("Space")  # one flap, then the bird falls: 0 points
    page.wait_for_function("window.__draftyBird.state().phase === 'over'", timeout=15_000)
    over = page.locator(".db-over")
    expect(over.locator(".db-result")).to_have_text("0 points")
    expect(over.locator(".db-save")).to_have_text("0 points: not saved")
    expect(over.locator(".db-best")).to_have_count(0)
    expect(over.get_by_role("button")).to_have_text("Play again (Space)")

    page.wait_for_timeout(500)
    page.keyboard.press("Space")
    page.wait_for_function("window.__draftyBird.state().phase === 'ready'")
    run = play_stepped_to(page, 1)
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    # Only the scoring run was sent (the saver sends in order: a sent 0 would come first).
    assert len(sent) == 1
    assert db_rows(game_server.db_path) == [("Guest", run["score"], run["run_id"])]
    unit = "point" if run["score"] == 1 else "points"
    expect(over.locator(".db-result")).to_have_text(f"{run['score']} {unit}")
    expect(page.locator(".db-status")).to_have_text(f"Run complete: {run['score']} {unit}.")
    expect(over.locator(".db-best")).to_have_text("New personal best!")
    expect(over.locator(".db-save")).to_have_text("saved as \u201cGuest\u201d")
    expect(over.locator(".db-place")).to_have_text("#1 of 1")
    # The API itself still takes 0 from other clients.
    assert httpx.post(game_server.url + "/score", json={"score": 0}, timeout=10).status_code == 201


def test_on_a_touch_phone_the_hints_say_tap(browser: Browser, game_server: RunningServer) -> None:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = ctx.new_page()
        open_game(page, game_server.url)
        expect(page.locator(".db-howto")).to_contain_text("Tap to flap")
        page.locator("canvas").tap()
        page.wait_for_function("window.__draftyBird.state().phase === 'over'", timeout=15_000)
        expect(page.locator(".db-over").get_by_role("button")).to_have_text("Play again (Tap)")
    finally:
        ctx.close()


def test_tab_to_the_game_shows_a_focus_ring(page: Page, game_server: RunningServer) -> None:
    open_game(page, game_server.url)
    page.evaluate("window.__draftyBird.manual(true)")
    page.locator(".db-name input").focus()
    board = page.locator(".db-board")
    canvas = page.locator("canvas")

    def edge_pixel() -> tuple[int, int, int]:
        """The colour 2 px inside the canvas's left edge, halfway down, as the screen shows it."""
        box = canvas.bounding_box()
        assert box
        return _screen_pixel(page, box["x"] + 2, box["y"] + box["height"] / 2)

    unfocused = edge_pixel()
    page.keyboard.press("Shift+Tab")  # from the name field back to the game
    expect(canvas).to_be_focused()
    focused = edge_pixel()
    assert focused != unfocused, f"Tab to the canvas changed nothing on screen: {focused}"
    assert focused == (28, 76, 117), f"the ring is the palette's navy: {focused}"
    assert board.evaluate("b => getComputedStyle(b).boxShadow").count("rgb(252, 175, 31)") == 1


def _screen_pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    import io
    import struct
    import zlib

    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1}, scale="css")
    data = io.BytesIO(png)
    data.read(8)
    idat = b""
    while True:
        length, kind = struct.unpack(">I4s", data.read(8))
        chunk = data.read(length)
        data.read(4)
        if kind == b"IDAT":
            idat += chunk
        if kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    return raw[1], raw[2], raw[3]  # filter byte, then the first pixel's RGB


def test_a_reload_still_highlights_this_devices_runs_and_best(page: Page, game_server: RunningServer) -> None:
    open_game(page, game_server.url)
    page.locator(".db-name input").fill("Rae")
    run = play_stepped_to(page, 1)
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=15_000)
    post_scores(game_server, [("Other", run["score"])])  # same score, another player's row
    expect(page.locator("li.db-mine")).to_have_count(1)
    page.reload()
    open_game(page, game_server.url)
    mine = page.locator("li.db-mine")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Rae")
    expect(page.locator(".db-best-line")).to_have_text(f"Your best: {run['score']}")


def test_phone_portrait_gets_a_taller_board_and_landscape_reaches_the_name_field(
    browser: Browser, game_server: RunningServer
) -> None:
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = ctx.new_page()
        open_game(page, game_server.url)
        box = page.locator("canvas").bounding_box()
        assert box and box["width"] >= 350 and box["height"] >= box["width"] * 0.7, box
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        # The whole height of the course is drawn: the floor's green is at the bottom.
        assert _screen_pixel(page, box["x"] + box["width"] / 2, box["y"] + box["height"] - 3) == (4, 178, 144)
        page.set_viewport_size({"width": 844, "height": 390})
        page.wait_for_timeout(300)
        name = page.locator(".db-name input").bounding_box()
        canvas = page.locator("canvas").bounding_box()
        assert name and name["y"] + name["height"] <= 390, f"name field below the fold: {name}"
        assert canvas and canvas["y"] + canvas["height"] <= 390, canvas
    finally:
        ctx.close()


def test_games_started_counts_runs_played_not_page_loads(page: Page, game_server: RunningServer) -> None:
    """Three loads and a restart left unplayed fetch four run ids ahead; two runs are played."""
    for _load in range(3):
        open_game(page, game_server.url)
    for saves in (1, 2):
        play_stepped_to(page, 1)
        page.wait_for_function(f"window.__draftyBird.saves().length === {saves}", timeout=15_000)
        page.wait_for_timeout(500)
        page.keyboard.press("Space")  # back to ready: the next run id is fetched ahead
        page.wait_for_function("window.__draftyBird.nextRun() !== null", timeout=10_000)
    metrics = scrape(game_server.url)
    assert value(metrics, "http_requests_total", route="/game-start", method="POST", status="202") == 5
    started = value(metrics, "drafty_bird_games_started_total")
    completed = value(metrics, "drafty_bird_games_completed_total")
    assert (started, completed) == (2, 2), (started, completed)
    # Other clients that call /game-start without ahead=true are counted there.
    assert httpx.post(game_server.url + "/game-start", timeout=10).status_code == 202
    assert httpx.post(game_server.url + "/game-start?ahead=true", timeout=10).status_code == 202
    assert value(scrape(game_server.url), "drafty_bird_games_started_total") == 3


@pytest.mark.parametrize("viewport", [(844, 390), (390, 844)], ids=["phone-landscape", "phone-portrait"])
def test_on_a_phone_connection_lost_leaves_the_result_readable(
    browser: Browser, game_server: RunningServer, viewport: tuple[int, int]
) -> None:
    """NiceGUI's notice, once the server is gone, must not cover the place or Play again."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        open_game(page, game_server.url)
        play_stepped_to(page, 1)
        expect(page.locator(".db-over .db-place")).not_to_have_text("")
        game_server.stop()
        notice = page.locator("#popup")
        expect(notice).to_be_visible(timeout=15_000)
        page.wait_for_timeout(600)  # NiceGUI fades it in over 500 ms, after a 2 s delay
        box = notice.bounding_box()
        assert box, "no notice"
        for covered in (".db-over .db-place", ".db-over .db-btn", "canvas"):
            other = page.locator(covered).bounding_box()
            assert other, covered
            apart = (
                box["y"] + box["height"] <= other["y"]
                or other["y"] + other["height"] <= box["y"]
                or box["x"] + box["width"] <= other["x"]
                or other["x"] + other["width"] <= box["x"]
            )
            assert apart, f"the notice {box} covers {covered} {other}"
    finally:
        ctx.close()
