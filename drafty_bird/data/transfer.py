"""`python -m drafty_bird migrate-db`: copy the leaderboard from one database to another
(SQLite to PostgreSQL for the scale-out cut-over), in batches, resumable, verified.

Rows keep their ids, so a re-run skips what is there (ON CONFLICT DO NOTHING covers both
the id and the run_id), ties keep their order, and rows without a run_id are not doubled.
score_counts is rebuilt from the copied rows at the end. The copy is verified by row
count and a SHA-256 over every row in id order, read back from both sides.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, Insert, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from drafty_bird.data.engine import PgOptions, make_engine, migrate, schema_is_current
from drafty_bird.data.models import Score, ScoreCount, as_utc

COLUMNS = tuple(col(c) for c in (Score.id, Score.player, Score.score, Score.created_at, Score.run_id, Score.writer_id))


class TransferError(Exception):
    """The copy cannot start or did not verify; the message says what to do."""


@dataclass(frozen=True)
class TransferReport:
    source_rows: int
    copied: int  # new in the target this run (0 for a re-run over a complete copy)
    target_rows: int
    checksum: str


def normalize_url(url: str) -> str:
    """postgresql:// means psycopg 3, the only PostgreSQL driver installed."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme in ("postgresql", "postgres") else url


def _batches(engine: Engine, size: int) -> Iterator[list[dict]]:
    last = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(select(*COLUMNS).where(col(Score.id) > last).order_by(col(Score.id)).limit(size)).all()
            if not rows:
                return
            last = rows[-1].id
            yield [{**row._mapping, "created_at": as_utc(row.created_at)} for row in rows]


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Score)).scalar_one())


def checksum(engine: Engine, size: int = 5000) -> str:
    """Every row, in id order, canonical text per column (times as UTC microseconds)."""
    digest = hashlib.sha256()
    for batch in _batches(engine, size):
        for r in batch:
            fields = (r["id"], r["player"], r["score"], r["created_at"].isoformat(), r["run_id"], r["writer_id"])
            digest.update(("\t".join(map(str, fields)) + "\n").encode())
    return digest.hexdigest()


def _insert_ignoring_present(target: Engine) -> Insert:
    dialect_insert = pg_insert if target.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(Score).on_conflict_do_nothing()


def _rebuild_counts_and_sequence(target: Engine) -> None:
    with target.begin() as conn:
        conn.execute(delete(ScoreCount))
        conn.execute(
            insert(ScoreCount).from_select(
                ["score", "n"], select(col(Score.score), func.count()).group_by(col(Score.score))
            )
        )
        if target.dialect.name == "postgresql":
            # Copied ids bypassed the sequence: the app's next insert must not collide with them.
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('scores', 'id'), coalesce(max(id), 0) + 1, false) FROM scores"
                )
            )


def transfer(
    source_url: str,
    target_url: str,
    *,
    resume: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] = lambda done, total: None,
    pg: PgOptions | None = None,
) -> TransferReport:
    """Copy every score from source to target; writes to the source must be frozen meanwhile.

    pg: options for a PostgreSQL end (an Entra token as password, timeouts).
    """
    pg = pg or PgOptions(statement_timeout_ms=600_000)
    source = make_engine(normalize_url(source_url), pg=pg)
    target = make_engine(normalize_url(target_url), pg=pg)
    try:
        if not schema_is_current(source):
            raise TransferError("the source is not at the newest schema: start the current release on it once")
        migrate(target)
        already = _count(target)
        if already and not resume:
            raise TransferError(f"the target already holds {already} scores: pass --resume to continue a copy")
        total = _count(source)
        done = 0
        progress(done, total)
        for batch in _batches(source, batch_size):
            with target.begin() as conn:  # one transaction per batch: an interrupted copy resumes after the last
                conn.execute(_insert_ignoring_present(target), batch)
            done += len(batch)
            progress(done, total)
        _rebuild_counts_and_sequence(target)
        target_rows = _count(target)
        if target_rows != total:
            raise TransferError(f"count mismatch: source {total} rows, target {target_rows}")
        source_sum, target_sum = checksum(source), checksum(target)
        if source_sum != target_sum:
            raise TransferError(f"checksum mismatch: source {source_sum[:16]}…, target {target_sum[:16]}…")
        return TransferReport(total, target_rows - already, target_rows, source_sum)
    finally:
        source.dispose()
        target.dispose()
