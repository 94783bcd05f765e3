"""POST /score with SCORE_VERIFICATION=required: a real server replays every run.

Runs are real: a token from /game-start, flaps from physics.js's autopilot under Node for
that token's seed, posted once the wall clock allows their length (the speed check is
real too, so the module waits a few seconds once, for every run together). Each refusal
is a 422 with its reason, stores nothing and is counted by reason in /metrics.
"""

import base64
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from drafty_bird.replay.verify import tick_budget
from tests.ops.otlp_receiver import HttpReceiver
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, start_server, wait_until
from tests.ui.parity import node

REQUIRED = {"SCORE_VERIFICATION": "required"}
STOP_TICK = 330  # the autopilot stops after the first duct: score 1, ended by ~tick 400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("verified"), env=REQUIRED) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def rows(server: RunningServer) -> list[tuple]:
    with sqlite3.connect(server.db_path) as db:
        return db.execute("SELECT player, score, run_id, verified FROM scores ORDER BY id").fetchall()


def start(client: httpx.Client) -> dict:
    response = client.post("/game-start")
    assert response.status_code == 202
    return {**response.json(), "started": time.monotonic()}


def autopilot(seed: int, stop_tick: int = STOP_TICK) -> list[int]:
    spec = {"seed": seed, "margin": 8, "noise": 0, "noiseSeed": 1, "stopTick": stop_tick, "maxFlaps": 10**6}
    (flaps,) = node({"op": "plan", "specs": [spec]})
    return flaps


def body(run: dict, flaps: list[int], **overrides: object) -> dict:
    out = physics.simulate(run["seed"], flaps)
    return {
        "player": "Ada",
        "score": out.score,
        "run_id": run["run_id"],
        "seed": run["seed"],
        "token": run["token"],
        "ticks": encode_ticks(flaps),
        **overrides,
    }


def wait_until_playable(run: dict, flaps: list[int]) -> None:
    """An honest client cannot post before the run could have been played in real time."""
    ticks = physics.simulate(run["seed"], flaps).ticks
    while tick_budget(int((time.monotonic() - run["started"]) * 1000) - 500) < ticks:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def runs(client: httpx.Client) -> dict[str, dict]:
    """Tokens for every test, taken together so the real-time wait is paid once."""
    names = ["honest", "forged", "claimed", "tampered", "other_seed", "truncated", "oversized", "late_flap"]
    out = {name: start(client) for name in names}
    for run in out.values():
        run["flaps"] = autopilot(run["seed"])
        assert physics.simulate(run["seed"], run["flaps"]).score >= 1
    for run in out.values():
        wait_until_playable(run, run["flaps"])
    return out


def refused(client: httpx.Client, server: RunningServer, payload: dict, reason: str) -> dict:
    before = rows(server)
    response = client.post("/score", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["reason"] == reason, response.json()
    assert rows(server) == before, "a refused run stores nothing"
    return response.json()


def test_game_start_returns_a_token_for_its_run_and_seed(client: httpx.Client) -> None:
    run = start(client)
    assert run["token"].startswith(f"v1.{run['run_id']}.{run['seed']}.")


def test_a_played_run_is_stored_with_its_replayed_score_and_a_retry_is_a_duplicate(
    client: httpx.Client, server: RunningServer, runs: dict
) -> None:
    run = runs["honest"]
    payload = body(run, run["flaps"])
    first = client.post("/score", json=payload)
    assert first.status_code == 201, first.text
    assert first.json()["verified"] is True
    assert first.json()["stored"]["score"] == payload["score"] >= 1
    assert ("Ada", payload["score"], run["run_id"], 1) in rows(server)
    again = client.post("/score", json=payload)  # the offline queue's retry after a lost answer
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    # The same token again with other inputs is a reused token, not a retry.
    no_flaps = body(run, [])
    msg = refused(client, server, no_flaps, "reused_token")
    assert "already used" in msg["error"]


def test_a_forged_score_is_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run = runs["forged"]
    honest = body(run, run["flaps"])
    msg = refused(client, server, {**honest, "score": honest["score"] + 1}, "score_mismatch")
    assert f"replay scores {honest['score']}" in msg["error"]


def test_a_claim_of_99999_with_a_valid_token_is_refused(
    client: httpx.Client, server: RunningServer, runs: dict
) -> None:
    run = runs["claimed"]
    refused(client, server, body(run, run["flaps"], score=99_999), "score_mismatch")


def test_a_tampered_token_is_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run = runs["tampered"]
    token = run["token"]
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), token.replace(f".{run['seed']}.", ".1.")):
        refused(client, server, body(run, run["flaps"], token=forged), "bad_token")
    refused(client, server, body(run, run["flaps"], token="v1.nonsense"), "bad_token")


def test_a_token_for_another_seed_is_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run, other = runs["other_seed"], runs["honest"]
    # This run's inputs and seed, but the token /game-start gave for another run's seed.
    refused(client, server, body(run, run["flaps"], token=other["token"], run_id=None), "seed_mismatch")


def test_time_compressed_inputs_are_refused(client: httpx.Client, server: RunningServer) -> None:
    run = start(client)
    flaps = autopilot(run["seed"])
    msg = refused(client, server, body(run, flaps), "too_fast")  # posted at once: ~400 ticks in ~0 s
    assert "ticks" in msg["error"]


def test_truncated_inputs_are_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run = runs["truncated"]
    full = body(run, run["flaps"])
    # Cut before the first duct: the bird falls long before scoring.
    cut = [t for t in run["flaps"] if t < 100]
    assert physics.simulate(run["seed"], cut).score == 0 < full["score"]
    refused(client, server, {**full, "ticks": encode_ticks(cut)}, "score_mismatch")
    # Cut inside a gap: the last varint byte says "more follows", and nothing does.
    raw = base64.urlsafe_b64decode(full["ticks"] + "=" * (-len(full["ticks"]) % 4))
    cut_mid_gap = base64.urlsafe_b64encode(raw + b"\x80").decode().rstrip("=")
    msg = refused(client, server, {**full, "ticks": cut_mid_gap}, "malformed_inputs")
    assert "truncated" in msg["error"]
    refused(client, server, {k: v for k, v in full.items() if k != "ticks"}, "malformed_inputs")


def test_oversized_inputs_are_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run = runs["oversized"]
    too_many = encode_ticks(list(range(physics.MAX_INPUTS + 1)))
    msg = refused(client, server, body(run, run["flaps"], ticks=too_many), "malformed_inputs")
    assert f"more than {physics.MAX_INPUTS}" in msg["error"]
    before = rows(server)
    huge = client.post("/score", json=body(run, run["flaps"], ticks="A" * 20_000))
    assert huge.status_code == 413  # the body limit answers first
    assert rows(server) == before


def test_flaps_after_the_end_are_refused(client: httpx.Client, server: RunningServer, runs: dict) -> None:
    run = runs["late_flap"]
    ended = physics.simulate(run["seed"], run["flaps"]).ticks
    refused(client, server, body(run, [*run["flaps"], ended + 1]), "malformed_inputs")


def test_a_bare_score_needs_a_token(client: httpx.Client, server: RunningServer) -> None:
    msg = refused(client, server, {"score": 5}, "missing_token")
    assert "token" in msg["error"]


def test_refusals_are_counted_by_reason(client: httpx.Client, server: RunningServer) -> None:
    before = scrape(server.url)
    refused(client, server, {"score": 5}, "missing_token")
    refused(client, server, {"score": 5, "token": "x"}, "bad_token")
    after = scrape(server.url)

    def delta(reason: str) -> float:
        name = "drafty_bird_scores_rejected_total"
        return value(after, name, reason=reason) - value(before, name, reason=reason)

    assert (delta("missing_token"), delta("bad_token"), delta("score_mismatch")) == (1, 1, 0)
    # Every reason is exported from the start (rate() works at once) and no others exist.
    assert {dict(k)["reason"] for k in after["drafty_bird_scores_rejected_total"]} == {
        "missing_token", "bad_token", "expired_token", "reused_token", "seed_mismatch",
        "malformed_inputs", "too_fast", "score_mismatch",
    }  # fmt: skip


def test_with_verification_off_a_bare_score_is_stored_as_before(tmp_path: Path) -> None:
    with start_server(tmp_path, env={"SCORE_VERIFICATION": "off"}) as off, httpx.Client(base_url=off.url) as http:
        response = http.post("/score", json={"score": 5})
        assert response.status_code == 201
        assert response.json()["verified"] is False
        assert rows(off) == [("Guest", 5, None, 0)]


def _no_flap_run(http: httpx.Client) -> dict:
    """A run with no flaps: over in under a second, so it can be posted at once."""
    run = start(http)
    return body(run, [])


@contextlib.contextmanager
def served(tmp_path: Path, env: dict[str, str], name: str = "server") -> Iterator[tuple[RunningServer, httpx.Client]]:
    """A server on the test's one DB file (each replaces the last, like a restart)."""
    db = tmp_path / "data" / "db.sqlite"
    with start_server(tmp_path, env=env, db_path=db, name=name) as srv, httpx.Client(base_url=srv.url) as http:
        yield srv, http


def test_a_rotated_key_keeps_runs_in_flight_until_its_window_closes(tmp_path: Path) -> None:
    old, new = "old-run-token-secret-" + "o" * 20, "new-run-token-secret-" + "n" * 20
    with served(tmp_path, {**REQUIRED, "RUN_TOKEN_SECRET": old}) as (_, http):
        in_flight = [_no_flap_run(http) for _ in range(3)]
    rotated = {**REQUIRED, "RUN_TOKEN_SECRET": new, "RUN_TOKEN_SECRET_PREVIOUS": old}
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    with served(tmp_path, {**rotated, "RUN_TOKEN_PREVIOUS_UNTIL": soon}) as (_, http):
        assert http.post("/score", json=in_flight[0]).status_code == 201
        fresh = _no_flap_run(http)  # signed with the new key
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    with served(tmp_path, {**rotated, "RUN_TOKEN_PREVIOUS_UNTIL": past}) as (_, http):
        assert http.post("/score", json=in_flight[1]).json()["reason"] == "bad_token"
        assert http.post("/score", json=fresh).status_code == 201
    with served(tmp_path, {**REQUIRED, "RUN_TOKEN_SECRET": new}) as (_, http):
        assert http.post("/score", json=in_flight[2]).json()["reason"] == "bad_token"


def test_without_a_secret_each_process_has_its_own_key_and_says_so(tmp_path: Path) -> None:
    env = {**REQUIRED, "RUN_TOKEN_SECRET": ""}
    with served(tmp_path, env, "first") as (first, http):
        assert any("RUN_TOKEN_SECRET is unset" in line.get("message", "") for line in first.logs())
        run = _no_flap_run(http)
    with served(tmp_path, env, "second") as (_, http):
        assert http.post("/score", json=run).json()["reason"] == "bad_token"


def test_a_refusal_is_on_the_score_submit_span(tmp_path: Path) -> None:
    env = {**REQUIRED, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with (
        HttpReceiver() as receiver,
        served(tmp_path, {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}) as (
            _,
            http,
        ),
    ):
        run = start(http)
        response = http.post("/score", json=body(run, [], score=7))
        assert response.json()["reason"] == "score_mismatch"

        def submit_span() -> list:
            return [s for s in receiver.snapshot() if s.name == "score.submit"]

        wait_until(submit_span, 15, message="score.submit span")
    (span,) = submit_span()
    assert span.attributes["result"] == "refused"
    assert span.attributes["score.refused_reason"] == "score_mismatch"
    assert span.attributes["score"] == 7
