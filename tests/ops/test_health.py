"""Probes: /healthz is the process only, /readyz asks storage."""

import sqlite3

import httpx

from tests.server import start_server


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_when_storage_answers(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["storage_mode"] == "sqlite"


def test_readyz_turns_503_when_the_db_file_is_unreadable(tmp_path) -> None:
    with start_server(tmp_path) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/readyz").status_code == 200
        # Overwrite the file with garbage: the store can no longer answer.
        server.db_path.write_bytes(b"this is not a database" * 100)
        response = http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "not_ready"
        assert response.json()["reason"].startswith("storage")
        assert http.get("/healthz").status_code == 200


def test_db_file_is_created_and_migrated(server) -> None:
    with sqlite3.connect(server.db_path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"scores", "score_counts", "alembic_version"} <= tables
