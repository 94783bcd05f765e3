"""The live top-10 panel: one shared rows list per change, pushed at most once per interval."""

import asyncio
import time

from nicegui import Client, ui

from drafty_bird.data.models import ScoreRead
from drafty_bird.leaderboard import LIVE_BOARD_SIZE, LeaderboardService


def serialize(top: list[ScoreRead]) -> list[dict]:
    """The rows every page shows, built once per change; "mine" is each page's own prop."""
    rows = [s.model_dump(mode="json") for s in top]
    return [{**row, "key": f"{i}-{row['createdAt']}", "rank": i + 1} for i, row in enumerate(rows)]


def entry_key(player: str, score: int, created_at: str) -> str:
    return f"{player}|{score}|{created_at}"  # board.js builds the same string from a row


class Board(ui.element, component="board.js"):
    def __init__(self, rows: list[dict]) -> None:
        super().__init__()
        self._props["rows"] = rows
        self._props["mine"] = []
        self._props["rankText"] = ""

    def show(self, rows: list[dict]) -> None:
        # The same list object on every page: nothing is copied per page.
        self._props["rows"] = rows
        self.update()

    def mark_mine(self, saved: dict) -> None:
        """After this page stored a run: highlight it and show its rank."""
        # Bounded: only 10 rows can ever be highlighted.
        mine = [*self._props["mine"], entry_key(saved["player"], saved["score"], saved["createdAt"])]
        self._props["mine"] = mine[-LIVE_BOARD_SIZE:]
        self._props["rankText"] = f"Your run: #{saved['rank']:,} of {saved['total']:,}"
        self.update()


class LiveBoards:
    """One subscription to the service for the whole process, fanned out to open pages.

    Coalesced: the first change after a quiet spell goes out at once; changes within
    `interval` of the last push wait for the next one, which carries only the latest
    top 10. So each page gets at most 1/interval board messages per second, however
    many scores arrive.
    """

    def __init__(self, service: LeaderboardService, interval: float = 0.5) -> None:
        self.boards: set[Board] = set()
        self.interval = interval
        self._latest: list[dict] | None = None
        self._last_push = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self.pushes = 0  # fan-outs done (each reaches every open board)
        service.subscribe(self._changed)

    def add(self, board: Board, client: Client) -> None:
        self.boards.add(board)
        client.on_delete(lambda: self.boards.discard(board))

    def _changed(self, top: list[ScoreRead]) -> None:
        self._latest = serialize(top)
        if self._pending is not None:
            return  # the scheduled push will carry this one
        wait = self._last_push + self.interval - time.monotonic()
        if wait <= 0:
            self._push()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._push)

    def _push(self) -> None:
        self._pending = None
        rows, self._latest = self._latest, None
        if rows is None:
            return
        self._last_push = time.monotonic()
        self.pushes += 1
        for board in list(self.boards):
            if not board.is_deleted:
                board.show(rows)
