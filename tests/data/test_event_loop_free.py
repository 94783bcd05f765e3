"""SQL never runs on NiceGUI's event loop: a stuck database must not freeze other requests.

The test holds SQLite's write lock itself for as long as the server's write is in flight,
so the write is stuck for a time the test controls (every busy-timeout retry), and probes
/healthz the whole time. No sleep decides when the write "should" be waiting: the lock
is released only once the write has given up.
"""

import sqlite3
import threading
import time

import httpx

from tests.server import start_server

BUSY_TIMEOUT_MS = 2000
# A stalled loop holds a probe until the write gives up (3 busy waits, ~6 s); a free one
# answers in milliseconds. The limit leaves room for a loaded 2-core box.
PROBE_LIMIT_S = 1.5


def test_probes_answer_while_a_write_is_stuck_on_a_locked_db(tmp_path) -> None:
    env = {"SQLITE_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS)}
    with start_server(tmp_path, env) as server:
        # Another process holds the write lock, so the server's INSERT waits in busy_timeout.
        blocker = sqlite3.connect(server.db_path, isolation_level=None, timeout=0)
        blocker.execute("BEGIN EXCLUSIVE")
        answered: list[tuple[httpx.Response, float]] = []

        def post() -> None:
            started = time.monotonic()
            response = httpx.post(server.url + "/score", json={"score": 1, "run_id": "stuck-1"}, timeout=60)
            answered.append((response, time.monotonic() - started))

        writer = threading.Thread(target=post)
        probes: list[tuple[int, float]] = []
        try:
            writer.start()
            deadline = time.monotonic() + 60
            while writer.is_alive() and time.monotonic() < deadline:
                started = time.monotonic()
                status = httpx.get(server.url + "/healthz", timeout=30).status_code
                probes.append((status, time.monotonic() - started))
                writer.join(0.05)  # paces the probes; returns early once the write is answered
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            writer.join(30)

        # The write really sat on the lock through its retries, then was refused cleanly.
        assert answered, "the write got no answer"
        response, waited = answered[0]
        assert response.status_code == 503, response.text
        assert "database is locked" in response.json()["error"], response.text
        assert waited >= BUSY_TIMEOUT_MS / 1000, waited
        # Meanwhile every probe was answered, quickly, many times over.
        assert probes and all(status == 200 for status, _ in probes), probes
        slowest = max(seconds for _, seconds in probes)
        assert slowest < PROBE_LIMIT_S, f"slowest /healthz {slowest:.2f}s while the write waited {waited:.2f}s"
        assert len(probes) >= 10, f"too few probes while the write was stuck: {probes}"
        # The lock gone, the same run stores (nothing was half-written by the refused attempt).
        retry = httpx.post(server.url + "/score", json={"score": 1, "run_id": "stuck-1"}, timeout=10)
        assert retry.status_code == 201, retry.text
