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
from dataclasses import dataclass
from typing import NoReturn, Protocol

from opentelemetry import trace
from pydantic import TypeAdapter
from sqlalchemy import Row

from drafty_bird.data.errors import StorageUnavailable
from drafty_bird.data.models import GameStart, Leaderboard, ScoreCreate, ScoreRead, ScoreResult
from drafty_bird.data.store import SavedRun, StoredScore
from drafty_bird.replay.verify import RunRefused
from drafty_bird.verification import ScoreVerifier, Verified

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

LIVE_BOARD_SIZE = 10
# The serializer FastAPI uses for a response_model (its ModelField wraps a TypeAdapter of the model).
LEADERBOARD_JSON = TypeAdapter(Leaderboard)
TopListener = Callable[[list[ScoreRead]], Awaitable[None] | None]


def _score_reads(rows: list[Row]) -> list[ScoreRead]:
    return [ScoreRead(player=r.player, score=r.score, createdAt=r.created_at) for r in rows]


class Scores(Protocol):
    """What the service needs of a store: ScoreStore, or ops.timed_store.TimedStore wrapping one."""

    async def add(
        self, player: str, score: int, run_id: str | None, *, verified: bool = False, ticks: str | None = None
    ) -> StoredScore: ...
    async def top(self, limit: int) -> list[Row]: ...
    def cached_top(self, limit: int) -> list[Row] | None: ...
    async def high_score(self) -> int: ...
    async def runs(self, run_ids: list[str]) -> list[SavedRun]: ...


@dataclass(frozen=True)
class RunPlace:
    """A saved run as the server has it, and where it stands now: what a page highlights."""

    run_id: str
    entry: ScoreRead
    rank: int
    total: int


class ScoreEvents(Protocol):
    """What the service reports; the ops.metrics module implements it."""

    def game_started(self) -> None: ...

    def score_submitted(self, result: str) -> None: ...

    def set_high_score(self, score: int) -> None: ...

    def score_refused(self, reason: str) -> None: ...


class NoEvents:
    """The default observer: reports go nowhere (tests, tools)."""

    def game_started(self) -> None:
        pass

    def score_submitted(self, result: str) -> None:
        pass

    def set_high_score(self, score: int) -> None:
        pass

    def score_refused(self, reason: str) -> None:
        pass


def failure_result(exc: BaseException) -> str:
    """A store failure as a submission result: the StorageUnavailable family (503 + Retry-After) is a refusal."""
    return "rejected" if isinstance(exc, StorageUnavailable) else "failed"


class LeaderboardService:
    def __init__(self, store: Scores, events: ScoreEvents | None = None, verifier: ScoreVerifier | None = None) -> None:
        self.store = store
        self.events = events or NoEvents()
        # Without a verifier (unit tests of storage and boards) scores are taken as sent.
        self.verifier = verifier or ScoreVerifier.from_settings(
            mode="off", secret=secrets.token_hex(32), previous=None, previous_until=None, ttl_s=86_400
        )
        self._listeners: list[TopListener] = []
        # GET /leaderboard's encoded body per limit, beside the rows it was made from: the
        # store hands out the same rows list while its cache entry lives (data.store.top),
        # so the same list means the same body, and a new list (a write, the TTL, a
        # "data changed" signal) means encoding again. Bounded: one entry per limit.
        self._boards: dict[int, tuple[list[Row], bytes]] = {}

    async def start_game(self, *, ahead: bool = False) -> GameStart:
        """A run's id and seed. ahead: fetched before the player is ready (the page does,
        so the first flap never waits); counted as started by run_began(), not here."""
        # The seed drives the browser's deterministic obstacle course for this run.
        if not ahead:
            self.events.game_started()
        run_id, seed = uuid.uuid4().hex, secrets.randbelow(2**31)
        return GameStart(run_id=run_id, seed=seed, token=self.verifier.issue(run_id, seed))

    def run_began(self) -> None:
        """The page's run really started (its first flap), on an id fetched ahead."""
        self.events.game_started()

    async def submit(self, entry: ScoreCreate) -> ScoreResult:
        # Counted here, not in the route, so scores from the page and the API count alike.
        with tracer.start_as_current_span("score.submit", attributes={"score": entry.score}) as span:
            verified = await self._verify(entry, span) if self.verifier.required else None
            try:
                assert entry.player is not None  # ScoreCreate's validator turns a missing name into the default
                if verified is None:
                    stored = await self.store.add(entry.player, entry.score, entry.run_id)
                else:
                    stored = await self.store.add(
                        entry.player, verified.replayed.score, verified.run_id, verified=True, ticks=verified.ticks
                    )
            except Exception as exc:
                failed = failure_result(exc)
                span.set_attribute("result", failed)
                self.events.score_submitted(failed)
                raise
            if verified is not None and stored.duplicate and stored.row.ticks != verified.ticks:
                # The token's run is stored already, from other inputs: not a retry of it.
                self._refused(span, RunRefused("reused_token", "run token was already used for another run"))
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
            verified=row.verified,
        )
        if not stored.duplicate and stored.rank <= LIVE_BOARD_SIZE:
            await self.broadcast_top()
        return result

    async def _verify(self, entry: ScoreCreate, span: trace.Span) -> Verified:
        try:
            verified = await self.verifier.verify(entry)
        except RunRefused as exc:
            self._refused(span, exc)
        span.set_attribute("score.replayed", verified.replayed.score)
        span.set_attribute("score.replay_ticks", verified.replayed.ticks)
        return verified

    def _refused(self, span: trace.Span, exc: RunRefused) -> NoReturn:
        span.set_attribute("result", "refused")
        span.set_attribute("score.refused_reason", exc.reason)
        self.events.score_refused(exc.reason)
        log.info("score refused", extra={"reason": exc.reason, "error": str(exc)})
        raise exc

    async def _top_rows(self, limit: int) -> list[Row]:
        with tracer.start_as_current_span("leaderboard.query", attributes={"limit": limit}) as span:
            rows = await self.store.top(limit)
            span.set_attribute("result", len(rows))
        return rows

    async def top(self, limit: int = LIVE_BOARD_SIZE) -> list[ScoreRead]:
        return _score_reads(await self._top_rows(limit))

    async def leaderboard(self, limit: int) -> Leaderboard:
        return Leaderboard(leaderboard=await self.top(limit))

    async def leaderboard_json(self, limit: int) -> bytes:
        """The Leaderboard as JSON, byte for byte what FastAPI's response_model path makes of it
        (pydantic's serializer, by alias), encoded once per change of the rows."""
        return self._encoded(limit, await self._top_rows(limit))

    def cached_leaderboard_json(self, limit: int) -> bytes | None:
        """leaderboard_json(limit) when the store's cache can answer it now, else None (no I/O)."""
        rows = self.store.cached_top(limit)
        return None if rows is None else self._encoded(limit, rows)

    def _encoded(self, limit: int, rows: list[Row]) -> bytes:
        known = self._boards.get(limit)
        if known is not None and known[0] is rows:
            return known[1]
        body = LEADERBOARD_JSON.dump_json(Leaderboard(leaderboard=_score_reads(rows)), by_alias=True)
        self._boards[limit] = (rows, body)
        return body

    async def high_score(self) -> int:
        return await self.store.high_score()

    async def saved_runs(self, run_ids: list[str]) -> list[RunPlace]:
        """The stored runs among run_ids, looked up on the server (a page never tells us its
        run's player, score or rank: it names the run_id). Unknown ids are left out."""
        with tracer.start_as_current_span("leaderboard.runs", attributes={"asked": len(run_ids)}) as span:
            found = await self.store.runs(run_ids)
            span.set_attribute("result", len(found))
        return [
            RunPlace(
                run_id=r.run_id,
                entry=ScoreRead(player=r.player, score=r.score, createdAt=r.created_at),
                rank=r.rank,
                total=r.total,
            )
            for r in found
        ]

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
