"""Route labels: answers given before routing (413, 429, chaos) keep their real route."""

import httpx

from tests.ops.scrape import required, scrape, value
from tests.server import start_server, wait_until


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
        # Pages and unknown paths pass NiceGUI's BaseHTTPMiddleware, which can send the answer
        # before the metrics layer inside it has counted it; /metrics itself takes the fast path.
        counted = ("method", "GET"), ("route", "unmatched"), ("status", "404")  # sorted, as scrape() keys them
        wait_until(lambda: counted in scrape(server.url).get("http_requests_total", {}), 5, message="the 404 counted")
        samples = scrape(server.url)
        assert required(samples, "http_requests_total", route="/score", method="POST", status="413") == 1
        assert value(samples, "http_requests_total", route="/score", method="POST", status="429") >= 1
        assert required(samples, "http_requests_total", route="unmatched", method="GET", status="404") == 1
        access = [line for line in server.logs() if line.get("request_id") == "too-big-1"]
        assert access and access[0]["route"] == "/score"


def test_paths_answered_before_routing_follow_routes_added_later() -> None:
    """The known paths are gathered once per app, and again when its routes change."""
    from fastapi import FastAPI

    from drafty_bird.ops.routes import UNMATCHED, route_label

    app = FastAPI()
    app.get("/healthz")(lambda: None)

    def label(path: str) -> str:
        return route_label({"type": "http", "app": app}, path)

    assert (label("/healthz"), label("/late"), label("/healthz/x")) == ("/healthz", UNMATCHED, UNMATCHED)
    app.get("/late")(lambda: None)
    assert label("/late") == "/late"
    assert route_label({"type": "http", "app": FastAPI()}, "/healthz") == UNMATCHED  # another app, its own paths
