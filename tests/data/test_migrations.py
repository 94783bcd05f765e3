"""Alembic: one history for SQLite and PostgreSQL. From an empty database and from every
earlier revision to head, idempotent, and in sync with the models, on both dialects."""

import sqlite3
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from drafty_bird.data import models
from drafty_bird.data.engine import make_engine, migrate, revisions, schema_is_current
from drafty_bird.data.store import ScoreStore
from tests.aio import run_async
from tests.pg import throwaway_db


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        yield engine
        engine.dispose()
        return
    with throwaway_db() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrates_an_empty_database_and_is_idempotent(engine: Engine) -> None:
    assert current(engine) is None and not schema_is_current(engine)
    migrate(engine)
    migrate(engine)
    assert current(engine) == revisions()[-1]
    assert schema_is_current(engine)


@pytest.mark.parametrize("start", revisions())
def test_migrates_from_every_earlier_revision_keeping_rows(engine: Engine, start: str) -> None:
    migrate(engine, start)
    assert current(engine) == start
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO scores (player, score, created_at, run_id) VALUES ('old', 3, :t, 'run-old')"),
            {"t": models.utcnow()},
        )
    migrate(engine)
    assert current(engine) == revisions()[-1]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT player, score, run_id FROM scores")).all() == [("old", 3, "run-old")]


def test_models_match_migrations(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        # Alembic cannot compare expression indexes (score DESC); the query-plan tests cover it.
        context = MigrationContext.configure(
            conn, opts={"include_object": lambda obj, name, *_: name != "ix_scores_rank"}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models drifted from migrations; add an Alembic revision: {diff}"


def test_top_n_uses_the_index_not_a_sort(tmp_path) -> None:
    path = tmp_path / "plan.sqlite"
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as db:
        plan = " ".join(
            r[3]
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM scores ORDER BY score DESC, created_at ASC, id ASC LIMIT 10"
            )
        )
    assert "USING INDEX ix_scores_rank" in plan
    assert "TEMP B-TREE" not in plan


def test_top_n_uses_the_index_on_postgresql() -> None:
    with throwaway_db() as url:
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            # Enough rows that a sort of the whole table would cost more than the index walk.
            conn.execute(
                text(
                    "INSERT INTO scores (player, score, created_at) "
                    "SELECT 'p', g % 500, now() - g * interval '1 second' FROM generate_series(1, 20000) g"
                )
            )
            conn.execute(text("ANALYZE scores"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text("EXPLAIN SELECT * FROM scores ORDER BY score DESC, created_at ASC, id ASC LIMIT 10")
                )
            )
        engine.dispose()
    assert "ix_scores_rank" in plan, plan


def test_rows_stored_before_verification_are_kept_unverified_and_shown(engine: Engine) -> None:
    """0001 -> 0002 (scores.verified, scores.ticks): old rows stay, verified false, on the board."""
    migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scores (player, score, created_at, run_id)"
                " VALUES ('Old', 12, :t, 'r1'), ('Older', 30, :t, NULL)"
            ),
            {"t": models.utcnow()},
        )
        conn.execute(text("INSERT INTO score_counts (score, n) VALUES (12, 1), (30, 1)"))
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT player, verified, ticks FROM scores ORDER BY id")).all()
    assert [(p, bool(v), t) for p, v, t in rows] == [("Old", False, None), ("Older", False, None)]
    store = ScoreStore(engine)
    try:
        top = run_async(store.top(10))
    finally:
        store.close()
    assert [(r.player, r.score) for r in top] == [("Older", 30), ("Old", 12)]
