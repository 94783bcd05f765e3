"""The real-Prometheus stack shared by the alert and release-gate tests (started once)."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.ops.prom_stack import ALERTS_YML, Prometheus, Traffic, derive_test_rules, run_prometheus
from tests.server import RunningServer, free_port, start_server, wait_until

# Every range vector of the real rules becomes this window in the test copy.
TEST_WINDOW = "1m"
# Revisions, as the scrape config labels the targets.
HEALTHY, CHAOS, IDLE, DOWN = "rev-healthy", "rev-chaos", "rev-idle", "rev-down"

# Generous limits: the load must measure chaos, not the rate limiter.
NO_RATE_LIMIT = {"RATE_LIMIT_SCORE": "100000/minute", "RATE_LIMIT_GAME_START": "100000/minute"}
CHAOS_ENV = {
    "CHAOS_ENABLED": "true",
    "CHAOS_ERROR_RATE": "0.2",
    "CHAOS_ROUTES": "/score,/leaderboard",
    # p99 well above the 500 ms objective, so the latency alert has something to see.
    "CHAOS_LATENCY_MS_P50": "300",
    "CHAOS_LATENCY_MS_P99": "1500",
}


@dataclass
class PromStack:
    prometheus: Prometheus
    apps: dict[str, RunningServer]
    traffic: dict[str, Traffic]
    rules: dict


@pytest.fixture(scope="session")
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    base = tmp_path_factory.mktemp("promstack")
    rule_file = base / "alerts.test-windows.yml"
    rules = derive_test_rules(ALERTS_YML, rule_file, window=TEST_WINDOW, hold="3s", interval="1s")
    envs = {
        HEALTHY: {**NO_RATE_LIMIT, "CHAOS_ENABLED": "false"},
        CHAOS: {**NO_RATE_LIMIT, **CHAOS_ENV},
        IDLE: {**NO_RATE_LIMIT},
    }
    with contextlib.ExitStack() as stack:
        apps = {}
        for rev, env in envs.items():
            (base / rev).mkdir()
            apps[rev] = stack.enter_context(
                start_server(base / rev, env={**env, "CONTAINER_APP_REVISION": rev}, name=rev)
            )
        targets = {rev: f"127.0.0.1:{app.port}" for rev, app in apps.items()}
        targets[DOWN] = f"127.0.0.1:{free_port()}"  # nothing listens: DraftyBirdDown's case
        prometheus = stack.enter_context(run_prometheus(base / "prometheus", targets, rule_file))
        traffic = {
            # Modest rates (~20 and ~25 req/s): enough requests per 1m window for stable
            # ratios, little enough CPU that the healthy app's p99 stays far from 500 ms
            # on two shared cores.
            HEALTHY: Traffic(apps[HEALTHY].url, workers=2, pace_s=0.1, games=True),
            # Chaos routes only, so the 5xx ratio is the configured 20%, not diluted.
            CHAOS: Traffic(apps[CHAOS].url, workers=10, pace_s=0.05, games=False),
        }
        for load in traffic.values():
            load.start()
            stack.callback(load.stop)

        def enough_history() -> bool:
            # A full test window of scrapes with traffic in it.
            result = prometheus.vector(
                "min(count_over_time(http_requests_total"
                f'{{revision=~"{HEALTHY}|{CHAOS}", route="/leaderboard", status="200"}}[{TEST_WINDOW}]))'
            )
            return bool(result) and float(result[0]["value"][1]) >= 45

        wait_until(enough_history, 150, interval=1, message="45 s of scraped traffic on both apps")
        yield PromStack(prometheus, apps, traffic, rules)
