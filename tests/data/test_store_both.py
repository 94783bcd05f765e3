"""The store's contract on both databases (the same tests on a SQLite file and on
PostgreSQL): idempotent run_ids, competition ranks, totals, top-N order, and a slow
PostgreSQL statement cut off by DB_STATEMENT_TIMEOUT_MS as a retryable refusal."""

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from drafty_bird.data.engine import PgOptions
from drafty_bird.data.errors import StorageBusy
from drafty_bird.data.models import as_utc
from drafty_bird.data.store import MAX_RUN_LOOKUP, ScoreStore, open_store
from tests.aio import run_async
from tests.pg import throwaway_db


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[ScoreStore]:
    if request.param == "sqlite":
        opened, mode = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", fallback="fail")
        assert mode == "sqlite"
        yield opened
        opened.close()
        return
    with throwaway_db() as url:
        opened, mode = open_store(url, fallback="fail")
        assert mode == "postgresql"
        yield opened
        opened.close()


def run(coro):
    """asyncio.run on its own thread (Playwright's sync API may hold a loop on this one); re-raises."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = run_async(coro)
        except BaseException as exc:  # noqa: BLE001 (re-raised on the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_run_ids_store_once_and_ranks_are_competition_ranks(store: ScoreStore) -> None:
    async def scenario() -> list:
        out = []
        for player, score, run_id in [("a", 10, "r1"), ("b", 30, "r2"), ("c", 20, None), ("d", 30, "r4")]:
            out.append(await store.add(player, score, run_id))
        out.append(await store.add("imposter", 99, "r2"))  # a retry of r2: the first row wins
        out.append(await store.add("e", 5, None))
        return out

    results = run(scenario())
    assert [(r.rank, r.total, r.duplicate) for r in results] == [
        (1, 1, False),
        (1, 2, False),
        (2, 3, False),
        (1, 4, False),
        (1, 4, True),
        (5, 5, False),
    ]
    assert results[4].row.player == "b" and results[4].row.score == 30
    assert results[-1].high_score == 30
    top = run(store.top(10))
    assert [(r.player, r.score) for r in top] == [("b", 30), ("d", 30), ("c", 20), ("a", 10), ("e", 5)]
    assert run(store.high_score()) == 30


def test_runs_are_looked_up_by_run_id_with_the_rank_and_total_post_score_gave(store: ScoreStore) -> None:
    """What a page highlights (ui/page_events.py): the stored row, never the page's copy."""

    async def scenario() -> tuple[list, list]:
        added = [await store.add(p, s, r) for p, s, r in [("a", 10, "r1"), ("b", 30, "r2"), ("c", 10, "r3")]]
        await store.add("imposter", 99, "r2")  # a retry: the stored row stays b's 30
        return added, await store.runs(["r3", "nope", "r2", "r1", "r3"])

    added, found = run(scenario())
    assert [(r.run_id, r.player, r.score, r.rank, r.total) for r in found] == [
        ("r3", "c", 10, 2, 3),  # tied with r1: a competition rank, as POST /score says
        ("r2", "b", 30, 1, 3),
        ("r1", "a", 10, 2, 3),
    ]
    assert [as_utc(r.created_at) for r in found] == [as_utc(added[i].row.created_at) for i in (2, 1, 0)]
    assert run(store.runs([])) == []
    assert run(store.runs(["nope"])) == []
    with pytest.raises(ValueError, match="at most"):
        run(store.runs([f"r{i}" for i in range(MAX_RUN_LOOKUP + 1)]))


def test_a_statement_over_the_timeout_is_a_retryable_refusal() -> None:
    with throwaway_db() as url:
        store, _ = open_store(url, fallback="fail", pg=PgOptions(statement_timeout_ms=300))
        try:
            run(store.add("a", 7, "first"))
            # Another session holds the score_counts row for 7: the next upsert waits on its lock.
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as blocker:
                blocker.execute("SELECT * FROM score_counts WHERE score = 7 FOR UPDATE")
                started = time.monotonic()
                with pytest.raises(StorageBusy) as refused:
                    run(store.add("b", 7, "second"))
                elapsed = time.monotonic() - started
                blocker.rollback()
            assert refused.value.retry_after_s == 1
            assert elapsed < 5, f"took {elapsed:.1f}s: the statement timeout did not cut it off"
            # Rolled back whole: the retry stores it once, and the counters agree.
            assert run(store.add("b", 7, "second")).total == 2
        finally:
            store.close()
