"""Alert expressions and dashboard queries, evaluated by a real Prometheus against real apps.

The `prom_stack` fixture (conftest.py) runs three `python main.py` processes and the
Debian Prometheus binary scraping them every second, each target labelled with its
`revision`: rev-healthy (chaos off), rev-chaos (CHAOS_ERROR_RATE=0.2 on /score and
/leaderboard, injected latency p50 300 ms / p99 1500 ms), rev-idle (no traffic) and
rev-down (a port nothing listens on). Paced load runs against the first two.

The real rules need 5 minutes to 6 hours of data, so Prometheus loads a copy derived
programmatically from infra/observability/prometheus/alerts.yml: every range vector
becomes [1m], every `for` 3s, every group interval 1s. Names, thresholds and the
expressions' structure are untouched (recorded series keep their "rate5m" names while
holding 1m rates). Each alert's expression is then queried through /api/v1/query.
"""

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import CHAOS, DOWN, HEALTHY, IDLE, TEST_WINDOW, PromStack
from tests.ops.prom_stack import ALERTS_YML, Prometheus, derive_test_rules, run_prometheus
from tests.server import start_server, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Starts three app processes and Prometheus (shared, once per session).
pytestmark = pytest.mark.slow

DASHBOARD = ROOT / "infra" / "observability" / "grafana" / "dashboards" / "drafty-bird.json"

# DraftyBirdClientFlood's left-hand side: every per-client guard's refusals per second.
FLOOD_REFUSALS = (
    "sum by (job, revision) ("
    f'rate(http_requests_total{{status="429"}}[{TEST_WINDOW}])'
    f' or rate(drafty_bird_busy_answers_total{{reason="per_client"}}[{TEST_WINDOW}])'
    f" or rate(drafty_bird_socket_messages_refused_total[{TEST_WINDOW}])"
    f' or rate(drafty_bird_page_events_ignored_total{{reason=~"malformed|too_often"}}[{TEST_WINDOW}])'
    f" or rate(drafty_bird_log_lines_dropped_total[{TEST_WINDOW}]))"
)

# Which revisions each alert's expression must return, and the left-hand side that
# shows the value against its threshold for every revision (evidence printed on failure).
EXPECTED = {
    "DraftyBirdDown": ({DOWN}, 'up{job="drafty-bird"}'),
    "DraftyBirdHighErrorRate": ({CHAOS}, "job_revision:http_error_ratio:rate5m"),
    "DraftyBirdHighLatencyP99": (
        {CHAOS},
        "max by (job, revision) (job_revision_route:http_request_duration_seconds:p99_rate5m)",
    ),
    "DraftyBirdChaosActive": ({CHAOS}, "max by (job, revision) (drafty_bird_chaos_enabled)"),
    "DraftyBirdStorageNotReady": (set(), "max by (job, revision) (drafty_bird_storage_ready)"),
    "DraftyBirdPagesNearLimit": (
        set(),
        "max by (job, revision) (drafty_bird_pages_connected) / max by (job, revision) (drafty_bird_pages_limit)",
    ),
    "DraftyBirdErrorBudgetBurnFast": (
        {CHAOS},
        'min by (job, revision) ({__name__=~"job_revision:http_error_ratio:rate(1h|5m)"})',
    ),
    "DraftyBirdErrorBudgetBurnSlow": (
        {CHAOS},
        'min by (job, revision) ({__name__=~"job_revision:http_error_ratio:rate(6h|30m)"})',
    ),
    # No revision of this stack floods (test_client_flood_fires_for_a_real_flood has one);
    # the guards' pre-exported zeros give every app a value.
    "DraftyBirdClientFlood": (set(), FLOOD_REFUSALS),
}


def alert_exprs(stack: PromStack) -> dict[str, str]:
    return {
        rule["alert"]: rule["expr"] for group in stack.rules["groups"] for rule in group["rules"] if "alert" in rule
    }


def revisions(result: list[dict]) -> set[str]:
    return {series["metric"].get("revision", "") for series in result}


def evidence(stack: PromStack, expr: str) -> dict[str, str]:
    return evidence_of(stack.prometheus, expr)


def test_every_alert_has_an_expectation(prom_stack: PromStack) -> None:
    assert set(alert_exprs(prom_stack)) == set(EXPECTED), "add the new alert to EXPECTED"


@pytest.mark.parametrize("alert", sorted(EXPECTED))
def test_alert_expression_crosses_threshold_only_under_chaos(prom_stack: PromStack, alert: str) -> None:
    expr = alert_exprs(prom_stack)[alert]
    expected, lhs = EXPECTED[alert]
    seen: dict[str, set[str]] = {}

    def matches() -> bool:
        seen["last"] = revisions(prom_stack.prometheus.vector(expr))
        return seen["last"] == expected

    try:
        # Recorded series need a few rule evaluations; poll with a deadline.
        wait_until(matches, 60, interval=1, message=f"{alert} to select exactly {expected}")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlast result: {seen.get('last')}\nexpr: {expr}\nvalues: {evidence(prom_stack, lhs)}"
        ) from None
    # "Below threshold" must not just mean "no data": the healthy app has a value.
    values = evidence(prom_stack, lhs)
    if alert != "DraftyBirdDown":
        assert HEALTHY in values and CHAOS in values, f"{alert}: missing evidence {values}"
    print(f"{alert}: {values}")


def test_chaos_alerts_fire_in_prometheus(prom_stack: PromStack) -> None:
    """The derived rules (for: 3s) reach state firing for the chaos revision only."""
    wanted = {name for name, (revs, _) in EXPECTED.items() if CHAOS in revs}

    def firing() -> set[str]:
        return {
            a["labels"]["alertname"]
            for a in prom_stack.prometheus.alerts()
            if a["state"] == "firing" and a["labels"].get("revision") == CHAOS
        }

    wait_until(lambda: wanted <= firing(), 60, interval=1, message=f"{wanted} firing")
    healthy = [a for a in prom_stack.prometheus.alerts() if a["labels"].get("revision") in {HEALTHY, IDLE}]
    assert healthy == [], healthy


FLOOD = "rev-flood"


def flood_firing(prometheus: Prometheus) -> list[dict]:
    return [
        a for a in prometheus.alerts() if a["labels"]["alertname"] == "DraftyBirdClientFlood" and a["state"] == "firing"
    ]


def test_client_flood_fires_for_a_real_flood(tmp_path: Path) -> None:
    """One client reloading the page past RATE_LIMIT_PAGE, against a real app and its own real
    Prometheus on the same derived rules (the shared stack's revisions must stay quiet).
    Before the flood the guards' sum has a value, 0; the flood's 429s take it past 1/s and
    DraftyBirdClientFlood fires for that revision."""
    rule_file = tmp_path / "alerts.test-windows.yml"
    rules = derive_test_rules(ALERTS_YML, rule_file, window=TEST_WINDOW, hold="3s", interval="1s")
    (expr,) = [r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("alert") == "DraftyBirdClientFlood"]
    # FLOOD_REFUSALS (the evidence of EXPECTED) is the alert's own left-hand side.
    assert "".join(expr.split()) == "".join(f"{FLOOD_REFUSALS} > 1".split())
    env = {"RATE_LIMIT_PAGE": "5/minute", "CONTAINER_APP_REVISION": FLOOD}
    (tmp_path / "app").mkdir()
    with (
        start_server(tmp_path / "app", env=env, name=FLOOD) as app,
        run_prometheus(tmp_path / "prometheus", {FLOOD: f"127.0.0.1:{app.port}"}, rule_file) as prometheus,
    ):
        before: dict[str, str] = {}

        def scraped_at_zero() -> bool:
            before.update(evidence_of(prometheus, FLOOD_REFUSALS))
            return before.get(FLOOD) == "0"

        wait_until(scraped_at_zero, 30, interval=0.5, message=f"the guards' sum at 0 for {FLOOD}: {before}")
        assert prometheus.vector(expr) == [] and flood_firing(prometheus) == []

        # Paced (~15 loads/s) and bounded; stops as soon as the alert fires.
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        deadline = started + 90
        with httpx.Client(base_url=app.url, timeout=10) as client:
            while not flood_firing(prometheus):
                assert time.monotonic() < deadline and statuses.total() < 2000, f"never fired: {statuses}"
                for _ in range(10):
                    statuses[client.get("/").status_code] += 1
                    time.sleep(0.05)
        (alert,) = flood_firing(prometheus)
        assert alert["labels"]["revision"] == FLOOD and alert["labels"]["severity"] == "warning"
        # RATE_LIMIT_PAGE let 5 loads a minute in, the rest were refused.
        minutes = 1 + int((time.monotonic() - started) // 60)
        assert 5 <= statuses[200] <= 5 * minutes and set(statuses) == {200, 429}, statuses
        print(f"fired after {statuses}: {alert['annotations']['summary']}")


def evidence_of(prometheus: Prometheus, expr: str) -> dict[str, str]:
    return {series["metric"].get("revision", ""): series["value"][1] for series in prometheus.vector(expr)}


def test_load_really_produced_injected_errors(prom_stack: PromStack) -> None:
    chaos, healthy = prom_stack.traffic[CHAOS].counts, prom_stack.traffic[HEALTHY].counts
    assert chaos.get(503, 0) > 100, chaos
    assert 0.12 < chaos.get(503, 0) / sum(chaos.values()) < 0.28, chaos
    assert not any(code >= 500 or code < 0 for code in healthy), healthy


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", TEST_WINDOW).replace("$revision", ".*")
            assert "$" not in expr, f"unhandled Grafana variable in {panel['title']}: {expr}"
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    templating = dashboard["templating"]["list"]
    return queries + [(f"variable {v['name']}", v["definition"]) for v in templating]


# Panels that may legitimately be empty in this stack.
MAY_BE_EMPTY: set[str] = set()


@pytest.mark.parametrize(("title", "expr"), dashboard_queries())
def test_dashboard_query_runs(prom_stack: PromStack, title: str, expr: str) -> None:
    if expr.startswith("label_values("):
        # A Grafana function, not PromQL: check the series it reads instead.
        inner = expr[len("label_values(") : expr.rindex(",")]
        assert prom_stack.prometheus.vector(inner), f"{title}: {inner} is empty"
        return
    result = prom_stack.prometheus.vector(expr)  # raises unless the query succeeds
    if title.split(" [")[0] not in MAY_BE_EMPTY:
        assert result, f"{title}: query ran but returned nothing: {expr}"
