"""The REST API the original web client calls. Thin: every route delegates to the service."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.data.models import MAX_LEADERBOARD_LIMIT, ErrorBody, GameStart, Leaderboard, ScoreCreate, ScoreResult
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops.logging import request_id_var
from drafty_bird.replay.verify import RunRefused


# Dependencies are async on purpose: FastAPI runs a plain `def` dependency on its thread
# pool, a thread hop per request for a dictionary lookup.
async def get_service(request: Request) -> LeaderboardService:
    return request.app.state.leaderboard


ServiceDep = Annotated[LeaderboardService, Depends(get_service)]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 413, 415, 422, 429, 500, 503)
}

router = APIRouter(tags=["game"], responses=ERRORS)


async def require_json(request: Request) -> None:
    """Runs before the body is parsed, so a wrong content type is a 415, not a 422."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, "Content-Type must be application/json")


@router.post(
    "/game-start",
    status_code=202,
    response_model=GameStart,
    summary="Start a run: its id and seed",
    description="Counted in drafty_bird_games_started_total, unless `ahead=true`: the page fetches its next "
    "run ahead of time and counts the run when the player's first flap starts it.",
)
async def game_start(service: ServiceDep, ahead: Annotated[bool, Query()] = False) -> GameStart:
    return await service.start_game(ahead=ahead)


@router.post(
    "/score",
    status_code=201,
    response_model=ScoreResult,
    summary="Store a finished run's replayed score (idempotent per run_id)",
    description="With SCORE_VERIFICATION=required (the default) the body carries the run token and seed from "
    "/game-start and the encoded flap ticks; the server replays the run and stores the replay's score. A refused "
    "run is a 422 with a `reason` (missing_token, bad_token, expired_token, reused_token, seed_mismatch, "
    "malformed_inputs, too_fast, score_mismatch) and nothing is stored.",
    dependencies=[Depends(require_json)],
    responses={200: {"model": ScoreResult, "description": "This run_id was stored before; nothing new stored."}},
)
async def post_score(entry: ScoreCreate, response: Response, service: ServiceDep) -> ScoreResult | JSONResponse:
    try:
        result = await service.submit(entry)
    except RunRefused as exc:
        # The replay refused the run: nothing stored; the client must not retry it.
        return JSONResponse({"error": str(exc), "reason": exc.reason, "request_id": request_id_var.get() or ""}, 422)
    if result.duplicate:
        response.status_code = 200
    return result


@router.get("/leaderboard", response_model=Leaderboard, summary="Top scores: score desc, then earliest first")
async def leaderboard(request: Request, limit: Annotated[int, Query(ge=1, le=MAX_LEADERBOARD_LIMIT)] = 10) -> Response:
    # The hottest route: the service without a dependency (FastAPI's dependency solving
    # costs 20-40 µs a request), and the body the response_model would make, encoded once
    # per change of the board (the service caches it), so no models are built and
    # validated again on every request.
    service = await get_service(request)
    return Response(await service.leaderboard_json(limit), media_type="application/json")


# The query strings the cached answer serves: none (limit 10), or one canonical limit.
_CACHED_QUERIES = {b"": 10} | {f"limit={n}".encode(): n for n in range(1, MAX_LEADERBOARD_LIMIT + 1)}


class CachedLeaderboardMiddleware:
    """GET /leaderboard straight from the service's encoded board, when its cache holds it.

    The route above answers these very bytes and headers (tested equal), but through
    FastAPI's router, query validation and Response: a third of the request's CPU when
    the body is already encoded. This sits inside every other layer (access log, metrics,
    rate limits, chaos, server span), so only the routing is skipped. Anything else goes
    to the route: another query string (validation and its 422) and a cache miss (the
    query, its leaderboard.query span and its errors' 503). A recorded request served
    here carries leaderboard.cached=true on its server span instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/leaderboard" and scope["method"] == "GET":
            limit = _CACHED_QUERIES.get(scope["query_string"])
            if limit is not None:
                service: LeaderboardService = scope["app"].state.leaderboard
                body = service.cached_leaderboard_json(limit)
                if body is not None:
                    # A kept trace says where the board came from (no leaderboard.query span:
                    # nothing was queried).
                    span = trace.get_current_span()
                    if span.is_recording():
                        span.set_attribute("leaderboard.cached", True)
                    # Starlette's Response(body, media_type="application/json") headers, in its order.
                    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
