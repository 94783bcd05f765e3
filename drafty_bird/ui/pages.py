"""The page at /: the game beside a live top-10 panel.

The game runs in the browser and POSTs scores over HTTP like any client; the panel
is fed by the service's one "top 10 changed" notification, fanned out to open pages
(ui/board.py LiveBoards).
"""

from nicegui import Client, ui
from nicegui.elements.mixins.text_element import TextElement

from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops import chaos
from drafty_bird.ops.chaos import ChaosState
from drafty_bird.ui.board import Board, LiveBoards, serialize
from drafty_bird.ui.game import GAME_CSS, Game
from drafty_bird.ui.page_events import PageEvents
from drafty_bird.ui.palette import css_variables

# Colours and font are the palette's CSS variables (ui/palette.py), added with this CSS.
PAGE_CSS = """
body{background:var(--db-pale);font-family:var(--db-font);color:var(--db-navy)}
.nicegui-content{padding:.6rem 1rem;gap:.5rem;max-width:1400px;margin:0 auto}
.db-header{position:relative;width:100%;display:flex;flex-wrap:wrap;align-items:baseline;gap:.2rem 1rem}
.db-header h1{margin:0;font-size:1.6rem;line-height:1.2;font-weight:800;letter-spacing:.01em}
.db-header p{margin:0;font-size:.95rem}
/* A small badge out of the flow: switching chaos on or off never moves the page. */
.db-chaos{position:absolute;top:.2rem;right:0;padding:.1rem .5rem;border-radius:999px;font-size:.75rem;
  background:var(--db-navy);color:var(--db-white);font-weight:700;white-space:nowrap}
.db-chaos.db-off{visibility:hidden}
.db-main{display:grid;grid-template-columns:minmax(0,1fr) 17rem;gap:1rem;width:100%;align-items:start}
/* The board keeps 16:9 and fits the window height, so a laptop never scrolls. */
.db-play{width:100%;max-width:calc((100vh - 7.5rem) * 16 / 9);min-width:0}
@media (max-width:800px){.db-main{grid-template-columns:minmax(0,1fr)}.db-play{max-width:none}}
@media (max-width:480px){.db-header h1{font-size:1.35rem}}
/* Phone landscape: a compact header and a board that leaves room for the name field. */
@media (max-height:500px) and (orientation:landscape){
.nicegui-content{padding:.3rem .8rem;gap:.3rem}
.db-header h1{font-size:1.1rem}.db-header p{display:none}
.db-main{grid-template-columns:minmax(0,1fr) 14rem}
.db-play{max-width:calc((100vh - 5.2rem) * 16 / 9)}}
.db-board-panel{background:var(--db-white);border-radius:10px;padding:.6rem .9rem;box-shadow:0 1px 4px var(--db-shadow)}
.db-board-panel h2{margin:0 0 .3rem;font-size:1.15rem;line-height:1.4;font-weight:800}
.db-rows{list-style:none;margin:0;padding:0}
.db-rows li{display:grid;grid-template-columns:2rem 1fr auto;gap:.4rem;padding:.18rem .3rem;border-radius:4px}
.db-rows li:nth-child(odd){background:var(--db-pale)}
.db-rows li.db-mine{background:var(--db-amber);font-weight:800}
.db-rank{color:var(--db-blue);font-weight:700}
.db-player{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.db-score{font-variant-numeric:tabular-nums;font-weight:700;color:var(--db-green)}
.db-rows li.db-mine .db-score,.db-rows li.db-mine .db-rank{color:var(--db-navy)}
.db-rows li.db-empty{display:block}
.db-you,.db-best-line{margin:.5rem 0 0;font-weight:700}
/* NiceGUI's "Connection lost" notice: on a phone, a compact line over the header instead
   of a box over the result screen's place and Play again button. */
@media (max-height:500px),(max-width:600px){
.nicegui-error-popup{top:.2rem;bottom:auto;margin:0 .5rem;padding:.2rem .7rem .2rem 2rem;
  flex-direction:row;gap:.35rem;font-size:.8rem}
.nicegui-error-popup:dir(ltr){left:auto;right:0}
.nicegui-error-popup:dir(ltr)>span:first-child::before{left:.6rem}}
"""


# Players see plain words; the detail (rates, routes) is for operators: drafty_bird_chaos_*
# in /metrics, GET /ops/chaos and the logs.
CHAOS_BADGE = "test mode: saves may be slow"


def show_chaos(badge: ui.label, state: ChaosState) -> None:
    on = state.enabled
    if on == ("db-off" in badge.classes):  # only a change reaches the browser
        badge.classes(remove="db-off" if on else None, add=None if on else "db-off")


class ChaosBanners:
    """Chaos can be flipped at runtime (PUT /ops/chaos): pushed to open pages on change, not polled per page."""

    def __init__(self) -> None:
        self.banners: set[ui.label] = set()
        chaos.watch(self._changed)

    def add(self, banner: ui.label, client: Client) -> None:
        self.banners.add(banner)
        client.on_delete(lambda: self.banners.discard(banner))

    def _changed(self, state: ChaosState) -> None:
        for banner in list(self.banners):
            if not banner.is_deleted:
                show_chaos(banner, state)


def register_pages(service: LeaderboardService, *, test_hooks: bool = False, push_interval_s: float = 0.5) -> None:
    """test_hooks exposes window.__draftyBird for Playwright (GAME_TEST_HOOKS)."""
    live = LiveBoards(service, push_interval_s)
    banners = ChaosBanners()
    # Once for every page, not copied into each page's head (and JSON-encoded) per load.
    ui.add_css(css_variables() + PAGE_CSS, shared=True)
    ui.add_css(GAME_CSS, shared=True)

    @ui.page("/", title="Drafty Bird")
    async def index(client: Client) -> None:
        # Read first, then build synchronously: everything reaches the browser in one piece.
        # The version before the await: a push meanwhile is sent again when the socket connects.
        seen = live.version
        top = {"v": seen, "rows": serialize(await service.top())}
        with ui.element("header").classes("db-header"):
            TextElement(tag="h1", text="Drafty Bird")  # a real <h1>, without ui.html's sanitizer bundle
            ui.label("Fly the Draft Detector through the leaky ducts.").props('role="doc-subtitle"')
            chaos_banner = ui.label(CHAOS_BADGE).classes("db-chaos db-off").props('role="status"')
        show_chaos(chaos_banner, chaos.chaos_state())
        banners.add(chaos_banner, client)
        with ui.element("main").classes("db-main"):
            play = ui.element("div").classes("db-play")
            board = Board(top)
        events = PageEvents(board, service.saved_runs, service.run_began)
        with play:
            game = Game(
                test_hooks=test_hooks,
                on_score_saved=events.score_saved,
                on_run_began=events.run_began,
                on_restore_mine=events.restore_mine,
            )
        board.on_place = game.show_place
        live.add(board, client)
