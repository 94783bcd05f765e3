"""Storage that cannot be used: corrupt, locked, full or read-only. Never a 500, never
a crash, never a damaged or overwritten file; the state shows in /readyz and metrics.

Everything here is real: a garbage file, a lock held by another connection, a file size
limit (RLIMIT_FSIZE) on the server process, a read-only SQLite connection.
"""

import asyncio
import hashlib
import sqlite3
import sys

import httpx
import pytest

from drafty_bird.data.engine import make_engine, open_database
from drafty_bird.data.errors import StorageBusy, StorageWriteFailed
from drafty_bird.data.store import ScoreStore
from tests.aio import run_async
from tests.ops.scrape import required, scrape
from tests.scoreload import integrity
from tests.server import ROOT, launch, start_server, wait_healthy, wait_until

GARBAGE = b"this is not a database, but it is somebody's data" * 200


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def post(http: httpx.Client, run_id: str, score: int = 7) -> httpx.Response:
    return http.post("/score", json={"player": "t", "score": score, "run_id": run_id})


def test_corrupt_file_under_fail_keeps_the_process_up_but_not_ready(tmp_path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    before = digest(db)
    with start_server(tmp_path, {"STORAGE_FALLBACK": "fail", "STORAGE_REOPEN_S": "0.5"}, db_path=db) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "corrupt" in ready.json()["reason"], ready.text
        refused = post(http, "corrupt-1")
        assert refused.status_code == 503 and refused.headers["retry-after"], refused.text
        assert http.get("/leaderboard").status_code == 503
        assert required(scrape(server.url), "drafty_bird_storage_ready") == 0
        # The retry loop keeps checking, read-only: still not ready, file untouched.
        wait_until(lambda: server.raw_log().count("storage unusable") >= 3, 10, message="start-up retries")
        assert http.get("/readyz").status_code == 503
    assert digest(db) == before, "the corrupt file was modified"
    lines = [rec for rec in server.logs() if rec.get("message") == "storage unusable: not ready until fixed"]
    assert lines and "corrupt" in lines[0]["error"]


def test_corrupt_file_under_memory_serves_from_memory_and_shows_degraded(tmp_path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    before = digest(db)
    with start_server(tmp_path, {"STORAGE_FALLBACK": "memory"}, db_path=db) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["storage_mode"] == "memory" and ready.json()["degraded"] is True
        assert post(http, "mem-1").status_code == 201
        assert http.get("/leaderboard").json()["leaderboard"][0]["score"] == 7
        assert required(scrape(server.url), "drafty_bird_storage_degraded") == 1
    assert digest(db) == before


def test_locked_file_at_start_up_is_not_ready_then_recovers(tmp_path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    db.parent.mkdir()
    open_database(f"sqlite:///{db}").dispose()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    env = {"SQLITE_BUSY_TIMEOUT_MS": "200", "STORAGE_REOPEN_S": "0.5"}
    server = launch(tmp_path, env, db_path=db)
    try:
        wait_healthy(server)
        http = httpx.Client(base_url=server.url, timeout=10)
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "locked" in ready.json()["reason"], ready.text
        blocker.execute("ROLLBACK")
        wait_until(lambda: http.get("/readyz").status_code == 200, 15, message="ready once the lock clears")
        assert http.get("/readyz").json()["writer"] is True
        assert post(http, "after-lock").status_code == 201
    finally:
        blocker.close()
        server.stop()


def test_a_lock_held_through_every_retry_answers_503_not_500(tmp_path) -> None:
    env = {"SQLITE_BUSY_TIMEOUT_MS": "200"}
    with start_server(tmp_path, env) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        blocker = sqlite3.connect(server.db_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            refused = post(http, "busy-1")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1" and "locked" in refused.json()["error"]
        assert post(http, "busy-1").status_code == 201  # the browser's retry stores it once
        assert post(http, "busy-1").status_code == 200


def _fsize_limited(limit: int) -> list[str]:
    """Run the server with RLIMIT_FSIZE: no file it writes may grow beyond `limit` bytes."""
    code = (
        "import resource, runpy, sys;"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}));"
        f"sys.argv = ['main.py']; runpy.run_path({str(ROOT / 'main.py')!r}, run_name='__main__')"
    )
    return [sys.executable, "-c", code]


@pytest.mark.slow
def test_disk_full_answers_503_keeps_serving_reads_and_damages_nothing(tmp_path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    db.parent.mkdir()
    open_database(f"sqlite:///{db}").dispose()
    with sqlite3.connect(db) as conn:  # ~1 MB of real rows, packed, so new rows soon need a new page
        conn.executemany(
            "INSERT INTO scores (player, score, created_at, run_id) VALUES ('seed', ?, '2026-01-01 00:00:00', ?)",
            [(i % 300, f"seed-{i}") for i in range(12000)],
        )
        conn.execute("INSERT INTO score_counts (score, n) SELECT score, count(*) FROM scores GROUP BY score")
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM")
    limit = db.stat().st_size

    server = launch(tmp_path, {"RATE_LIMIT_SCORE": "off"}, db_path=db, command=_fsize_limited(limit))
    try:
        wait_healthy(server)
        http = httpx.Client(base_url=server.url, timeout=10)
        acked, full = [], None
        for i in range(3000):
            response = post(http, f"fill-{i}", score=i % 300)
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                full = response
                break
            acked.append(f"fill-{i}")
        assert full is not None, f"the file never hit the {limit}-byte limit"
        assert full.headers["retry-after"] == "10" and "write failed" in full.json()["error"], full.text
        # Degraded, not dead: reads and probes answer, the state is visible.
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["degraded"] is True, ready.text
        assert required(scrape(server.url), "drafty_bird_storage_degraded") == 1
        assert http.get("/leaderboard").status_code == 200
        assert post(http, "fill-again").status_code == 503
        assert server.proc.poll() is None
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert integrity(db) == ["ok"]
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT run_id FROM scores WHERE run_id LIKE 'fill-%'")}
        rows = conn.execute("SELECT count(*) FROM scores").fetchone()[0]
        tally = conn.execute("SELECT sum(n) FROM score_counts").fetchone()[0]
    assert stored == set(acked) and rows == tally


def test_read_only_file_refuses_writes_and_keeps_reads(tmp_path) -> None:
    """A read-only open (SQLite's mode=ro) gives the real SQLITE_READONLY a read-only mount gives."""
    db = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{db}").dispose()
    store = ScoreStore(make_engine(f"sqlite:///file:{db}?mode=ro&uri=true"))

    async def scenario() -> None:
        with pytest.raises(StorageWriteFailed, match="readonly"):
            await store.add("ro", 5, "ro-1")
        assert store.degraded and "readonly" in store.degraded
        assert await store.top(5) == []
        await store.ping()

    try:
        run_async(scenario())
    finally:
        store.close()
    assert integrity(db) == ["ok"]


def test_busy_is_retried_inside_the_store_before_giving_up(tmp_path) -> None:
    db = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{db}").dispose()
    store = ScoreStore(make_engine(f"sqlite:///{db}", busy_timeout_ms=100))
    blocker = sqlite3.connect(db, isolation_level=None)

    async def scenario() -> None:
        blocker.execute("BEGIN EXCLUSIVE")
        loop = asyncio.get_running_loop()
        # Released after ~0.25 s: later than one busy timeout, sooner than all the retries.
        loop.call_later(0.25, blocker.execute, "ROLLBACK")
        stored = await store.add("retry", 3, "retry-1")
        assert not stored.duplicate
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StorageBusy):
                await store.add("retry", 3, "retry-2")
        finally:
            blocker.execute("ROLLBACK")

    try:
        run_async(scenario())
    finally:
        store.close()
        blocker.close()
