"""The API routes' dependencies run on the event loop, not on FastAPI's thread pool.

A sync dependency costs a thread hop per request (the pool is anyio's default
limiter). The test fills that pool with blocked work: a route that still needs it hangs,
one that does not answers. The store behind the service is a real SQLite file.
"""

import asyncio
import threading

import anyio.to_thread
import httpx
from fastapi import FastAPI

from drafty_bird import api
from drafty_bird.data.engine import make_engine, open_database
from drafty_bird.data.store import ScoreStore
from drafty_bird.leaderboard import LeaderboardService
from tests.aio import run_async


def test_leaderboard_and_score_answer_while_the_thread_pool_is_full(tmp_path) -> None:
    path = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    store = ScoreStore(make_engine(f"sqlite:///{path}"))
    app = FastAPI()
    app.include_router(api.router)
    app.state.leaderboard = LeaderboardService(store)
    release = threading.Event()

    async def scenario() -> tuple[int, int]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 2
        blockers = [asyncio.ensure_future(anyio.to_thread.run_sync(release.wait)) for _ in range(2)]
        await asyncio.sleep(0.1)  # both tokens taken
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                posted = await asyncio.wait_for(client.post("/score", json={"score": 5, "run_id": "hop-1"}), 10)
                board = await asyncio.wait_for(client.get("/leaderboard"), 10)
        finally:
            release.set()
            await asyncio.gather(*blockers)
        return posted.status_code, board.status_code

    try:
        assert run_async(scenario()) == (201, 200)
    finally:
        release.set()
        store.close()
