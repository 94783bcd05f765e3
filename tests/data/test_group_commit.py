"""Group commit on real SQLite files: concurrent scores share one transaction, every
caller gets what one-by-one commits would have told it, and a batch that cannot commit
fails every caller in it and stores nothing.
"""

import asyncio
import random
import sqlite3
import threading

import httpx
import pytest

from drafty_bird.data.engine import make_engine, open_database
from drafty_bird.data.errors import StorageBusy, StorageWriteFailed
from drafty_bird.data.store import ScoreStore, StoredScore
from tests.aio import run_async
from tests.scoreload import integrity
from tests.server import start_server


def new_store(path, **engine_kwargs) -> tuple[ScoreStore, list[int]]:
    store = ScoreStore(make_engine(f"sqlite:///{path}", **engine_kwargs))
    batches: list[int] = []
    store.on_batch = batches.append
    return store, batches


def items(seed: int, n: int) -> list[tuple[str, int, str | None]]:
    """Ties, retries of earlier runs (also within one batch) and runs without an id."""
    rng = random.Random(seed)
    out: list[tuple[str, int, str | None]] = []
    for i in range(n):
        roll = rng.random()
        if out and roll < 0.2:
            out.append(rng.choice(out))  # a retry: same run_id (or a second id-less run)
        else:
            out.append((f"p{i}", rng.choice([0, 5, 5, 9, 12, 12, 40, 41]), None if roll > 0.9 else f"run-{seed}-{i}"))
    return out


def summary(result: StoredScore) -> tuple:
    return (result.row.player, result.row.score, result.duplicate, result.rank, result.total, result.high_score)


def test_concurrent_scores_commit_together_and_answer_as_if_one_by_one(tmp_path) -> None:
    grouped_path, serial_path = tmp_path / "grouped.sqlite", tmp_path / "serial.sqlite"
    for path in (grouped_path, serial_path):
        open_database(f"sqlite:///{path}").dispose()
    grouped, batches = new_store(grouped_path)
    serial, _ = new_store(serial_path)
    serial.group_commit = False  # the reference: one transaction per score, in order
    waves = [items(seed, 40) for seed in range(4)]

    async def scenario() -> tuple[list[tuple], list[tuple]]:
        got, want = [], []
        for wave in waves:
            results = await asyncio.gather(*(grouped.add(*item) for item in wave))
            got += [summary(r) for r in results]
            for item in wave:
                want.append(summary(await serial.add(*item)))
        return got, want

    try:
        got, want = run_async(scenario())
    finally:
        grouped.close()
        serial.close()
    assert got == want
    assert max(batches) > 1, batches  # they really were batched
    assert sum(batches) == sum(len(w) for w in waves)
    with sqlite3.connect(grouped_path) as db, sqlite3.connect(serial_path) as ref:
        query = "SELECT player, score, run_id FROM scores ORDER BY id"
        assert db.execute(query).fetchall() == ref.execute(query).fetchall()
        counts = "SELECT score, n FROM score_counts ORDER BY score"
        assert db.execute(counts).fetchall() == ref.execute(counts).fetchall()
    assert integrity(grouped_path) == ["ok"]


def test_a_batch_that_cannot_commit_fails_every_caller_and_stores_nothing(tmp_path) -> None:
    path = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    store, batches = new_store(path, busy_timeout_ms=100)
    blocker = sqlite3.connect(path, isolation_level=None)
    wave = [("t", i, f"locked-{i}") for i in range(12)]

    async def scenario() -> list[object]:
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            return await asyncio.gather(*(store.add(*item) for item in wave), return_exceptions=True)
        finally:
            blocker.execute("ROLLBACK")

    async def retry() -> list[StoredScore]:
        return await asyncio.gather(*(store.add(*item) for item in wave))

    try:
        outcomes = run_async(scenario())
        assert all(isinstance(o, StorageBusy) for o in outcomes), outcomes
        assert batches == []  # nothing was committed
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM scores").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM score_counts").fetchone() == (0,)
        # The browser retries with the same run_ids: each lands once, in one batch.
        stored = run_async(retry())
        assert [s.duplicate for s in stored] == [False] * len(wave)
        assert batches == [len(wave)]
    finally:
        store.close()
        blocker.close()


def test_a_read_only_file_fails_the_whole_batch(tmp_path) -> None:
    path = tmp_path / "db.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    store = ScoreStore(make_engine(f"sqlite:///file:{path}?mode=ro&uri=true"))

    async def scenario() -> list[object]:
        return await asyncio.gather(*(store.add("ro", i, f"ro-{i}") for i in range(6)), return_exceptions=True)

    try:
        outcomes = run_async(scenario())
    finally:
        store.close()
    assert all(isinstance(o, StorageWriteFailed) for o in outcomes), outcomes


@pytest.mark.timeout(120)
def test_concurrent_posts_on_a_locked_file_all_answer_503_and_none_is_stored(tmp_path) -> None:
    with start_server(tmp_path, {"SQLITE_BUSY_TIMEOUT_MS": "300"}) as server:
        blocker = sqlite3.connect(server.db_path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        responses: list[httpx.Response] = []

        def post(i: int) -> None:
            body = {"player": "t", "score": i, "run_id": f"busy-{i}"}
            responses.append(httpx.post(server.url + "/score", json=body, timeout=30))

        threads = [threading.Thread(target=post, args=(i,)) for i in range(10)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert len(responses) == 10
        assert {r.status_code for r in responses} == {503}, [r.text for r in responses]
        assert {r.headers["retry-after"] for r in responses} == {"1"}
        assert all(set(r.json()) == {"error", "request_id"} for r in responses)
        with sqlite3.connect(server.db_path) as db:
            assert db.execute("SELECT count(*) FROM scores WHERE run_id LIKE 'busy-%'").fetchone() == (0,)
        retried = httpx.post(server.url + "/score", json={"player": "t", "score": 3, "run_id": "busy-3"}, timeout=10)
        assert retried.status_code == 201, retried.text
