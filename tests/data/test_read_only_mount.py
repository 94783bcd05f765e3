"""A data directory that turns read-only under a running server, for real.

While the server serves, a read-only bind mount of the data directory is stacked on
top of it: every new file the server creates there (SQLite's rollback journal, at the
start of each write) fails with EROFS, as on a share that went read-only. A plain
`remount,ro` is refused while the DB file is open for writing, hence the stack.
Needs root and mount(8)
(CI runs as root on the same kind of machine); without them the test fails with a
clear message rather than skipping. tests/data/test_storage_failures.py covers the
same error at the store boundary (SQLite mode=ro).
"""

import sqlite3
import subprocess

import httpx
import pytest

from tests.server import start_server, wait_until


def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"this test needs root and mount(8) to make a real read-only directory: {result.stderr.strip()}")


def test_read_only_data_dir_answers_503_keeps_reads_and_recovers(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    read_only = False
    try:
        with (
            start_server(tmp_path, db_path=data / "db.sqlite") as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            assert http.post("/score", json={"player": "before", "score": 7}).status_code == 201
            mount("--bind", str(data), str(data))
            read_only = True
            mount("-o", "remount,bind,ro", str(data))

            refused = http.post("/score", json={"player": "during", "score": 9, "run_id": "ro-run-1"})
            assert refused.status_code in (503, 507), refused.text
            assert int(refused.headers["retry-after"]) > 0
            assert set(refused.json()) == {"error", "request_id"}
            board = http.get("/leaderboard").json()["leaderboard"]
            assert [e["player"] for e in board] == ["before"]
            assert http.get("/healthz").status_code == 200

            subprocess.run(["umount", str(data)], check=True)
            read_only = False
            # The browser retries with the same run_id: once the share is writable it lands once.
            wait_until(
                lambda: (
                    http.post("/score", json={"player": "during", "score": 9, "run_id": "ro-run-1"}).status_code
                    in (200, 201)
                ),
                30,
                interval=0.5,
                message="the write to succeed after the remount",
            )
            assert http.get("/readyz").status_code == 200
    finally:
        if read_only:
            subprocess.run(["umount", str(data)], capture_output=True)
    with sqlite3.connect(data / "db.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT player FROM scores ORDER BY id").fetchall() == [("before",), ("during",)]
