"""Shared fixtures: one real server per test module, on a fresh SQLite file."""

import httpx
import pytest

from tests.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http
