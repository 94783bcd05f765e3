"""POST /score and POST /game-start against the real server, on a real SQLite file and on PostgreSQL."""

import json
import uuid

import httpx
import pytest

from tests.api.conftest import Backend
from tests.server import RunningServer, start_server


def rows(server: RunningServer) -> list[tuple]:
    return server.rows("SELECT player, score, run_id FROM scores ORDER BY id")


def test_game_start_gives_run_id_and_seed(client: httpx.Client) -> None:
    first = client.post("/game-start")
    second = client.post("/game-start", json={"anything": True})
    assert first.status_code == second.status_code == 202
    body = first.json()
    assert body["accepted"] is True
    assert isinstance(body["seed"], int) and 0 <= body["seed"] < 2**31
    assert body["run_id"] != second.json()["run_id"]


def test_score_is_stored_with_rank_and_high_score(client: httpx.Client, server: RunningServer) -> None:
    run = uuid.uuid4().hex
    # One score above and one tie, so the rank is neither 1 nor off by the tie.
    for seeded in (41, 40):
        assert client.post("/score", json={"player": "seed", "score": seeded}).status_code == 201
    # The module's server is shared: the expected numbers come from what the file holds now.
    scores = [score for _, score, _ in rows(server)]
    response = client.post("/score", json={"player": "  Ada  ", "score": 40, "run_id": run})
    assert response.status_code == 201
    body = response.json()
    assert body["stored"]["player"] == "Ada"
    assert body["stored"]["score"] == 40
    assert body["stored"]["createdAt"].endswith("Z") and len(body["stored"]["createdAt"]) == 24
    assert body["highScore"] == max([*scores, 40])
    assert body["rank"] == 1 + sum(score > 40 for score in scores)  # ties share a rank
    assert body["total"] == len(scores) + 1
    assert ("Ada", 40, run) in rows(server)


def test_missing_or_blank_player_is_guest(client: httpx.Client) -> None:
    assert client.post("/score", json={"score": 1}).json()["stored"]["player"] == "Guest"
    assert client.post("/score", json={"score": 1, "player": "   "}).json()["stored"]["player"] == "Guest"


def test_same_run_id_stores_once_and_returns_first_row(client: httpx.Client, server: RunningServer) -> None:
    run = uuid.uuid4().hex
    first = client.post("/score", json={"player": "Bo", "score": 7, "run_id": run})
    again = client.post("/score", json={"player": "Mallory", "score": 9999, "run_id": run})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["stored"] == first.json()["stored"]
    assert [r for r in rows(server) if r[2] == run] == [("Bo", 7, run)]


def test_rank_counts_higher_scores_and_ties_share_a_rank(tmp_path, backend: Backend) -> None:
    with start_server(tmp_path, backend.fresh_env()) as fresh, httpx.Client(base_url=fresh.url) as http:
        ranks = [http.post("/score", json={"score": s}).json()["rank"] for s in (10, 30, 20, 30, 5)]
        assert ranks == [1, 1, 2, 1, 5]
        last = http.post("/score", json={"score": 25}).json()
        assert (last["rank"], last["total"], last["highScore"]) == (3, 6, 30)


BAD_BODIES = [
    pytest.param(b'{"score":', 400, id="malformed-json"),
    pytest.param(b"[1, 2]", 422, id="not-an-object"),
    pytest.param(b"{}", 422, id="missing-score"),
    pytest.param(b'{"score": "5"}', 422, id="string-score"),
    pytest.param(b'{"score": 5.0}', 422, id="float-score"),
    pytest.param(b'{"score": 5.5}', 422, id="fractional-score"),
    pytest.param(b'{"score": true}', 422, id="bool-score"),
    pytest.param(b'{"score": -1}', 422, id="negative-score"),
    pytest.param(b'{"score": 100001}', 422, id="absurd-score"),
    pytest.param(b'{"score": 1e400}', 422, id="huge-float-score"),
    pytest.param(b'{"score": 1, "player": 5}', 422, id="number-player"),
    pytest.param('{"score": 1, "player": "%s"}' % ("x" * 25), 422, id="long-player"),
    pytest.param(b'{"score": 1, "player": "a\\u200bb"}', 422, id="zero-width"),
    pytest.param(b'{"score": 1, "player": "\\u202eevil"}', 422, id="bidi-override"),
    pytest.param(b'{"score": 1, "player": "nul\\u0000"}', 422, id="null-byte"),
    pytest.param(b'{"score": 1, "player": "<script>x"}', 422, id="html"),
    pytest.param(b'{"score": 1, "run_id": "has space"}', 422, id="bad-run-id"),
    pytest.param(b"[" * 5000 + b"]" * 5000, 400, id="deeply-nested"),
]


@pytest.mark.parametrize(("body", "status"), BAD_BODIES)
def test_bad_input_gets_4xx_error_shape_and_stores_nothing(
    client: httpx.Client, server: RunningServer, body: bytes | str, status: int
) -> None:
    before = rows(server)
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "request_id"}
    assert payload["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    assert rows(server) == before


def test_wrong_content_type_is_415(client: httpx.Client, server: RunningServer) -> None:
    before = rows(server)
    response = client.post("/score", content=b'{"score": 3}', headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"].startswith("Content-Type")
    assert rows(server) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_16kb_is_413(client: httpx.Client, server: RunningServer, chunked: bool) -> None:
    before = rows(server)
    body = ('{"score": 1, "player": "%s"}' % ("a" * 17_000)).encode()
    content = iter([body[:8000], body[8000:]]) if chunked else body
    response = client.post("/score", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert set(response.json()) == {"error", "request_id"}
    assert rows(server) == before


LIMIT = 16 * 1024  # the contract in the names above; the app's constant is MAX_BODY_BYTES


def body_of(size: int, run_id: str) -> bytes:
    """A real score with a long run's flap ticks, padded with JSON whitespace to exactly `size` bytes."""
    compact = json.dumps({"score": 3, "run_id": run_id, "inputs": list(range(2500))}, separators=(",", ":"))
    body = compact.encode()
    assert len(body) < size, "the base body must leave room for padding"
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("size", "status"), [(LIMIT, 201), (LIMIT + 1, 413)], ids=["at-limit", "one-over"])
def test_body_at_the_limit_is_accepted_and_one_byte_more_is_413(
    client: httpx.Client, server: RunningServer, chunked: bool, size: int, status: int
) -> None:
    run = uuid.uuid4().hex
    body = body_of(size, run)
    assert len(body) == size
    # Chunked: no Content-Length, so only the counted bytes can trip the limit.
    content = iter([body[: size // 2], body[size // 2 :]]) if chunked else body
    response = client.post("/score", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    stored = [r for r in rows(server) if r[2] == run]
    if status == 201:
        assert stored == [("Guest", 3, run)]
    else:
        assert set(response.json()) == {"error", "request_id"}
        assert stored == []
