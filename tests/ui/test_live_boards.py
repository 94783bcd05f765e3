"""The live leaderboard fan-out: one DB read per change, whatever the number of open pages.

Real service, real store on a real SQLite file; the pages are stand-ins that record what
they are shown (a browser test covers the real panel: test_game_e2e.py).
"""

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import event

from drafty_bird.data.engine import make_engine, migrate
from drafty_bird.data.models import ScoreCreate
from drafty_bird.data.store import ScoreStore
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ui.board import LiveBoards
from tests.aio import run_async


class Page:
    """A board stand-in: what LiveBoards calls on each open page."""

    is_deleted = False

    def __init__(self, built_version: int = 0) -> None:
        self.built_version = built_version
        self.followed: list[dict] = []
        self.updates = 0

    def follow(self, top: dict) -> None:
        self.followed.append(top)

    def resend(self) -> None:
        self.updates += 1


def test_one_query_per_change_fanned_out_to_every_page(tmp_path: Path) -> None:
    db_path = tmp_path / "db.sqlite"
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    top_queries: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args) -> None:
        if (
            statement.lstrip().upper().startswith("SELECT")
            and "ORDER BY" in statement.upper()
            and "LIMIT" in statement.upper()
        ):
            top_queries.append(statement)

    store = ScoreStore(engine)
    service = LeaderboardService(store)
    emitted: list[tuple[dict, list[str]]] = []
    # coalescing has its own test; the emitter records instead of writing to sockets
    live = LiveBoards(service, interval=0, emit=lambda payload, ids: emitted.append((payload, ids)))
    stand_ins = {f"client-{i}": Page() for i in range(40)}
    live.boards.update(stand_ins)  # type: ignore[arg-type]  # LiveBoards only calls follow()
    pages = list(stand_ins.values())

    async def scenario() -> None:
        result = await service.submit(ScoreCreate(player="Ada", score=5, run_id="run-1"))
        assert len(top_queries) == 1, "one top-10 read for 40 pages"
        # createdAt as the file holds it, in the client's toISOString() form, and as the API answered.
        with sqlite3.connect(db_path) as db:
            (raw,) = db.execute("SELECT created_at FROM scores WHERE run_id = 'run-1'").fetchone()
        stored = datetime.fromisoformat(raw)
        created_at = f"{stored:%Y-%m-%dT%H:%M:%S}.{stored.microsecond // 1000:03d}Z"
        assert result.stored.model_dump(mode="json")["createdAt"] == created_at
        expected = {
            "player": "Ada",
            "score": 5,
            "createdAt": created_at,
            "key": f"0-{created_at}",
            "rank": 1,
            "tied": False,
        }
        assert emitted == [({"v": 1, "rows": [expected]}, list(stand_ins))], "ONE emit for the 40 pages"
        assert all(p.followed == [emitted[0][0]] for p in pages), pages[0].followed
        assert len({id(p.followed[0]) for p in pages}) == 1, "serialized once, shared by every page"

        await service.submit(ScoreCreate(player="Ada", score=5, run_id="run-1"))  # a retry: nothing new
        for i in range(10):
            await service.submit(ScoreCreate(player=f"P{i}", score=50 + i, run_id=f"hi-{i}"))
        before = len(top_queries)
        await service.submit(ScoreCreate(player="Low", score=1, run_id="low"))  # not in the top 10
        assert len(top_queries) == before

    # Its own thread: Playwright's sync API may hold an event loop on the main thread.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_async(scenario())
        except BaseException as exc:  # noqa: BLE001 (re-raised below, on the test's thread)
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    store.close()
    if errors:
        raise errors[0]
    assert not worker.is_alive(), "scenario hung"
    assert len(emitted) == 11, "1 + 10 changes, no broadcast for the retry or the low score"
    assert [payload["v"] for payload, _ in emitted] == list(range(1, 12))
    assert all(ids == list(stand_ins) for _, ids in emitted)
    assert all(len(p.followed) == 11 for p in pages)
    assert [r["score"] for r in emitted[-1][0]["rows"]] == list(range(59, 49, -1))


class Service:
    """Only what LiveBoards needs of the service: one subscription."""

    def subscribe(self, callback) -> None:
        self.changed = callback


def test_a_page_whose_socket_joins_after_a_push_gets_the_latest_alone() -> None:
    emitted: list[tuple[dict, list[str]]] = []
    service = Service()
    live = LiveBoards(service, interval=0, emit=lambda payload, ids: emitted.append((payload, ids)))  # type: ignore[arg-type]
    early, late = Page(built_version=0), Page(built_version=1)
    live.boards.update({"early": early, "late": late})  # type: ignore[dict-item]
    service.changed([])  # push 1
    assert emitted == [({"v": 1, "rows": []}, ["early", "late"])]
    assert early.followed == late.followed == [{"v": 1, "rows": []}]
    live._catch_up(early)  # type: ignore[arg-type]  # built at 0: may have missed push 1
    live._catch_up(late)  # type: ignore[arg-type]  # built at 1: its HTML had it
    assert (early.updates, late.updates) == (1, 0)
