"""Request ids and the JSON access log, on the real server's stdout."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from drafty_bird.ops.access import AccessLogMiddleware
from tests.aio import run_async
from tests.server import RunningServer, start_server, wait_until


def access_lines(server: RunningServer, request_id: str) -> list[dict]:
    return [line for line in server.logs() if line.get("request_id") == request_id and line.get("message") == "request"]


def test_every_response_has_a_request_id(client: httpx.Client) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) >= 16 for i in ids)


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ("", False),
    ],
)
def test_sane_incoming_request_id_is_kept(client: httpx.Client, incoming: str, kept: bool) -> None:
    echoed = client.get("/leaderboard", headers={"x-request-id": incoming}).headers["x-request-id"]
    assert (echoed == incoming) is kept
    assert len(echoed) <= 128


def test_access_log_line_shape(client: httpx.Client, server: RunningServer) -> None:
    response = client.post("/score", json={"score": 2}, headers={"x-request-id": "shape-check-1"})
    assert response.status_code == 201
    wait_until(lambda: access_lines(server, "shape-check-1"), 5, message="access log line")
    (line,) = access_lines(server, "shape-check-1")
    assert {"timestamp", "level", "message", "request_id", "method", "route", "status", "duration_ms"} <= set(line)
    assert (line["method"], line["route"], line["status"], line["level"]) == ("POST", "/score", 201, "INFO")
    assert isinstance(line["duration_ms"], (int, float))


def test_error_responses_carry_the_same_id_as_the_log(client: httpx.Client, server: RunningServer) -> None:
    response = client.post("/score", json={"score": -5}, headers={"x-request-id": "bad-input-1"})
    assert response.json()["request_id"] == "bad-input-1"
    wait_until(lambda: access_lines(server, "bad-input-1"), 5, message="access log line")
    assert access_lines(server, "bad-input-1")[0]["status"] == 422


def test_probes_and_unknown_paths_are_quiet_or_bounded(client: httpx.Client, server: RunningServer) -> None:
    client.get("/healthz", headers={"x-request-id": "probe-quiet-1"})
    client.get("/no/such/path/123", headers={"x-request-id": "unmatched-1"})
    wait_until(lambda: access_lines(server, "unmatched-1"), 5, message="access log line")
    # The server logs at info: probe lines are debug, so they are absent.
    assert access_lines(server, "probe-quiet-1") == []
    assert access_lines(server, "unmatched-1")[0]["route"] == "unmatched"


def test_unexpected_exception_is_500_json_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """A real Starlette app with the middleware where the service mounts it; the route raises on purpose."""

    async def boom(_request):
        raise RuntimeError("secret internals")

    async def call() -> httpx.Response:
        app = Starlette(routes=[Route("/boom", boom)], middleware=[Middleware(AccessLogMiddleware)])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get("/boom", headers={"x-request-id": "boom-1"})

    response = run_async(call())
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "request_id": "boom-1"}
    assert "secret internals" not in response.text
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "secret internals" in str(errors[0].exc_info[1])


def test_access_line_names_the_client_after_the_trusted_proxy(client: httpx.Client, server: RunningServer) -> None:
    # The test's 127.0.0.1 is a trusted proxy by default: its X-Forwarded-For names the client.
    client.get("/leaderboard", headers={"x-request-id": "client-addr-1", "x-forwarded-for": "203.0.113.9"})
    client.get("/leaderboard", headers={"x-request-id": "client-addr-2"})
    wait_until(lambda: access_lines(server, "client-addr-2"), 5, message="access log lines")
    assert access_lines(server, "client-addr-1")[0]["client"] == "203.0.113.9"
    assert access_lines(server, "client-addr-2")[0]["client"] == "127.0.0.1"


def test_untrusted_peer_cannot_choose_its_logged_address(tmp_path) -> None:
    with start_server(tmp_path, env={"TRUSTED_PROXIES": "10.0.0.1"}) as untrusting:
        httpx.get(
            untrusting.url + "/leaderboard",
            headers={"x-request-id": "spoof-1", "x-forwarded-for": "198.51.100.1"},
            timeout=10,
        )
        wait_until(lambda: access_lines(untrusting, "spoof-1"), 5, message="access log line")
        assert access_lines(untrusting, "spoof-1")[0]["client"] == "127.0.0.1"


def test_client_request_id_is_echoed_and_the_server_id_logged_beside_it(
    client: httpx.Client, server: RunningServer
) -> None:
    response = client.get("/leaderboard", headers={"x-request-id": "chosen-by-client-1"})
    assert response.headers["x-request-id"] == "chosen-by-client-1"  # the original contract
    own = client.get("/leaderboard").headers["x-request-id"]
    wait_until(lambda: access_lines(server, "chosen-by-client-1"), 5, message="access log line")
    (line,) = access_lines(server, "chosen-by-client-1")
    # The server's own id: a client can send another's id, this one it cannot choose.
    assert len(line["server_request_id"]) == 32 and line["server_request_id"] != "chosen-by-client-1"
    wait_until(lambda: access_lines(server, own), 5, message="access log line")
    assert "server_request_id" not in access_lines(server, own)[0], "no second id when they are the same"
