"""The page at /: the game beside a live top-10 panel.

The game runs in the browser and POSTs scores over HTTP like any client; the panel
is fed by the service's one "top 10 changed" notification, fanned out to open pages.
"""

import logging

from nicegui import Client, ui

from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.settings import get_settings
from drafty_bird.ui.board import Board
from drafty_bird.ui.game import Game

log = logging.getLogger(__name__)

PAGE_CSS = """
body{background:#F0F7F9;font-family:Lato,system-ui,sans-serif;color:#1C4C75}
.nicegui-content{padding:.6rem 1rem;gap:.5rem;max-width:1400px;margin:0 auto}
.db-header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.2rem 1rem}
.db-header h1{margin:0;font-size:1.6rem;line-height:1.2;font-weight:800;letter-spacing:.01em}
.db-header p{margin:0;font-size:.95rem}
.db-chaos{padding:.35rem .7rem;border-radius:6px;background:#1C4C75;color:#fff;font-weight:700}
.db-main{display:grid;grid-template-columns:minmax(0,1fr) 17rem;gap:1rem;width:100%;align-items:start}
/* The board keeps 16:9 and fits the window height, so a laptop never scrolls. */
.db-play{width:100%;max-width:calc((100vh - 7.5rem) * 16 / 9);min-width:0}
@media (max-width:800px){.db-main{grid-template-columns:minmax(0,1fr)}.db-play{max-width:none}}
.db-board-panel{background:#fff;border-radius:10px;padding:.6rem .9rem;box-shadow:0 1px 4px rgba(28,76,117,.25)}
.db-board-panel h2{margin:0 0 .3rem;font-size:1.15rem;line-height:1.4;font-weight:800}
.db-rows{list-style:none;margin:0;padding:0}
.db-rows li{display:grid;grid-template-columns:2rem 1fr auto;gap:.4rem;padding:.18rem .3rem;border-radius:4px}
.db-rows li:nth-child(odd){background:#F0F7F9}
.db-rows li.db-mine{background:#FCAF1F;font-weight:800}
.db-rank{color:#2597EC;font-weight:700}
.db-player{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.db-score{font-variant-numeric:tabular-nums;font-weight:700;color:#04B290}
.db-rows li.db-mine .db-score,.db-rows li.db-mine .db-rank{color:#1C4C75}
.db-rows li.db-empty{display:block}
.db-you{margin:.5rem 0 0;font-weight:700}
"""


def chaos_summary() -> str | None:
    """A short description of active chaos injection, or None.

    Hook for drafty_bird/ops/chaos.py (the metrics/chaos issue): read once per page load.
    """
    try:
        from drafty_bird.ops import chaos  # noqa: PLC0415 (optional until that issue lands)
    except ImportError:
        return None
    describe = getattr(chaos, "describe", None)
    return describe() if callable(describe) else None


def register_pages(service: LeaderboardService) -> None:
    test_hooks = get_settings().game_test_hooks

    @ui.page("/", title="Drafty Bird")
    async def index(client: Client) -> None:
        ui.add_css(PAGE_CSS)
        with ui.element("header").classes("db-header"):
            ui.html("Drafty Bird", sanitize=False, tag="h1")
            ui.label("Fly the Draft Detector through the leaky ducts.").props('role="doc-subtitle"')
        chaos = chaos_summary()
        if chaos:
            ui.label(f"Chaos testing is on: {chaos}").classes("db-chaos").props('role="status"')
        with ui.element("main").classes("db-main"):
            with ui.element("div").classes("db-play"):
                game = Game(test_hooks=test_hooks)
            board = Board(await service.top())

        game.on_score_saved(board.mark_mine)

        def on_top(top: list) -> None:
            # Called once per change by the service; only touches this page's panel.
            board.show(top)

        unsubscribe = service.subscribe(on_top)
        client.on_delete(unsubscribe)
