"""Alembic: from an empty file to head, idempotent, and in sync with the models."""

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from drafty_bird.data import models  # noqa: F401 (registers the tables on SQLModel.metadata)
from drafty_bird.data.engine import make_engine, migrate


def test_migrates_an_empty_file_and_is_idempotent(tmp_path) -> None:
    path = tmp_path / "empty.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    migrate(engine)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "ix_scores_rank" in indexes


def test_models_match_migrations(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with engine.connect() as conn:
        # Alembic cannot compare expression indexes (score DESC); the query-plan test covers it.
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
