"""Placeholder page at /: the leaderboard, read through the service. The game replaces it."""

from nicegui import ui

from drafty_bird.leaderboard import LeaderboardService


def register_pages(service: LeaderboardService) -> None:
    @ui.page("/", title="Drafty Bird")
    async def index() -> None:
        ui.label("Drafty Bird").classes("text-h4")
        rows = [{"rank": i + 1, "player": s.player, "score": s.score} for i, s in enumerate(await service.top())]
        ui.table(
            columns=[{"name": k, "label": k.title(), "field": k} for k in ("rank", "player", "score")],
            rows=rows,
            row_key="rank",
        )
