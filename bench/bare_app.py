"""The bare reference for bench/bench_api.py: plain FastAPI routes shaped like ours, no
middleware, no DB. Served by the same uvicorn with the same loop and parser (uvloop,
httptools), it is the practical ceiling for Python HTTP on the bench machine.
"""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

_ROW = {"player": "bench", "score": 17, "createdAt": "2026-01-01T00:00:00.000Z"}
_BOARD = {"leaderboard": [_ROW] * 10}


class ScoreIn(BaseModel):
    player: str | None = None
    score: int
    run_id: str | None = None


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/leaderboard")
async def leaderboard() -> dict:
    return _BOARD


@app.post("/score", status_code=201)
async def score(entry: ScoreIn) -> dict:
    row = {"player": entry.player or "Guest", "score": entry.score, "createdAt": _ROW["createdAt"]}
    return {"stored": row, "highScore": entry.score, "rank": 1, "total": 1, "duplicate": False}
