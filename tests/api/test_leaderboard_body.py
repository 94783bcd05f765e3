"""GET /leaderboard answers with a body the service encodes once per change of the board.

In process (ASGI, no server): the route's bytes and headers are the ones FastAPI's
response_model path made of the same rows before, and the cached body never outlives
the rows it was made from (our own write, another writer after the TTL, a "data
changed" signal). The two-process and real-server cases are in tests/data/test_top_cache.py.
"""

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from drafty_bird import api
from drafty_bird.data.engine import make_engine, open_database
from drafty_bird.data.models import Leaderboard
from drafty_bird.data.store import TOP_CACHE_TTL_S, ScoreStore
from drafty_bird.leaderboard import LeaderboardService
from tests.aio import run_async

# Names that JSON encoders disagree about: non-ASCII, escapes, HTML, astral plane.
PLAYERS = ["Zoë", 'say "hi"', "back\\slash", "</script>", "\U0001f426 bird", "tab\tx", "Ada"]


def insert_behind_its_back(path: Path, player: str, score: int, run_id: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO scores (player, score, created_at, run_id) VALUES (?, ?, '2026-01-01 00:00:00.123456', ?)",
            (player, score, run_id),
        )
        upsert = "INSERT INTO score_counts (score, n) VALUES (?, 1) ON CONFLICT(score) DO UPDATE SET n = n + 1"
        db.execute(upsert, (score,))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    for i, player in enumerate(PLAYERS * 3):
        insert_behind_its_back(path, player, (i * 37) % 11, f"seed-{i}")  # ties on purpose
    return path


@pytest.fixture
def service(db_path: Path) -> Iterator[LeaderboardService]:
    store = ScoreStore(make_engine(f"sqlite:///{db_path}"))
    try:
        yield LeaderboardService(store)
    finally:
        store.close()


def served(service: LeaderboardService) -> FastAPI:
    """The route, and the cached answer in front of it, as the app has them."""
    app = FastAPI()
    app.state.leaderboard = service
    app.include_router(api.router)
    app.add_middleware(api.CachedLeaderboardMiddleware)
    return app


def the_route_before(service: LeaderboardService) -> FastAPI:
    """The route as it was: the service's models, serialized by FastAPI's response_model path."""
    app = FastAPI()

    @app.get("/leaderboard", response_model=Leaderboard)
    async def leaderboard(limit: int = 10) -> Leaderboard:
        return await service.leaderboard(limit)

    return app


def run(app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            await scenario(client)

    run_async(main())


async def scores(client: httpx.AsyncClient, limit: int = 10) -> list[tuple[str, int]]:
    rows = (await client.get("/leaderboard", params={"limit": limit})).json()["leaderboard"]
    return [(row["player"], row["score"]) for row in rows]


def test_same_bytes_and_headers_as_the_response_model_path(service: LeaderboardService) -> None:
    before = the_route_before(service)

    async def scenario(now: httpx.AsyncClient) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=before), base_url="http://t") as old:
            for limit in (1, 7, 10, 21, 100):
                for _ in range(2):  # encoded once, then from the cache: both the same
                    url = f"/leaderboard?limit={limit}"
                    ours, theirs = await now.get(url), await old.get(url)
                    assert ours.status_code == theirs.status_code == 200
                    assert ours.content == theirs.content
                    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
                    assert ours.headers["content-length"] == theirs.headers["content-length"]
        assert len((await now.get("/leaderboard")).json()["leaderboard"]) == 10
        assert "\\u" not in (await now.get("/leaderboard?limit=100")).text  # raw UTF-8, as pydantic writes it

    run(served(service), scenario)


def test_the_body_is_encoded_once_per_change(service: LeaderboardService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drafty_bird.data.store.TOP_CACHE_TTL_S", 60.0)  # no expiry in between on a slow machine

    async def scenario(client: httpx.AsyncClient) -> None:
        first = (await client.get("/leaderboard")).content
        cached = service._boards[10][1]
        assert (await client.get("/leaderboard")).content == first == cached
        assert service._boards[10][1] is cached  # not encoded again: the same bytes object
        response = await client.post("/score", json={"player": "x", "score": 0, "run_id": "enc-1"})
        assert response.status_code == 201
        await client.get("/leaderboard")
        assert service._boards[10][1] is not cached  # a write: encoded again from new rows

    run(served(service), scenario)


def test_own_write_shows_at_once(service: LeaderboardService) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await scores(client)  # fills the cache and the encoded body
        response = await client.post("/score", json={"player": "new top", "score": 999, "run_id": "rw-1"})
        assert response.status_code == 201
        assert (await scores(client))[0] == ("new top", 999)  # read-your-write, no waiting

    run(served(service), scenario)


def test_another_writer_within_the_ttl_and_at_once_after_a_signal(service: LeaderboardService, db_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await scores(client)
        insert_behind_its_back(db_path, "theirs", 500, "other-1")
        written = time.monotonic()
        while (await scores(client))[0] != ("theirs", 500):
            assert time.monotonic() - written < 1.0, "another writer's row not visible within 1 s"
            await asyncio.sleep(0.01)
        assert time.monotonic() - written <= TOP_CACHE_TTL_S + 0.2

        insert_behind_its_back(db_path, "signalled", 600, "other-2")
        service.store.invalidate_top()  # type: ignore[attr-defined]  # the "data changed" seam
        assert await scores(client, 2) == [("signalled", 600), ("theirs", 500)]

    run(served(service), scenario)


def test_a_cached_board_is_answered_without_the_route_and_the_rest_reaches_it(
    service: LeaderboardService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CachedLeaderboardMiddleware answers from the encoded board; misses, other query
    strings go through the route (its validation, query and span); recorded hits say so."""
    monkeypatch.setattr("drafty_bird.data.store.TOP_CACHE_TTL_S", 60.0)
    routed: list[int] = []
    through_route = service.leaderboard_json

    async def counted(limit: int) -> bytes:
        routed.append(limit)
        return await through_route(limit)

    monkeypatch.setattr(service, "leaderboard_json", counted)

    async def scenario(client: httpx.AsyncClient) -> None:
        first = await client.get("/leaderboard")  # a miss: the route queries and fills the cache
        assert routed == [10]
        again = await client.get("/leaderboard")
        assert routed == [10], "a cached board went through the route"
        assert again.content == first.content and again.headers.raw == first.headers.raw
        assert (await client.get("/leaderboard?limit=3")).json() == {"leaderboard": first.json()["leaderboard"][:3]}
        assert routed == [10]  # a slice of the cached rows, still no route

        for query in ("limit=0", "limit=101", "limit=x", "limit=03", "limit=3&x=1"):
            response = await client.get(f"/leaderboard?{query}")
            assert response.status_code in (200, 422), (query, response.text)
        assert routed == [10, 3, 3]  # the two valid ones only (03 and 3&x=1), by the route
        del routed[:]
        assert (await client.get("/leaderboard?limit=0")).json()["detail"][0]["loc"] == ["query", "limit"]

        response = await client.post("/score", json={"player": "late", "score": 99, "run_id": "fp-1"})
        assert response.status_code == 201
        assert (await client.get("/leaderboard")).json()["leaderboard"][0]["player"] == "late"  # read-your-write
        assert routed == [10]  # the write dropped the cache: the route answered

        # A recorded request is served from the cache too, and its span says so.
        exported = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exported))
        with provider.get_tracer("t").start_as_current_span("GET /leaderboard"):
            kept = await client.get("/leaderboard")
        assert routed == [10] and kept.content == (await client.get("/leaderboard")).content
        (server_span,) = exported.get_finished_spans()
        assert server_span.attributes == {"leaderboard.cached": True}

        await client.post("/score", json={"player": "later", "score": 98, "run_id": "fp-2"})
        with provider.get_tracer("t").start_as_current_span("GET /leaderboard"):
            await client.get("/leaderboard")  # a miss: the route (and its leaderboard.query span)
        assert routed == [10, 10]
        assert exported.get_finished_spans()[-1].attributes == {}

    run(served(service), scenario)
