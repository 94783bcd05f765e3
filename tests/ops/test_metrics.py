"""Prometheus metrics on the real server's /metrics, read with prometheus-client's parser."""

import random
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Playwright
from prometheus_client import REGISTRY
from sqlalchemy import Row

from drafty_bird.data.errors import NotWriter, StorageBusy
from drafty_bird.data.models import ScoreCreate
from drafty_bird.data.store import SavedRun, StoredScore
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops import metrics
from tests.aio import run_async
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, start_server, wait_until
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

PLAIN_ENV = {"RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("metrics"), env=PLAIN_ENV) as running:
        yield running


def test_every_documented_metric_is_exported(server: RunningServer) -> None:
    httpx.get(server.url + "/leaderboard")
    samples = scrape(server.url)
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "drafty_bird_games_started_total",
        "drafty_bird_games_completed_total",
        "drafty_bird_high_score",
        "drafty_bird_chaos_injections_total",
        "drafty_bird_chaos_enabled",
        "drafty_bird_score_submissions_total",
        "drafty_bird_db_operation_duration_seconds_bucket",
        "drafty_bird_ws_clients",
        "drafty_bird_page_events_ignored_total",
        "drafty_bird_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert name in samples, f"{name} missing from /metrics"
    buckets = {dict(labels)["le"] for labels in samples["http_request_duration_seconds_bucket"]}
    assert {"0.25", "0.5", "1.0"} <= buckets
    results = {dict(labels)["result"] for labels in samples["drafty_bird_score_submissions_total"]}
    assert results == {"stored", "duplicate", "invalid", "rejected", "failed"}
    assert value(samples, "drafty_bird_build_info", version="0.1.0", revision="local") == 1
    # No *_created series: the Node service never had them, and they were a quarter of each scrape.
    assert not [name for name in samples if name.endswith("_created")], sorted(samples)


def test_requests_are_counted_under_their_route_template(server: RunningServer) -> None:
    before = scrape(server.url)
    assert httpx.post(server.url + "/score", json={"score": 2}).status_code == 201  # the next read misses the cache
    for _ in range(3):
        assert httpx.get(server.url + "/leaderboard?limit=3").status_code == 200
    after = scrape(server.url)
    labels = {"route": "/leaderboard", "method": "GET", "status": "200"}
    assert value(after, "http_requests_total", **labels) - value(before, "http_requests_total", **labels) == 3
    count = "http_request_duration_seconds_count"
    assert (
        value(after, count, route="/leaderboard", method="GET")
        - value(before, count, route="/leaderboard", method="GET")
        == 3
    )
    # Store reads are timed where they reach the store: a board still cached is answered
    # before it (api.CachedLeaderboardMiddleware), so at least the miss after the write.
    top = "drafty_bird_db_operation_duration_seconds_count"
    assert value(after, top, op="top") - value(before, top, op="top") >= 1


def test_random_404_paths_add_no_label_values(server: RunningServer) -> None:
    """A scanner's 1,000 distinct paths must not create 1,000 series."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.get("/definitely-not-a-route")  # the one "unmatched" series may appear here
        before = scrape(server.url)
        rng = random.Random(7)
        for _ in range(1000):
            path = "/" + "/".join("".join(rng.choices(string.ascii_lowercase + string.digits, k=8)) for _ in range(2))
            assert http.get(path).status_code == 404
    after = scrape(server.url)
    new_series = set(after["http_requests_total"]) - set(before["http_requests_total"])
    assert not new_series, f"new label sets: {sorted(new_series)[:5]}"
    routes = {dict(labels)["route"] for labels in after["http_requests_total"]}
    assert all(
        not r.startswith("/")
        or r in {"/leaderboard", "/healthz", "/metrics", "/score", "/game-start", "/readyz", "/"}
        or r.startswith("/_nicegui")
        for r in routes
    ), routes
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "http_requests_total", **unmatched) - value(before, "http_requests_total", **unmatched) == 1000


def test_made_up_methods_share_one_label(server: RunningServer) -> None:
    before = scrape(server.url)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(50):
            http.request(f"X{i}METHOD", "/leaderboard")
    after = scrape(server.url)
    methods = {dict(labels)["method"] for labels in after["http_requests_total"]}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, methods
    assert len(set(after["http_requests_total"]) - set(before["http_requests_total"])) <= 1


def test_game_funnel_and_score_results(server: RunningServer) -> None:
    before = scrape(server.url)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/game-start").status_code == 202
        assert http.post("/game-start").status_code == 202
        assert http.post("/score", json={"score": 41, "run_id": "funnel-1"}).status_code == 201
        assert http.post("/score", json={"score": 41, "run_id": "funnel-1"}).status_code == 200  # retry
        assert http.post("/score", json={"score": -1}).status_code == 422
        assert http.post("/score", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert http.post("/score", content=b"score=1", headers={"content-type": "text/plain"}).status_code == 415
    after = scrape(server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("drafty_bird_games_started_total") == 2
    assert delta("drafty_bird_games_completed_total") == 1  # the retry completes no new run
    assert delta("drafty_bird_score_submissions_total", result="stored") == 1
    assert delta("drafty_bird_score_submissions_total", result="duplicate") == 1
    assert delta("drafty_bird_score_submissions_total", result="invalid") == 3
    assert delta("drafty_bird_score_submissions_total", result="rejected") == 0
    assert delta("drafty_bird_score_submissions_total", result="failed") == 0
    assert value(after, "drafty_bird_high_score") >= 41
    assert delta("drafty_bird_db_operation_duration_seconds_count", op="add") == 2


def test_high_score_is_read_from_the_db_at_start_up(tmp_path: Path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with start_server(tmp_path / "first", env=PLAIN_ENV, db_path=db) as first:
        assert httpx.post(first.url + "/score", json={"score": 777}).status_code == 201
    with start_server(tmp_path / "second", env=PLAIN_ENV, db_path=db) as second:
        # No score was posted to this process: the value can only come from the DB.
        wait_until(lambda: value(scrape(second.url), "drafty_bird_high_score") == 777, 10, message="high score 777")


def test_instrumentation_off_removes_request_metrics_and_spans(tmp_path: Path) -> None:
    with start_server(tmp_path, env={**PLAIN_ENV, "INSTRUMENTATION_ENABLED": "false"}) as off:
        assert httpx.get(off.url + "/leaderboard", headers={"x-request-id": "off-1"}).status_code == 200
        samples = scrape(off.url)
        assert not samples.get("http_requests_total"), "request metrics recorded with instrumentation off"
        assert not samples.get("drafty_bird_db_operation_duration_seconds_count")
        wait_until(lambda: [ln for ln in off.logs() if ln.get("request_id") == "off-1"], 5, message="access log line")
        (line,) = [ln for ln in off.logs() if ln.get("request_id") == "off-1"]
        assert line["trace_id"] is None


def test_ws_clients_counts_open_pages(server: RunningServer, playwright: Playwright) -> None:
    """Real Chromium opens the page; the gauge follows its socket."""

    def clients() -> float:
        return value(scrape(server.url), "drafty_bird_ws_clients")

    assert clients() == 0
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: make test installs it (scripts/system-deps.sh)"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        pages = [browser.new_page() for _ in range(2)]
        for page in pages:
            page.goto(server.url + "/")
        wait_until(lambda: clients() == 2, 20, interval=0.2, message="2 open pages")
        pages[0].close()
        wait_until(lambda: clients() == 1, 20, interval=0.2, message="1 open page after a close")
    finally:
        browser.close()
    wait_until(lambda: clients() == 0, 20, interval=0.2, message="0 open pages")


class _FailingStore:
    """Stands in for a store that breaks; the classification, not SQLite, is under test."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def add(
        self, player: str, score: int, run_id: str | None, *, verified: bool = False, ticks: str | None = None
    ) -> StoredScore:
        raise self.exc

    async def top(self, limit: int) -> list[Row]:
        raise self.exc

    def cached_top(self, limit: int) -> list[Row] | None:
        return None  # nothing cached: every read goes to top()

    async def high_score(self) -> int:
        raise self.exc

    async def runs(self, run_ids: list[str]) -> list[SavedRun]:
        raise self.exc


class _LooksRefused(Exception):
    retry_after_s = 2  # the attribute alone does not make a refusal: the type does


@pytest.mark.parametrize(
    ("exc", "result"),
    [
        (RuntimeError("bug"), "failed"),
        (_LooksRefused("not a storage error"), "failed"),
        (NotWriter("not the writer"), "rejected"),
        (StorageBusy("locked"), "rejected"),
    ],
)
def test_store_failures_are_counted_by_the_service(exc: Exception, result: str) -> None:
    def count() -> float:
        return REGISTRY.get_sample_value("drafty_bird_score_submissions_total", {"result": result}) or 0.0

    before = count()
    service = LeaderboardService(_FailingStore(exc), events=metrics)
    with pytest.raises(type(exc)):
        run_async(service.submit(ScoreCreate(score=3)))
    assert count() - before == 1
