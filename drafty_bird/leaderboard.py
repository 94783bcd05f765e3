"""The leaderboard service: the one place REST routes and NiceGUI pages go through.

Routes and pages stay thin; rules live in data.models, SQL in data.store. What
happened (games, submissions, the high score) goes to a ScoreEvents observer: ops.metrics
in production, so the service never imports ops.
"""

import inspect
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from opentelemetry import trace
from sqlalchemy import Row

from drafty_bird.data.errors import StorageUnavailable
from drafty_bird.data.models import GameStart, Leaderboard, ScoreCreate, ScoreRead, ScoreResult
from drafty_bird.data.store import StoredScore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

LIVE_BOARD_SIZE = 10
TopListener = Callable[[list[ScoreRead]], Awaitable[None] | None]


class Scores(Protocol):
    """What the service needs of a store: ScoreStore, or ops.timed_store.TimedStore wrapping one."""

    async def add(self, player: str, score: int, run_id: str | None) -> StoredScore: ...
    async def top(self, limit: int) -> list[Row]: ...
    async def high_score(self) -> int: ...


class ScoreEvents(Protocol):
    """What the service reports; the ops.metrics module implements it."""

    def game_started(self) -> None: ...

    def score_submitted(self, result: str) -> None: ...

    def set_high_score(self, score: int) -> None: ...


class NoEvents:
    """The default observer: reports go nowhere (tests, tools)."""

    def game_started(self) -> None:
        pass

    def score_submitted(self, result: str) -> None:
        pass

    def set_high_score(self, score: int) -> None:
        pass


def failure_result(exc: BaseException) -> str:
    """A store failure as a submission result: the StorageUnavailable family (503 + Retry-After) is a refusal."""
    return "rejected" if isinstance(exc, StorageUnavailable) else "failed"


class LeaderboardService:
    def __init__(self, store: Scores, events: ScoreEvents | None = None) -> None:
        self.store = store
        self.events = events or NoEvents()
        self._listeners: list[TopListener] = []

    async def start_game(self) -> GameStart:
        # The seed drives the browser's deterministic obstacle course for this run.
        self.events.game_started()
        return GameStart(run_id=uuid.uuid4().hex, seed=secrets.randbelow(2**31))

    async def submit(self, entry: ScoreCreate) -> ScoreResult:
        # Counted here, not in the route, so scores from the page and the API count alike.
        with tracer.start_as_current_span("score.submit", attributes={"score": entry.score}) as span:
            try:
                assert entry.player is not None  # ScoreCreate's validator turns a missing name into the default
                stored = await self.store.add(entry.player, entry.score, entry.run_id)
            except Exception as exc:
                failed = failure_result(exc)
                span.set_attribute("result", failed)
                self.events.score_submitted(failed)
                raise
            outcome = "duplicate" if stored.duplicate else "stored"
            span.set_attribute("result", outcome)
            self.events.score_submitted(outcome)
            self.events.set_high_score(stored.high_score)
        row = stored.row
        result = ScoreResult(
            stored=ScoreRead(player=row.player, score=row.score, createdAt=row.created_at),
            highScore=stored.high_score,
            rank=stored.rank,
            total=stored.total,
            duplicate=stored.duplicate,
        )
        if not stored.duplicate and stored.rank <= LIVE_BOARD_SIZE:
            await self.broadcast_top()
        return result

    async def top(self, limit: int = LIVE_BOARD_SIZE) -> list[ScoreRead]:
        with tracer.start_as_current_span("leaderboard.query", attributes={"limit": limit}) as span:
            rows = await self.store.top(limit)
            span.set_attribute("result", len(rows))
        return [ScoreRead(player=r.player, score=r.score, createdAt=r.created_at) for r in rows]

    async def leaderboard(self, limit: int) -> Leaderboard:
        return Leaderboard(leaderboard=await self.top(limit))

    async def high_score(self) -> int:
        return await self.store.high_score()

    def subscribe(self, listener: TopListener) -> Callable[[], None]:
        """Call listener with the new top 10 whenever it changes; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def broadcast_top(self) -> None:
        """Re-read the top 10 and hand it to every subscriber (also on another replica's NOTIFY)."""
        if not self._listeners:
            return
        # One query per change, whatever the number of open pages.
        top = await self.top(LIVE_BOARD_SIZE)
        for listener in list(self._listeners):
            try:
                outcome = listener(top)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # a broken page must not fail a stored score
                log.exception("leaderboard listener failed")
