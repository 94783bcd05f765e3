"""GET /leaderboard: ordering, ties, limits, and the documented API."""

import time

import httpx
import pytest

from tests.api.conftest import Backend
from tests.server import start_server


@pytest.fixture(scope="module")
def board(tmp_path_factory, backend: Backend):
    with (
        start_server(tmp_path_factory.mktemp("board"), backend.fresh_env()) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        for player, score in [("low", 1), ("tie-first", 50), ("top", 90), ("tie-second", 50), ("mid", 20)]:
            assert http.post("/score", json={"player": player, "score": score}).status_code == 201
            time.sleep(0.002)  # distinct createdAt, so "earliest first" is observable
        for n in range(120):
            http.post("/score", json={"player": f"filler{n}", "score": 0})
        yield http


def test_order_is_score_desc_then_earliest_first(board: httpx.Client) -> None:
    entries = board.get("/leaderboard").json()["leaderboard"]
    assert [e["player"] for e in entries[:5]] == ["top", "tie-first", "tie-second", "mid", "low"]
    assert len(entries) == 10
    assert set(entries[0]) == {"player", "score", "createdAt"}


@pytest.mark.parametrize(("limit", "expected"), [(1, 1), (3, 3), (100, 100)])
def test_limit(board: httpx.Client, limit: int, expected: int) -> None:
    assert len(board.get("/leaderboard", params={"limit": limit}).json()["leaderboard"]) == expected


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_bad_limit_is_422(board: httpx.Client, limit: str) -> None:
    response = board.get("/leaderboard", params={"limit": limit})
    assert response.status_code == 422
    assert set(response.json()) == {"error", "request_id"}


def test_openapi_documents_every_route_with_models(board: httpx.Client) -> None:
    spec = board.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/score", "post"),
        ("/leaderboard", "get"),
        ("/game-start", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]:
        assert method in paths[path], path
    assert paths["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ScoreCreate"
    )
    assert paths["/score"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ScoreResult"
    )
    assert paths["/leaderboard"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "Leaderboard"
    )
    assert "ErrorBody" in spec["components"]["schemas"]
    assert board.get("/docs").status_code == 200
