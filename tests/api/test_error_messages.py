"""API errors speak to players: plain sentences, one shape, the same bytes for every status.

The page shows the `error` text as is ("not saved: ..."), so the validation library's
wording ("body: Field required", "Input should be a valid dictionary ...") must not leak.
"""

import json

import httpx
import pytest

from drafty_bird.ops.body_limit import MAX_BODY_BYTES

JSON = {"content-type": "application/json"}
NOT_AN_OBJECT = 'The request body must be a JSON object, for example {"score": 42}'
SCORE_RULE = "score must be a whole number from 0 to 100,000"

CASES = [
    ("null", NOT_AN_OBJECT),
    ("[]", NOT_AN_OBJECT),
    ('"x"', NOT_AN_OBJECT),
    ("{}", SCORE_RULE),
    ('{"score": "5"}', SCORE_RULE),
    ('{"score": 5.5}', SCORE_RULE),
    ('{"score": true}', SCORE_RULE),
    ('{"score": -1}', SCORE_RULE),
    ('{"score": 100001}', SCORE_RULE),
    ('{"score": 5, "player": 7}', "player must be text, or left out to play as Guest"),
    ('{"score": 5, "player": "' + "a" * 30 + '"}', "player must be at most 24 characters"),
    ('{"score": 5, "player": "Bob<b>"}', "player must not contain < or >"),
    ('{"score": 5, "player": "a\\u200bb"}', "player must not contain control, zero-width or bidi characters"),
    ('{"score": 5, "run_id": "bad id!"}', "run_id must be 1 to 64 letters, digits, dots, dashes or underscores"),
    ('{"score": 5, "inputs": [1, -1]}', "inputs must be a list of at most 5,000 whole numbers, none below 0"),
]


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def check_shape(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["content-type"] == "application/json"
    # One serialisation for every error, whoever answers (route handler or middleware).
    assert response.content == compact(body), response.content
    return body


@pytest.mark.parametrize(("raw", "message"), CASES, ids=[c[0][:30] for c in CASES])
def test_score_validation_messages_are_plain(client: httpx.Client, raw: str, message: str) -> None:
    response = client.post("/score", content=raw, headers=JSON)
    assert response.status_code == 422, response.text
    assert check_shape(response)["error"] == message


@pytest.mark.parametrize("limit", ["0", "abc", "101"])
def test_leaderboard_limit_message(client: httpx.Client, limit: str) -> None:
    response = client.get("/leaderboard", params={"limit": limit})
    assert response.status_code == 422
    assert check_shape(response)["error"] == "limit must be a whole number from 1 to 100"


def test_malformed_json_is_400_in_plain_words(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"score": ', headers=JSON)
    assert response.status_code == 400
    assert check_shape(response)["error"] == "The request body is not valid JSON"


def test_413_has_the_same_shape_and_format_as_the_others(client: httpx.Client) -> None:
    response = client.post("/score", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)
    assert response.status_code == 413
    assert check_shape(response)["error"] == "The request body is too large: at most 16,384 bytes"


def test_no_library_wording_leaks(client: httpx.Client) -> None:
    for raw, _ in CASES:
        text = client.post("/score", content=raw, headers=JSON).json()["error"]
        for leak in ("Input should", "Field required", "body:", "String should", "Value error"):
            assert leak not in text, text
