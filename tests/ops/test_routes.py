"""Route labels: answers given before routing (413, 429, chaos) keep their real route."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.server import start_server


def request_counts(http: httpx.Client) -> dict[tuple[str, str, str], float]:
    counts = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                counts[(sample.labels["route"], sample.labels["method"], sample.labels["status"])] = sample.value
    return counts


def test_refused_requests_are_labelled_with_their_route(tmp_path) -> None:
    env = {"RATE_LIMIT_SCORE": "2/minute"}
    with start_server(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        too_big = http.post(
            "/score",
            content=b'{"score": 1, "player": "' + b"a" * 20_000 + b'"}',
            headers={"content-type": "application/json", "x-request-id": "too-big-1"},
        )
        assert too_big.status_code == 413
        statuses = [http.post("/score", json={"score": 1}).status_code for _ in range(3)]
        assert statuses[-1] == 429, statuses
        http.get("/wp-admin/setup.php")
        counts = request_counts(http)
        assert counts[("/score", "POST", "413")] == 1
        assert counts[("/score", "POST", "429")] >= 1
        assert counts[("unmatched", "GET", "404")] == 1
        access = [line for line in server.logs() if line.get("request_id") == "too-big-1"]
        assert access and access[0]["route"] == "/score"
