"""The game page's socket events, checked before anything is kept (issue 17, item 1).

A page names its saved runs by run_id, never by their content: the server looks them up
(LeaderboardService.saved_runs, one indexed read on the shared database) and the board
highlights what the store holds, with the rank and total worked out now. So a socket
cannot put a forged row, rank or name on its page, nor make the server keep what it sends.

Every argument is type- and length-checked (strict pydantic models, unknown keys refused);
anything else is ignored and counted (ops/socket_limits.py), never stored. What a page
keeps is bounded: MINE_KEEP highlighted keys (board.py), at most MINE_KEEP run_ids waiting,
one lookup in flight and at most one per LOOKUP_INTERVAL_S. The device's best is the one
number taken from the client: the server cannot know it (it is the device's own, refused
runs included), and it is only an integer from 0 to MAX_SCORE shown on that same page.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from nicegui import background_tasks
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drafty_bird.data.models import MAX_SCORE, RUN_ID_PATTERN
from drafty_bird.leaderboard import RunPlace
from drafty_bird.ops.socket_limits import ignored
from drafty_bird.ui.board import MINE_KEEP, Board

log = logging.getLogger(__name__)

LOOKUP_INTERVAL_S = 0.25  # a burst of saves (a drained offline queue) shares one lookup
RUN_BEGAN_INTERVAL_S = 0.25  # game.js waits 0.4 s after a run ends before the next can begin

RunId = Annotated[str, Field(min_length=1, max_length=64, pattern=RUN_ID_PATTERN)]
Best = Annotated[int, Field(ge=0, le=MAX_SCORE)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ScoreSaved(_Strict):
    """After POST /score stored a run: its run_id and this device's best."""

    run_id: RunId
    best: Best = 0


class RestoreMine(_Strict):
    """On load: this device's best and the run_ids of its last saved runs."""

    best: Best = 0
    run_ids: list[RunId] = Field(default_factory=list, max_length=MINE_KEEP)


class RunBegan(_Strict):
    """A run's first flap: no arguments (the page sends {})."""


M = TypeVar("M", bound=_Strict)


def parse(model: type[M], event: str, args: Any) -> M | None:
    """The event's arguments as `model`, or None (counted, logged once) when they do not fit it."""
    try:
        return model.model_validate(args)
    except ValidationError:
        ignored(event, "malformed")
        return None


class PageEvents:
    """One page's handlers for score_saved, restore_mine and run_began."""

    def __init__(
        self,
        board: Board,
        lookup: Callable[[list[str]], Awaitable[list[RunPlace]]],
        run_began: Callable[[], None],
        *,
        lookup_interval_s: float = LOOKUP_INTERVAL_S,
    ) -> None:
        self.board = board
        self._lookup = lookup
        self._run_began = run_began
        self._interval = lookup_interval_s
        # run_id -> the best sent with it (score_saved: place the run) or None (restore_mine).
        self._wanted: dict[str, int | None] = {}
        self._task: asyncio.Task | None = None
        self._last_lookup = -float("inf")
        self._last_run_began = -float("inf")

    def score_saved(self, args: Any) -> None:
        saved = parse(ScoreSaved, "score_saved", args)
        if saved is not None:
            self._want({saved.run_id: saved.best}, "score_saved")

    def restore_mine(self, args: Any) -> None:
        mine = parse(RestoreMine, "restore_mine", args)
        if mine is None:
            return
        if mine.best:
            self.board.show_mine([], best=mine.best)
        self._want(dict.fromkeys(mine.run_ids), "restore_mine")

    def run_began(self, args: Any) -> None:
        if parse(RunBegan, "run_began", args) is None:
            return
        now = time.monotonic()
        if now - self._last_run_began < RUN_BEGAN_INTERVAL_S:
            ignored("run_began", "too_often")  # the started counter is not a socket's to inflate
            return
        self._last_run_began = now
        self._run_began()

    def _want(self, runs: dict[str, int | None], event: str) -> None:
        for run_id, best in runs.items():
            self._wanted.pop(run_id, None)  # the latest ask wins, and moves to the end
            self._wanted[run_id] = best
        while len(self._wanted) > MINE_KEEP:  # the board keeps MINE_KEEP anyway: the oldest go
            del self._wanted[next(iter(self._wanted))]
            ignored(event, "too_often")
        if self._wanted and self._task is None:
            self._task = background_tasks.create(self._look_up(), name="page-own-runs")

    async def _look_up(self) -> None:
        try:
            while self._wanted and not self.board.is_deleted:
                wait = self._last_lookup + self._interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                batch, self._wanted = self._wanted, {}
                self._last_lookup = time.monotonic()
                try:
                    found = {run.run_id: run for run in await self._lookup(list(batch))}
                except Exception as exc:  # noqa: BLE001 (a failed read must not end the page's handler)
                    saved = any(best is not None for best in batch.values())
                    ignored("score_saved" if saved else "restore_mine", "lookup_failed")
                    log.debug("own runs lookup failed", extra={"error": str(exc)})
                    continue
                self._show(batch, found)
        finally:
            self._task = None

    def _show(self, batch: dict[str, int | None], found: dict[str, RunPlace]) -> None:
        runs: list[RunPlace] = []
        place: RunPlace | None = None
        best = 0
        for run_id, sent_best in batch.items():
            run = found.get(run_id)
            if run is None:
                ignored("restore_mine" if sent_best is None else "score_saved", "unknown_run")
                continue
            runs.append(run)
            if sent_best is not None:  # saved from this page just now: show where it stands
                place = run
                best = max(best, sent_best, run.entry.score)
        if runs and not self.board.is_deleted:
            self.board.show_mine(runs, place=place, best=best)
