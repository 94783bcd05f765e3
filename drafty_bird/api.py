"""The REST API the original web client calls. Thin: every route delegates to the service."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from drafty_bird.data.models import MAX_LEADERBOARD_LIMIT, ErrorBody, GameStart, Leaderboard, ScoreCreate, ScoreResult
from drafty_bird.leaderboard import LeaderboardService


def get_service(request: Request) -> LeaderboardService:
    return request.app.state.leaderboard


ServiceDep = Annotated[LeaderboardService, Depends(get_service)]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 413, 415, 422, 429, 500, 503)
}

router = APIRouter(tags=["game"], responses=ERRORS)


def require_json(request: Request) -> None:
    """Runs before the body is parsed, so a wrong content type is a 415, not a 422."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, "Content-Type must be application/json")


@router.post("/game-start", status_code=202, response_model=GameStart, summary="Start a run: its id and seed")
async def game_start(service: ServiceDep) -> GameStart:
    return await service.start_game()


@router.post(
    "/score",
    status_code=201,
    response_model=ScoreResult,
    summary="Store a finished run's score (idempotent per run_id)",
    dependencies=[Depends(require_json)],
    responses={200: {"model": ScoreResult, "description": "This run_id was stored before; nothing new stored."}},
)
async def post_score(entry: ScoreCreate, response: Response, service: ServiceDep) -> ScoreResult:
    result = await service.submit(entry)
    if result.duplicate:
        response.status_code = 200
    return result


@router.get("/leaderboard", response_model=Leaderboard, summary="Top scores: score desc, then earliest first")
async def leaderboard(
    service: ServiceDep, limit: Annotated[int, Query(ge=1, le=MAX_LEADERBOARD_LIMIT)] = 10
) -> Leaderboard:
    return await service.leaderboard(limit)
