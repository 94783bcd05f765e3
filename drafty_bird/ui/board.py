"""The live top-10 panel: rows replaced in place, one prop update per page per change."""

from nicegui import Client, ui

from drafty_bird.data.models import ScoreRead
from drafty_bird.leaderboard import LeaderboardService

EntryKey = tuple[str, int, str]


def serialize(top: list[ScoreRead]) -> list[dict]:
    return [s.model_dump(mode="json") for s in top]


class Board(ui.element, component="board.js"):
    def __init__(self, top: list[dict]) -> None:
        super().__init__()
        self.mine: set[EntryKey] = set()
        self._top = top
        self._props["rankText"] = ""
        self._render()

    def show(self, top: list[dict]) -> None:
        self._top = top
        self._render()

    def mark_mine(self, saved: dict) -> None:
        """After this page stored a run: highlight it and show its rank."""
        self.mine.add((saved["player"], saved["score"], saved["createdAt"]))
        self._props["rankText"] = f"Your run: #{saved['rank']:,} of {saved['total']:,}"
        self._render()

    def _render(self) -> None:
        self._props["rows"] = [
            {
                **s,
                "key": f"{i}-{s['createdAt']}",
                "rank": i + 1,
                "mine": (s["player"], s["score"], s["createdAt"]) in self.mine,
            }
            for i, s in enumerate(self._top)
        ]
        self.update()


class LiveBoards:
    """One subscription to the service for the whole process, fanned out to open pages.

    The service queries the top 10 once per change; it is serialized once here, and
    each open page gets one small prop update. No page is rebuilt, no DB read per page.
    """

    def __init__(self, service: LeaderboardService) -> None:
        self.boards: set[Board] = set()
        service.subscribe(self._changed)

    def add(self, board: Board, client: Client) -> None:
        self.boards.add(board)
        client.on_delete(lambda: self.boards.discard(board))

    def _changed(self, top: list[ScoreRead]) -> None:
        rows = serialize(top)
        for board in list(self.boards):
            board.show(rows)
