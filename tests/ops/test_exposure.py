"""What the public port shows: /metrics and the API docs are settings (off in production), and
the collector scrapes a private loopback-only metrics listener (METRICS_PORT). Real servers."""

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drafty_bird.ops.listen import EXIT_CANNOT_LISTEN
from tests.ops.prom_stack import run_prometheus
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, free_port, launch, start_server, wait_until

INTERNALS = ("/metrics", "/docs", "/redoc", "/openapi.json")


@pytest.fixture(scope="module")
def production_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    metrics_port = free_port()
    env = {"METRICS_PUBLIC": "false", "DOCS_ENABLED": "false", "METRICS_PORT": str(metrics_port)}
    with start_server(tmp_path_factory.mktemp("exposure"), env=env) as running:
        yield running, metrics_port


def test_internals_are_not_on_the_public_port(production_like: tuple[RunningServer, int]) -> None:
    server, _ = production_like
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for path in INTERNALS:
            response = http.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert "drafty_bird_" not in response.text and "swagger" not in response.text.lower()
        assert http.get("/leaderboard").status_code == 200  # the API itself is unchanged


def test_the_private_listener_serves_the_same_registry(production_like: tuple[RunningServer, int]) -> None:
    server, metrics_port = production_like
    private = f"http://127.0.0.1:{metrics_port}"
    before = value(scrape(private), "http_requests_total", route="/leaderboard", method="GET", status="200")
    for _ in range(3):
        httpx.get(server.url + "/leaderboard", timeout=10)
    samples = scrape(private)
    after = value(samples, "http_requests_total", route="/leaderboard", method="GET", status="200")
    assert after - before == 3, "the private port must count the public port's traffic"
    assert list(samples["drafty_bird_build_info"].values()) == [1.0]


def test_the_private_listener_is_loopback_only(production_like: tuple[RunningServer, int]) -> None:
    _, metrics_port = production_like
    # 127.0.0.2 reaches this host too: only a listener bound to 0.0.0.0 would answer it.
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", metrics_port), timeout=2):
        pass
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=2):
        pass


def test_local_defaults_keep_metrics_and_docs_public(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for path in INTERNALS:
            assert http.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("clash", "exit_code"),
    [("same-as-port", 2), ("busy", EXIT_CANNOT_LISTEN)],  # a settings error; a port in use, like PORT's
)
def test_an_unusable_metrics_port_stops_start_up_with_one_line(tmp_path: Path, clash: str, exit_code: int) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        metrics_port = port if clash == "same-as-port" else busy.getsockname()[1]
        server = launch(tmp_path, {"METRICS_PORT": str(metrics_port)}, port=port)
        try:
            code = server.proc.wait(30)
        finally:
            server.stop()
    lines = [line for line in server.raw_log().splitlines() if line.strip()]
    assert code == exit_code, server.raw_log()[-2000:]
    assert len(lines) == 1 and "METRICS_PORT" in lines[0], lines


def test_a_silent_connection_holds_the_private_listener_for_2_s_at_most(
    production_like: tuple[RunningServer, int],
) -> None:
    """A client that connects and says nothing is cut off, and does not hold up a scrape meanwhile."""
    _, metrics_port = production_like
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=10) as silent:
        response = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=6)
        assert response.status_code == 200 and "http_requests_total" in response.text
        assert silent.recv(1) == b""  # closed by the listener, not by us


def _raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):  # the listener closes after each answer
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"hello there\r\n\r\n", b"400"),
        (b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n", b"431"),
    ],
    ids=["post", "not-http", "huge-head"],
)
def test_the_private_listener_refuses_anything_but_a_scrape(
    production_like: tuple[RunningServer, int], request_bytes: bytes, status: bytes
) -> None:
    _, metrics_port = production_like
    answer = _raw_exchange(metrics_port, request_bytes)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == status, answer[:200]
    assert b"http_requests_total" not in answer
    # And the next scrape is served as usual.
    scraped = _raw_exchange(metrics_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert scraped.startswith(b"HTTP/1.1 200 OK\r\n") and b"http_requests_total" in scraped


def test_the_private_listener_speaks_openmetrics_when_asked(production_like: tuple[RunningServer, int]) -> None:
    _, metrics_port = production_like
    response = httpx.get(
        f"http://127.0.0.1:{metrics_port}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_a_real_prometheus_scrapes_the_private_listener(
    production_like: tuple[RunningServer, int], tmp_path: Path
) -> None:
    """What ACA's collector sidecar does: scrape localhost:METRICS_PORT. Prometheus asks for
    OpenMetrics first and keeps connections alive; the listener answers once and closes."""
    server, metrics_port = production_like
    httpx.get(server.url + "/leaderboard", timeout=10)
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    with run_prometheus(tmp_path / "prom", {"private": f"127.0.0.1:{metrics_port}"}, rules) as prom:

        def scrapes() -> list[dict]:
            # Every scrape in the last 20 s: up is 1 for each one that parsed.
            return prom.vector('count_over_time(up{job="drafty-bird"}[20s])')

        wait_until(lambda: bool(scrapes()) and float(scrapes()[0]["value"][1]) >= 3, 20, message="3 scrapes")
        (worst,) = prom.vector('min_over_time(up{job="drafty-bird"}[20s])')
        assert worst["value"][1] == "1", "a scrape of the private listener failed"
        served = prom.vector('http_requests_total{job="drafty-bird",route="/leaderboard",status="200"}')
        assert served and float(served[0]["value"][1]) >= 1, served
