"""Probes: /healthz is the process only, /readyz asks storage."""

import sqlite3
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI, Request, Response

from drafty_bird.ops import health
from tests.aio import run_async
from tests.server import start_server


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_liveness_answers_the_routes_bytes_without_the_route() -> None:
    """LivenessMiddleware answers GET /healthz as the route does; other methods reach the route."""
    routed: list[str] = []
    route_only, answered_early = FastAPI(), FastAPI()
    for app in (route_only, answered_early):
        app.include_router(health.router)

        @app.middleware("http")
        async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            routed.append(request.method)  # inside the liveness layer: only what reaches the route
            return await call_next(request)

    answered_early.add_middleware(health.LivenessMiddleware)

    async def scenario() -> None:
        transports = [httpx.ASGITransport(app=app) for app in (route_only, answered_early)]
        async with (
            httpx.AsyncClient(transport=transports[0], base_url="http://t") as theirs,
            httpx.AsyncClient(transport=transports[1], base_url="http://t") as ours,
        ):
            expected, got = await theirs.get("/healthz?probe=1"), await ours.get("/healthz?probe=1")
            assert (got.status_code, got.content, got.headers.raw) == (
                expected.status_code,
                expected.content,
                expected.headers.raw,
            )
            assert routed == ["GET"], "the liveness layer let GET /healthz through to the route"
            for method in ("HEAD", "POST"):
                assert (await ours.request(method, "/healthz")).status_code == 405
            assert routed == ["GET", "HEAD", "POST"]

    run_async(scenario())


def test_readyz_when_storage_answers(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["storage_mode"] == "sqlite"


def test_readyz_turns_503_when_the_db_file_is_unreadable(tmp_path) -> None:
    with start_server(tmp_path) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/readyz").status_code == 200
        # Overwrite the file with garbage: the store can no longer answer.
        server.db_path.write_bytes(b"this is not a database" * 100)
        response = http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "not_ready"
        assert response.json()["reason"].startswith("storage")
        assert http.get("/healthz").status_code == 200


def test_db_file_is_created_and_migrated(server) -> None:
    with sqlite3.connect(server.db_path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"scores", "score_counts", "alembic_version"} <= tables
