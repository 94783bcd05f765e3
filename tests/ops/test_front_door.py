"""FRONT_DOOR_ID: the real server refuses HTTP and WebSocket requests that did not come through
our Front Door profile (X-Azure-FDID), and still answers ACA's probes and the sidecar's scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.server import RunningServer, start_server

FDID = "0f3e2b6a-9c1d-4e7f-8a5b-2d4c6e8f1a3b"
SOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("fd"), env={"FRONT_DOOR_ID": FDID.upper()}) as running:
        yield running


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + SOCKET


@pytest.mark.parametrize("path", ["/", "/leaderboard", "/openapi.json"])
def test_http_without_or_with_a_wrong_id_is_refused(server: RunningServer, path: str) -> None:
    for headers in ({}, {"X-Azure-FDID": "11111111-2222-3333-4444-555555555555"}, {"X-Azure-FDID": ""}):
        response = httpx.get(server.url + path, headers=headers, timeout=10)
        assert response.status_code == 403, (path, headers, response.status_code)
        assert response.json()["error"] == "forbidden"


def test_a_write_without_the_id_changes_nothing(server: RunningServer) -> None:
    before = server.rows("SELECT COUNT(*) FROM scores")
    response = httpx.post(server.url + "/score", json={"name": "x", "score": 1}, timeout=10)
    assert response.status_code == 403
    assert server.rows("SELECT COUNT(*) FROM scores") == before


def test_http_with_our_id_passes_case_insensitively(server: RunningServer) -> None:
    for value in (FDID, FDID.upper()):
        response = httpx.get(server.url + "/leaderboard", headers={"X-Azure-FDID": value}, timeout=10)
        assert response.status_code == 200, response.text
    page = httpx.get(server.url + "/", headers={"X-Azure-FDID": FDID}, timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_two_id_headers_are_refused(server: RunningServer) -> None:
    headers = [("X-Azure-FDID", FDID), ("X-Azure-FDID", "11111111-2222-3333-4444-555555555555")]
    assert httpx.get(server.url + "/leaderboard", headers=headers, timeout=10).status_code == 403


def test_probes_answer_without_the_id(server: RunningServer) -> None:
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200


def test_metrics_answer_only_over_loopback(server: RunningServer) -> None:
    # The test client is loopback, as the sidecar is; from elsewhere /metrics needs the id.
    assert httpx.get(server.url + "/metrics", timeout=10).status_code == 200


def test_websocket_upgrade_without_the_id_gets_403(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server), open_timeout=10)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as wrong:
        connect(ws_url(server), open_timeout=10, additional_headers={"X-Azure-FDID": "nope"})
    assert wrong.value.response.status_code == 403


def test_websocket_upgrade_with_the_id_opens_the_socket(server: RunningServer) -> None:
    with connect(ws_url(server), open_timeout=10, additional_headers={"X-Azure-FDID": FDID}) as ws:
        opening = ws.recv(timeout=10)
    # engine.io's open packet ("0{...sid...}") proves the upgrade reached socket.io.
    assert isinstance(opening, str) and opening.startswith("0{") and '"sid"' in opening


def test_without_the_setting_nothing_is_checked(tmp_path: Path) -> None:
    with start_server(tmp_path) as plain:
        assert httpx.get(plain.url + "/leaderboard", timeout=10).status_code == 200
        with connect(ws_url(plain), open_timeout=10) as ws:
            opening = ws.recv(timeout=10)
        assert isinstance(opening, str) and opening.startswith("0{")
