"""`python -m drafty_bird migrate-db`: SQLite to PostgreSQL, run as the operator would
(a subprocess), into a throwaway database; refusal, resume and verification included."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import col

from drafty_bird.data.engine import make_engine, migrate
from drafty_bird.data.models import Score
from tests.pg import query, throwaway_db
from tests.server import ROOT

ROWS = 2_500


def migrate_db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drafty_bird", "migrate-db", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def source(tmp_path) -> str:
    """A SQLite leaderboard with ties, rows without run_id, non-ASCII names and sub-ms times."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "player": ["Ada", "Zoë", "李雷", "Guest"][i % 4],
            "score": (i * 37) % 120,
            "created_at": t0 + timedelta(seconds=i, microseconds=i % 997),
            "run_id": None if i % 5 == 0 else f"run-{i}",
            "writer_id": "w1",
        }
        for i in range(ROWS)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Score), rows)
        conn.exec_driver_sql("INSERT INTO score_counts SELECT score, count(*) FROM scores GROUP BY score")
    engine.dispose()
    return url


def test_copies_verifies_refuses_a_non_empty_target_and_resumes(source: str) -> None:
    with throwaway_db() as target:
        libpq = target.replace("postgresql+psycopg://", "postgresql://")  # the operator's spelling
        first = migrate_db("--from", source, "--to", libpq, "--batch", "500")
        assert first.returncode == 0, first.stderr
        assert f"{ROWS:,}/{ROWS:,} rows (100%)" in first.stderr  # the progress bar reached the end
        assert f"{ROWS:,} rows verified" in first.stderr
        assert query(target, "SELECT count(*), count(DISTINCT id) FROM scores") == [(ROWS, ROWS)]
        assert dict(query(target, "SELECT score, n FROM score_counts")) == dict(
            query(target, "SELECT score, count(*) FROM scores GROUP BY score")
        )

        again = migrate_db("--from", source, "--to", libpq)
        assert again.returncode == 1 and "--resume" in again.stderr
        assert query(target, "SELECT count(*) FROM scores") == [(ROWS,)]

        # An interrupted copy: the last batches never arrived. --resume completes it, doubling nothing
        # (rows without a run_id included: ids are kept).
        query(target, "DELETE FROM scores WHERE id > 1200")
        resumed = migrate_db("--from", source, "--to", libpq, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert f"copied {ROWS - 1200:,} new rows" in resumed.stderr
        assert query(target, "SELECT count(*), count(DISTINCT id) FROM scores") == [(ROWS, ROWS)]

        # The app's next insert gets a fresh id (the sequence was moved past the copied ids).
        engine = make_engine(target)
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(Score).values(player="new", score=1, created_at=datetime.now(UTC)).returning(col(Score.id))
            ).scalar_one()
        engine.dispose()
        assert new_id is not None and new_id > ROWS

        # Verification catches a target that differs from the source.
        query(target, "DELETE FROM scores WHERE player = 'new'")
        query(target, "UPDATE scores SET player = 'Mallory' WHERE id = 7")
        tampered = migrate_db("--from", source, "--to", libpq, "--resume")
        assert tampered.returncode == 1 and "checksum mismatch" in tampered.stderr


def test_the_way_back_for_a_rollback_postgresql_to_a_new_sqlite_file(source: str, tmp_path) -> None:
    with throwaway_db() as target:
        assert migrate_db("--from", source, "--to", target).returncode == 0
        back = f"sqlite:///{tmp_path / 'rollback.sqlite'}"
        result = migrate_db("--from", target, "--to", back)
        assert result.returncode == 0, result.stderr
        assert f"{ROWS:,} rows verified" in result.stderr


def test_an_unreachable_target_is_one_clear_line(source: str) -> None:
    result = migrate_db("--from", source, "--to", "postgresql://postgres@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "migrate-db:" in result.stderr
