"""Chaos: the latency distribution, seeded decisions, and the real server under chaos."""

import random
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from drafty_bird.ops.chaos import ChaosConfig, ChaosState, LatencyDistribution
from drafty_bird.settings import SettingsError, load_settings
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, launch, start_server, wait_until

TOKEN = "c7e2a9f04b3d8e61a5f9c2b7d0e4a813"  # openssl rand -hex 16
PLAIN = {"RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}


def quantiles(draws: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(draws, n=100, method="inclusive")
    return cuts[49], cuts[98]


@pytest.mark.parametrize(("p50", "p99"), [(100, 1000), (20, 80), (250, 250), (1, 3000)])
def test_latency_draws_hit_the_configured_p50_and_p99(p50: float, p99: float) -> None:
    state = ChaosState(ChaosConfig(enabled=True, latency_ms_p50=p50, latency_ms_p99=p99, seed=1234))
    draws = [state.decide()[1] for _ in range(10_000)]
    measured_p50, measured_p99 = quantiles(draws)
    assert measured_p50 == pytest.approx(p50, rel=0.05)
    assert measured_p99 == pytest.approx(p99, rel=0.05)


def test_plain_draws_follow_the_distribution_too() -> None:
    """The inverse CDF itself, without stratification: 100,000 draws keep sampling noise small."""
    dist = LatencyDistribution(100, 1000)
    rng = random.Random(5)
    measured_p50, measured_p99 = quantiles([dist.draw(rng) for _ in range(100_000)])
    assert measured_p50 == pytest.approx(100, rel=0.05)
    assert measured_p99 == pytest.approx(1000, rel=0.05)


def test_zero_median_latency_still_has_the_p99_tail() -> None:
    state = ChaosState(ChaosConfig(enabled=True, latency_ms_p50=0, latency_ms_p99=400, seed=9))
    draws = [state.decide()[1] for _ in range(10_000)]
    measured_p50, measured_p99 = quantiles(draws)
    assert measured_p50 < 1  # half the draws are 0; the median interpolates to just above
    assert sum(d == 0 for d in draws) == pytest.approx(5000, rel=0.05)
    assert measured_p99 == pytest.approx(400, rel=0.05)
    assert LatencyDistribution(0, 0).quantile(0.999) == 0


def test_same_seed_same_decisions() -> None:
    config = ChaosConfig(enabled=True, error_rate=0.3, latency_ms_p50=10, latency_ms_p99=100, seed=7)
    one, two = ChaosState(config), ChaosState(config)
    decisions = [one.decide() for _ in range(200)]
    assert decisions == [two.decide() for _ in range(200)]
    assert {error for error, _ in decisions} == {True, False}
    other = ChaosState(config.model_copy(update={"seed": 8}))
    assert [other.decide() for _ in range(200)] != decisions


@pytest.mark.parametrize(
    "fields",
    [
        {"error_rate": 1.01},
        {"error_rate": -0.1},
        {"latency_ms_p50": 200, "latency_ms_p99": 100},
        {"latency_ms_p50": -1},
        {"routes": "score"},
        {"unknown": 1},
    ],
)
def test_bad_chaos_config_is_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        ChaosConfig(**fields)


def test_protected_paths_are_never_targeted() -> None:
    state = ChaosState(
        ChaosConfig(enabled=True, error_rate=1, routes="/healthz,/readyz,/metrics,/ops/chaos,/_nicegui,/score")
    )
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/ops/chaos",
        "/_nicegui/3.18.0/static/x.js",
        "/_nicegui_ws/socket.io/",
    ):
        assert not state.targets(path), path
    assert state.targets("/score")
    assert not ChaosState(ChaosConfig(enabled=False, error_rate=1)).targets("/score")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CHAOS_ERROR_RATE": "1.5"}, "CHAOS_ERROR_RATE"),
        ({"CHAOS_ERROR_RATE": "lots"}, "CHAOS_ERROR_RATE"),
        ({"CHAOS_LATENCY_MS_P50": "300", "CHAOS_LATENCY_MS_P99": "100"}, "CHAOS_LATENCY_MS_P99"),
        ({"CHAOS_LATENCY_MS_P50": "-5"}, "CHAOS_LATENCY_MS_P50"),
        ({"CHAOS_ROUTES": "score"}, "CHAOS_ROUTES"),
        ({"CHAOS_SEED": "x"}, "CHAOS_SEED"),
        ({"CHAOS_ENABLED": "maybe"}, "CHAOS_ENABLED"),
        ({"CHAOS_ADMIN_TOKEN": "short"}, "CHAOS_ADMIN_TOKEN"),
    ],
)
def test_out_of_range_chaos_settings_name_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict, needle: str
) -> None:
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    with pytest.raises(SettingsError) as err:
        load_settings(score_db_path="/tmp/chaos-settings/db.sqlite")
    message = str(err.value)
    assert message.splitlines() == [message], f"more than one line: {message!r}"
    assert message.startswith(f"invalid {needle}="), message
    assert message.partition(": ")[2].strip(), f"no reason given: {message!r}"


# A short (invalid) token that cannot appear in the message by accident.
LEAKY_TOKEN = "tok-Zq8xW3"


def test_a_bad_admin_token_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOS_ADMIN_TOKEN", LEAKY_TOKEN)
    with pytest.raises(SettingsError) as err:
        load_settings(score_db_path="/tmp/chaos-settings/db.sqlite")
    assert str(err.value).startswith("invalid CHAOS_ADMIN_TOKEN=<redacted>: "), str(err.value)
    assert LEAKY_TOKEN not in str(err.value) and LEAKY_TOKEN not in repr(err.value)


@pytest.mark.parametrize(
    ("env", "needle", "secret"),
    [
        ({"CHAOS_LATENCY_MS_P50": "500", "CHAOS_LATENCY_MS_P99": "100"}, "CHAOS_LATENCY_MS_P99", None),
        ({"CHAOS_ADMIN_TOKEN": LEAKY_TOKEN}, "CHAOS_ADMIN_TOKEN", LEAKY_TOKEN),
    ],
    ids=["latency-order", "short-token"],
)
def test_bad_chaos_setting_stops_start_up_with_one_line(
    tmp_path: Path, env: dict, needle: str, secret: str | None
) -> None:
    server = launch(tmp_path, env)
    assert server.proc.wait(30) == 2
    log = server.raw_log()
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"drafty-bird: invalid {needle}="), lines
    assert secret is None or secret not in log


# ---------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def erroring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        **PLAIN,
        "CHAOS_ENABLED": "true",
        "CHAOS_ERROR_RATE": "1",
        # Listing protected paths must not matter.
        "CHAOS_ROUTES": "/score,/leaderboard,/healthz,/readyz,/metrics,/ops/chaos,/_nicegui",
    }
    with start_server(tmp_path_factory.mktemp("chaos-errors"), env=env) as running:
        yield running


def test_injected_error_is_a_503_with_the_request_id(erroring: RunningServer) -> None:
    before = scrape(erroring.url)
    response = httpx.post(
        erroring.url + "/score", json={"score": 5, "run_id": "chaos-1"}, headers={"x-request-id": "chaos-req-1"}
    )
    assert response.status_code == 503
    assert response.json() == {"error": "Injected chaos error", "request_id": "chaos-req-1"}
    assert httpx.get(erroring.url + "/leaderboard").status_code == 503
    after = scrape(erroring.url)
    assert (
        value(after, "drafty_bird_chaos_injections_total", type="error")
        - value(before, "drafty_bird_chaos_injections_total", type="error")
        == 2
    )
    assert value(after, "drafty_bird_chaos_enabled") == 1
    assert (
        value(after, "drafty_bird_score_submissions_total", result="rejected")
        - value(before, "drafty_bird_score_submissions_total", result="rejected")
        == 1
    )
    assert value(after, "http_requests_total", route="/score", method="POST", status="503") >= 1
    # Nothing was stored: the request never reached the service.
    assert value(after, "drafty_bird_score_submissions_total", result="stored") == 0
    wait_until(
        lambda: [
            ln
            for ln in erroring.logs()
            if ln.get("message") == "chaos injected" and ln.get("request_id") == "chaos-req-1"
        ],
        5,
        message="chaos log event",
    )
    (event,) = [
        ln for ln in erroring.logs() if ln.get("message") == "chaos injected" and ln.get("request_id") == "chaos-req-1"
    ]
    assert event["chaos_type"] == "error" and event["path"] == "/score"


def test_probes_metrics_and_nicegui_are_never_affected(erroring: RunningServer) -> None:
    with httpx.Client(base_url=erroring.url, timeout=10) as http:
        for _ in range(20):
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 200
            assert http.get("/metrics").status_code == 200
        page = http.get("/")
        assert page.status_code == 200
        assets = [part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("/_nicegui")]
        assert assets, "no NiceGUI asset found in the page"
        assert http.get(assets[0]).status_code == 200
        assert http.get("/ops/chaos").status_code == 404  # no CHAOS_ADMIN_TOKEN: no control endpoint
        assert http.post("/game-start").status_code == 202  # not in CHAOS_ROUTES


def _statuses(url: str, n: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as http:
        return [http.get("/leaderboard").status_code for _ in range(n)]


def test_same_seed_gives_the_same_errors_across_processes(tmp_path: Path) -> None:
    env = {**PLAIN, "CHAOS_ENABLED": "true", "CHAOS_ERROR_RATE": "0.5"}
    runs = {}
    for name, seed in (("a", "42"), ("b", "42"), ("c", "43")):
        (tmp_path / name).mkdir()
        with start_server(tmp_path / name, env={**env, "CHAOS_SEED": seed}) as running:
            runs[name] = _statuses(running.url, 40)
    assert set(runs["a"]) == {200, 503}
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_latency_sleeps_without_blocking_the_loop(tmp_path: Path) -> None:
    env = {**PLAIN, "CHAOS_ENABLED": "true", "CHAOS_LATENCY_MS_P50": "1500", "CHAOS_LATENCY_MS_P99": "1500"}
    with start_server(tmp_path, env=env) as running:
        with ThreadPoolExecutor(4) as pool:
            started = time.monotonic()
            slow = [pool.submit(httpx.get, running.url + "/leaderboard", timeout=30) for _ in range(3)]
            time.sleep(0.2)  # let the three requests reach their sleep
            probe_started = time.monotonic()
            assert httpx.get(running.url + "/healthz", timeout=10).status_code == 200
            probe_s = time.monotonic() - probe_started
            assert all(f.result().status_code == 200 for f in slow)
            slow_s = time.monotonic() - started
        # Generous margins on 2 noisy cores: the probe never waits for the 1.5 s sleeps.
        assert probe_s < 1.0, f"/healthz took {probe_s:.2f}s while chaos latency slept"
        assert slow_s >= 1.45, f"/leaderboard came back after {slow_s:.2f}s"
        samples = scrape(running.url)
        assert value(samples, "drafty_bird_chaos_injections_total", type="latency") == 3
        assert value(samples, "http_request_duration_seconds_bucket", route="/leaderboard", method="GET", le="1.0") == 0


# ---------------------------------------------------------------- runtime control


@pytest.fixture(scope="module")
def controlled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(
        tmp_path_factory.mktemp("chaos-admin"),
        # The failure limit has its own tests (test_chaos_auth.py); these send many wrong tokens.
        env={**PLAIN, "CHAOS_ADMIN_TOKEN": TOKEN, "CHAOS_AUTH_FAILURE_LIMIT": "off"},
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": f"Basic {TOKEN}"}, 401),
        ({"authorization": "Bearer"}, 401),
        ({"authorization": "Bearer wrong-token-0123456789"}, 403),
        ({"authorization": f"Bearer {TOKEN}x"}, 403),
        ({"authorization": f"bearer {TOKEN}"}, 200),
    ],
)
def test_control_endpoint_needs_the_bearer_token(controlled: RunningServer, headers: dict, status: int) -> None:
    assert httpx.get(controlled.url + "/ops/chaos", headers=headers).status_code == status
    assert httpx.put(controlled.url + "/ops/chaos", json={"enabled": True}, headers=headers).status_code == (
        status if status != 200 else 200
    )
    if status == 200:  # leave it off for the next case
        httpx.put(controlled.url + "/ops/chaos", json={"enabled": False}, headers=headers)


def test_runtime_control_flips_chaos_and_logs_it(controlled: RunningServer) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    url = controlled.url + "/ops/chaos"
    current = httpx.get(url, headers=auth).json()
    assert current == {
        "enabled": False,
        "error_rate": 0.0,
        "latency_ms_p50": 0.0,
        "latency_ms_p99": 0.0,
        "routes": ["/score", "/leaderboard"],
        "seed": 42,
    }
    assert httpx.get(controlled.url + "/leaderboard").status_code == 200

    changed = httpx.put(url, json={"enabled": True, "error_rate": 1.0, "routes": "/leaderboard"}, headers=auth)
    assert changed.status_code == 200 and changed.json()["routes"] == ["/leaderboard"]
    assert httpx.get(controlled.url + "/leaderboard").status_code == 503
    assert httpx.post(controlled.url + "/score", json={"score": 1}).status_code == 201  # no longer targeted
    assert value(scrape(controlled.url), "drafty_bird_chaos_enabled") == 1
    wait_until(
        lambda: [ln for ln in controlled.logs() if ln.get("message") == "chaos configuration changed"], 5, message="log"
    )
    event = [ln for ln in controlled.logs() if ln.get("message") == "chaos configuration changed"][-1]
    assert event["after"]["enabled"] is True and event["before"]["enabled"] is False
    assert TOKEN not in controlled.raw_log()

    for bad in ({"error_rate": 2}, {"latency_ms_p50": 500, "latency_ms_p99": 10}, {"routes": "nope"}, {"bogus": 1}):
        refused = httpx.put(url, json=bad, headers=auth)
        assert refused.status_code == 422, bad
        assert set(refused.json()) == {"error", "request_id"}
    assert httpx.get(url, headers=auth).json() == changed.json()  # nothing changed

    assert httpx.put(url, json={"enabled": False}, headers=auth).status_code == 200
    assert httpx.get(controlled.url + "/leaderboard").status_code == 200
    assert value(scrape(controlled.url), "drafty_bird_chaos_enabled") == 0
