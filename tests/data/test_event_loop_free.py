"""SQL never runs on NiceGUI's event loop: a stuck database must not freeze other requests."""

import sqlite3
import threading
import time

import httpx

from tests.server import RunningServer


def test_probe_answers_while_a_write_waits_on_a_locked_db(server: RunningServer) -> None:
    # Another process holds the write lock, so the server's INSERT waits in busy_timeout.
    blocker = sqlite3.connect(server.db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    outcome: dict[str, float] = {}

    def post() -> None:
        started = time.monotonic()
        response = httpx.post(server.url + "/score", json={"score": 1}, timeout=30)
        outcome.update(status=response.status_code, seconds=time.monotonic() - started)

    writer = threading.Thread(target=post)
    try:
        writer.start()
        time.sleep(0.3)  # let the POST reach the database and start waiting
        assert writer.is_alive(), f"the write should still be waiting on the lock: {outcome}"
        probe_times = []
        for _ in range(5):
            started = time.monotonic()
            assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
            probe_times.append(time.monotonic() - started)
        # A blocked loop would hold every probe for the whole busy timeout (seconds).
        assert max(probe_times) < 1.0, probe_times
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        writer.join(30)
    assert outcome["seconds"] > 0.3
