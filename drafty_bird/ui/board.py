"""The live top-10 panel: one socket.io packet per change for every open page, at most once per interval.

A push does not go through NiceGUI's per-page element updates (one serialization, one
outbox message and one history entry per page): LiveBoards emits ONE custom socket.io
event, `db_top`, to the rooms NiceGUI keeps per client (each page's socket joins a room
named after its client id), and python-socketio encodes that packet once for all of
them. board.js listens for it. Each payload carries a version, so the page shows the
newest of what its initial HTML had and what the event brought, in whatever order they
arrive; this page's own state ("mine", its place, its best) stays a per-page prop.
"""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from engineio import packet as eio_packet  # type: ignore[import-untyped]  # (NiceGUI's dependency, untyped)
from nicegui import Client, background_tasks, core, ui
from socketio import packet as sio_packet  # type: ignore[import-untyped]

from drafty_bird.data.models import ScoreRead
from drafty_bird.leaderboard import LIVE_BOARD_SIZE, LeaderboardService, RunPlace

MINE_KEEP = 20  # this device's runs highlighted, as many as game.js keeps


def competition_ranks(scores: list[int]) -> list[int]:
    """1 + the number of higher scores, as POST /score's rank: ties share a rank (1, 2, 2, 4)."""
    ranks: list[int] = []
    for i, score in enumerate(scores):
        ranks.append(ranks[-1] if i and score == scores[i - 1] else i + 1)
    return ranks


def serialize(top: list[ScoreRead]) -> list[dict]:
    """The rows every page shows, built once per change; "mine" is each page's own prop.

    Ranks are competition ranks, as POST /score reports them; tied rows are marked."""
    rows = [s.model_dump(mode="json") for s in top]
    ranks = competition_ranks([row["score"] for row in rows])
    return [
        {**row, "key": f"{i}-{row['createdAt']}", "rank": ranks[i], "tied": ranks.count(ranks[i]) > 1}
        for i, row in enumerate(rows)
    ]


def entry_key(player: str, score: int, created_at: str) -> str:
    return f"{player}|{score}|{created_at}"  # board.js builds the same string from a row


def run_key(run: RunPlace) -> str:
    row = run.entry.model_dump(mode="json")  # createdAt as the board's rows carry it
    return entry_key(row["player"], row["score"], row["createdAt"])


def place_text(rank: int, total: int, *, on_board: bool, tied: bool) -> str:
    """Where a saved run stands, the same words on the board and on the result screen."""
    text = f"#{rank:,} of {total:,}"
    if tied:
        text += " (tied)"
    if not on_board:
        text += f": outside the top {LIVE_BOARD_SIZE}"
    return text


TOP_EVENT = "db_top"  # board.js listens for it on NiceGUI's socket

# (payload, client ids): sends one event to those pages' sockets.
Emit = Callable[[dict[str, Any], list[str]], None]


def emit_to_pages(payload: dict[str, Any], client_ids: list[str]) -> None:
    """One socket.io EVENT packet, encoded once, queued to every socket in these rooms.

    No `_id`: NiceGUI's outbox does not see it, so it is neither kept for replay nor
    acked; a page that connects or reconnects after a push is caught up by LiveBoards."""
    if client_ids:
        background_tasks.create(_send_once(payload, client_ids), name="board push")


async def _send_once(payload: dict[str, Any], client_ids: list[str]) -> None:
    # What python-socketio's emit to a list of rooms does (one encode), minus its one
    # asyncio task per recipient: send_packet only queues the packet on the socket, for
    # that socket's writer task, so awaiting it for each page in turn never waits.
    sio = core.sio
    encoded = sio.packet_class(sio_packet.EVENT, namespace="/", data=[TOP_EVENT, payload]).encode()
    packet = eio_packet.Packet(eio_packet.MESSAGE, encoded)
    for _sid, eio_sid in list(sio.manager.get_participants("/", client_ids)):
        await sio.eio.send_packet(eio_sid, packet)


def as_prop(top: dict[str, Any]) -> str:
    """The board as a JSON string prop: a dict or list prop is wrapped by NiceGUI in
    observable copies (each row too) on every page, a string is kept as it is."""
    return json.dumps(top, separators=(",", ":"))


class Board(ui.element, component="board.js"):
    """`top` is {"v": version, "rows": [...]}: the board as of this page's build."""

    def __init__(self, top: dict[str, Any]) -> None:
        super().__init__()
        self._props["top"] = as_prop(top)
        self._props["mine"] = []
        self._props["rankText"] = ""
        self._props["bestText"] = ""
        self.built_version: int = top["v"]
        self.latest: dict[str, Any] = top  # the latest board sent to this page
        # Runs saved from this page whose rows may still be on their way here (a coalesced
        # push, another replica's broadcast): placed again on the next push. Per run, so a
        # kept run that drains meanwhile does not leave the run just played unplaced.
        self._unplaced: dict[str, RunPlace] = {}
        self._latest_saved = ""  # the board's "Your run" line is about this run only
        self.on_place: Callable[[str, str], Any] | None = None  # (text, run_id)

    def follow(self, top: dict[str, Any]) -> None:
        """A push went to the page by the shared event: keep this side in step.

        No message of its own, except to place again runs that waited for their rows."""
        self.latest = top
        if self._unplaced:
            for run in list(self._unplaced.values()):
                self._place(run)
            self.update()

    def resend(self) -> None:
        """The latest board through this page's own element update (NiceGUI's outbox)."""
        self._props["top"] = as_prop(self.latest)
        self.update()

    def show_mine(self, runs: list[RunPlace], *, place: RunPlace | None = None, best: int = 0) -> None:
        """This page's own saved runs, as the server looked them up (ui/page_events.py):
        highlight them, show the device's best and where `place` (saved just now) stands."""
        self._add_mine([run_key(run) for run in runs])
        if best > 0:
            self._props["bestText"] = f"Your best: {best:,}"
        if place is not None:
            self._latest_saved = place.run_id
            self._place(place)
        self.update()

    def _add_mine(self, keys: list[str]) -> None:
        # Bounded: the device keeps MINE_KEEP runs; a run highlighted again moves to the end.
        kept = [key for key in self._props["mine"] if key not in keys]
        self._props["mine"] = [*kept, *keys][-MINE_KEEP:]

    def _place(self, run: RunPlace) -> str:
        rows = self.latest["rows"]
        key = run_key(run)
        score = run.entry.score
        on_board = any(entry_key(r["player"], r["score"], r["createdAt"]) == key for r in rows)
        tied = sum(r["score"] == score for r in rows) > (1 if on_board else 0)
        # Off the board with a top-10 rank: tied with runs listed first, or not here yet.
        self._unplaced.pop(run.run_id, None)
        if not on_board and run.rank <= LIVE_BOARD_SIZE:
            self._unplaced[run.run_id] = run
            if len(self._unplaced) > MINE_KEEP:  # bounded like everything kept per page
                del self._unplaced[next(iter(self._unplaced))]
        text = place_text(run.rank, run.total, on_board=on_board, tied=tied)
        if run.run_id == self._latest_saved:
            self._props["rankText"] = f"Your run: {text}"
        if self.on_place is not None:
            self.on_place(text, run.run_id)
        return text


class LiveBoards:
    """One subscription to the service for the whole process, fanned out to open pages.

    Coalesced: the first change after a quiet spell goes out at once; changes within
    `interval` of the last push wait for the next one, which carries only the latest
    top 10. So each page gets at most 1/interval board messages per second, however
    many scores arrive. Each push is one `emit` for all pages (see the module docstring).
    """

    def __init__(self, service: LeaderboardService, interval: float = 0.5, emit: Emit = emit_to_pages) -> None:
        self.boards: dict[str, Board] = {}  # client id -> its board
        self.interval = interval
        self.version = 0  # pushes so far; a page built at version v has seen them all
        self.current: dict[str, Any] | None = None  # the last push's payload
        self._emit = emit
        self._latest: list[dict] | None = None
        self._last_push = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self.pushes = 0  # fan-outs done (each reaches every open board)
        service.subscribe(self._changed)

    def add(self, board: Board, client: Client) -> None:
        self.boards[client.id] = board
        client.on_connect(lambda: self._catch_up(board))
        client.on_delete(lambda: self.boards.pop(client.id, None))

    def _catch_up(self, board: Board) -> None:
        # A push after this page was built may have gone out while its socket was not in
        # its room yet, or was reconnecting (the event is not replayed like outbox
        # messages): this page alone gets the latest through its own element update,
        # which NiceGUI sends once the socket is connected.
        if self.version > board.built_version:
            board.resend()

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
        self.version += 1
        self.current = {"v": self.version, "rows": rows}
        boards = [(client_id, board) for client_id, board in self.boards.items() if not board.is_deleted]
        self._emit(self.current, [client_id for client_id, _ in boards])
        for _, board in boards:
            board.follow(self.current)
