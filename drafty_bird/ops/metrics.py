"""Prometheus metrics: the definitions, and the helpers that record domain events.

The request middleware is in metrics_middleware.py, GET /metrics and the scrape-time
gauges in metrics_endpoint.py, the store timing proxy in timed_store.py.

Names and labels are a contract with infra/observability/prometheus/alerts.yml and the
dashboard: rename nothing without changing those. Every label value comes from a
bounded set (route templates, known methods, fixed result names), never from raw
input. The storage gauges live in storage_metrics.py.
"""

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from drafty_bird.replay.verify import REASONS as REFUSAL_REASONS

log = logging.getLogger(__name__)

# No <name>_created series beside each counter and histogram: the Node service's
# prom-client never exported them, nothing reads them, and they were a quarter of the
# samples each scrape writes (on the event loop).
disable_created_metrics()

# Around the 500 ms latency objective, so p99 > 0.5 s is read between real buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SUBMISSION_RESULTS = ("stored", "duplicate", "invalid", "rejected", "failed")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route template, method and status.", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
GAMES_STARTED = Counter(
    "drafty_bird_games_started_total", "Runs started (POST /game-start without ahead=true, or the page's first flap)."
)
GAMES_COMPLETED = Counter(
    "drafty_bird_games_completed_total",
    "Runs whose score was stored for the first time (retries of a run_id are not counted).",
)
HIGH_SCORE = Gauge("drafty_bird_high_score", "Highest stored score.")
CHAOS_INJECTIONS = Counter("drafty_bird_chaos_injections_total", "Chaos injections by type.", ["type"])
CHAOS_ENABLED = Gauge("drafty_bird_chaos_enabled", "1 while chaos injection is switched on.")
SCORE_SUBMISSIONS = Counter("drafty_bird_score_submissions_total", "Score submissions by outcome.", ["result"])
DB_SECONDS = Histogram(
    "drafty_bird_db_operation_duration_seconds",
    "Store calls, queue wait on the DB threads included.",
    ["op"],
    buckets=DB_BUCKETS,
)
SCORES_REJECTED = Counter(
    "drafty_bird_scores_rejected_total",
    "Runs refused by replay verification (422, nothing stored), by reason.",
    ["reason"],
)
# Group commit: scores per SQLite transaction (1 when requests arrive one at a time).
WRITE_BATCH = Histogram(
    "drafty_bird_db_write_batch_size",
    "Scores committed together in one transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
WS_CLIENTS = Gauge("drafty_bird_ws_clients", "Open game pages (NiceGUI clients with a live socket).")
BUILD_INFO = Gauge("drafty_bird_build_info", "Always 1; the labels name the running build.", ["version", "revision"])

for _result in SUBMISSION_RESULTS:  # exported as 0 from the start, so rate() works at once
    SCORE_SUBMISSIONS.labels(_result)
for _type in ("error", "latency"):
    CHAOS_INJECTIONS.labels(_type)
for _reason in REFUSAL_REASONS:
    SCORES_REJECTED.labels(_reason)

# POST /score outcomes: the service counts what it sees (stored, duplicate, store
# errors); the middleware counts what never reached it (validation 4xx, 429, chaos 503).
# A mutable box, not a flag, so a write made in a child task is still visible here.
submission_seen: ContextVar[list[bool] | None] = ContextVar("submission_seen", default=None)


def score_submitted(result: str) -> None:
    SCORE_SUBMISSIONS.labels(result).inc()
    if result == "stored":
        GAMES_COMPLETED.inc()
    seen = submission_seen.get()
    if seen is not None:
        seen[0] = True


def score_refused(reason: str) -> None:
    SCORES_REJECTED.labels(reason if reason in REFUSAL_REASONS else "other").inc()


def game_started() -> None:
    GAMES_STARTED.inc()


def set_high_score(score: int) -> None:
    HIGH_SCORE.set(score)


async def prime_high_score(read: Callable[[], Awaitable[int]]) -> None:
    """drafty_bird_high_score right at start-up, read from the DB (not 0 until the next score)."""
    try:
        set_high_score(await read())
    except Exception:
        log.warning("could not read the high score at start-up", exc_info=True)
