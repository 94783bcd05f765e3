"""Every leaderboard query, and the threads they run on.

SQLite calls block, and NiceGUI serves every open page from one event loop, so each
public method here is async and runs its SQL on a worker thread. On SQLite writes share
one thread: SQLite has one writer anyway, and queuing in-process is cheaper than
queuing on the file lock. On PostgreSQL every thread may write (one per pooled
connection), and so may every replica: run_id idempotency and the score_counts
upserts are single ON CONFLICT statements, safe under concurrent writers.

Failures leave as data.errors exceptions (never driver errors): a locked file is
retried here with tenacity first; a write without the writer lease, on a full or
read-only disk, or on a corrupt file is refused and nothing changes.
"""

import asyncio
import functools
import logging
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, Insert, Row, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from drafty_bird.data.engine import PgOptions, make_engine, migrate, open_database, quick_check, schema_is_current
from drafty_bird.data.errors import (
    NotWriter,
    StorageCorrupt,
    StorageReplaced,
    StorageUnavailable,
    StorageWriteFailed,
    classify,
    is_busy,
)
from drafty_bird.data.lease import WriterLease
from drafty_bird.data.models import Score, ScoreCount, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# PostgreSQL: a stored score that enters the top this size NOTIFYs TOP_CHANNEL (the live board's size).
TOP_NOTIFY_SIZE = 10
TOP_CHANNEL = "drafty_bird_top"


@dataclass(frozen=True)
class StoredScore:
    row: Score
    duplicate: bool
    rank: int
    high_score: int
    total: int


def _busy_retries() -> Retrying:
    # SQLite's busy_timeout already waits inside each attempt; these retries cover the
    # cases where SQLite answers BUSY at once (lock upgrade deadlock, journal hot-spot).
    return Retrying(
        retry=retry_if_exception(is_busy),
        stop=stop_after_attempt(3),
        wait=wait_random_exponential(multiplier=0.05, max=0.5),
        reraise=True,
    )


class ScoreStore:
    def __init__(
        self,
        engine: Engine,
        *,
        writer_id: str | None = None,
        read_threads: int = 4,
        write_threads: int = 1,
        lease: WriterLease | None = None,
        unavailable: StorageUnavailable | None = None,
    ) -> None:
        self.engine = engine
        self.lease = lease
        self.writer_id = lease.owner if lease else (writer_id or uuid.uuid4().hex[:12])
        # Set when the file could not be opened at start-up: every call refuses (not ready).
        self.unavailable = unavailable
        # Set by the last failed write (disk full, read-only); cleared by the next success.
        self.degraded: str | None = None
        # Set when a call found the file corrupt; cleared by the next successful ping.
        self.corrupt: str | None = None
        # False while migrations are pending: only the lease holder migrates, then writes.
        self.schema_current = True
        # The SQLite file as opened: a restore swaps in a new file (new inode) under the
        # open connections. Set once that is seen; nothing is served until a restart.
        self.replaced: str | None = None
        self._file, self._file_id = _file_identity(engine)
        self._write_pool = ThreadPoolExecutor(write_threads, thread_name_prefix="db-write")
        # One in-memory connection cannot be shared between threads: everything on one.
        # On PostgreSQL reads and writes share the threads, one per pooled connection, so no
        # thread ever waits for a connection.
        shared = engine.pool.__class__.__name__ == "StaticPool" or engine.dialect.name == "postgresql"
        self._read_pool = self._write_pool if shared else ThreadPoolExecutor(read_threads, thread_name_prefix="db-read")

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        if self.unavailable is not None:
            raise self.unavailable
        if self.replaced is not None:
            raise StorageReplaced(self.replaced)
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(self._guarded, fn, *args))

    def _guarded(self, fn: Callable[..., T], *args: object) -> T:
        """Retry a locked file, then turn driver errors into domain ones (worker thread)."""
        try:
            return _busy_retries()(fn, *args)
        except (DBAPIError, PoolTimeout, OSError) as exc:
            # SQLite refuses writes to a file renamed away ("readonly database"): say why.
            self._check_file()
            domain = classify(exc)
            if domain is None:
                raise
            if isinstance(domain, StorageWriteFailed):
                self.degraded = domain.reason
            if isinstance(domain, StorageCorrupt):
                self.corrupt = domain.reason
            log.error("storage call failed", extra={"error": domain.reason, "kind": type(domain).__name__})
            raise domain from exc

    def healthy(self) -> bool:
        """Storage usable for reads (the storage_ready metric); writes may still be refused."""
        return self.unavailable is None and self.corrupt is None and self.replaced is None

    def is_writer(self) -> bool:
        return self.unavailable is None and self.replaced is None and (self.lease is None or self.lease.held())

    def _check_file(self) -> None:
        """Worker thread: has the file been replaced since it was opened? (one stat)"""
        if self._file is None or self.replaced is not None:
            return
        try:
            now = _stat_id(self._file)
        except FileNotFoundError:
            now = None
        if now == self._file_id:
            return
        self.replaced = (
            f"{self._file} was replaced or removed while open (a restore?): restart this process to serve it"
        )
        if self.lease is not None:
            self.lease.stop_writing()  # a process that cannot serve must not keep others from writing
        log.error("database file replaced: not ready until restarted", extra={"db": str(self._file)})
        raise StorageReplaced(self.replaced)

    def _require_writer(self) -> None:
        if self.replaced is not None:
            raise StorageReplaced(self.replaced)
        if self.lease is not None and not self.lease.held():
            raise NotWriter("another instance holds the writer lease; retry shortly")
        if not self.schema_current:
            raise NotWriter("database migration pending; retry shortly")

    async def ensure_schema(self) -> None:
        """Migrate once this process holds the lease (on the write thread, before any write)."""
        if not self.schema_current:
            await self._run(self._write_pool, self._migrate)

    def _migrate(self) -> None:
        if self.schema_current or (self.lease is not None and not self.lease.held()):
            return
        migrate(self.engine)
        quick_check(self.engine)
        self.schema_current = True
        log.warning("database migrated by the new writer", extra={"writer_id": self.writer_id})

    def adopt(self, other: "ScoreStore") -> None:
        """Recovery: take over a freshly opened store's engine, lease and threads (start-up failed earlier)."""
        old_pools = {self._write_pool, self._read_pool}
        self.engine, self.lease, self.writer_id = other.engine, other.lease, other.writer_id
        self._write_pool, self._read_pool = other._write_pool, other._read_pool
        self.unavailable = self.corrupt = self.degraded = self.replaced = None
        self.schema_current = other.schema_current
        self._file, self._file_id = other._file, other._file_id
        for pool in old_pools:
            pool.shutdown(wait=False)

    async def drain_writes(self) -> None:
        """Wait for every write queued so far to finish (shutdown: before releasing the lease)."""
        await asyncio.get_running_loop().run_in_executor(self._write_pool, lambda: None)

    # ------------------------------------------------------------ async API

    async def add(
        self, player: str, score: int, run_id: str | None, *, verified: bool = False, ticks: str | None = None
    ) -> StoredScore:
        self._require_writer()
        return await self._run(self._write_pool, self._add, player, score, run_id, verified, ticks)

    async def top(self, limit: int) -> list[Row]:
        return await self._run(self._read_pool, self._top, limit)

    async def high_score(self) -> int:
        return await self._run(self._read_pool, self._high_score)

    async def ping(self) -> None:
        await self._run(self._read_pool, self._ping)

    def close(self) -> None:
        self._write_pool.shutdown(wait=True)
        if self._read_pool is not self._write_pool:
            self._read_pool.shutdown(wait=True)
        self.engine.dispose()

    # ------------------------------------------------------------ SQL (worker threads)

    def _add(
        self, player: str, score: int, run_id: str | None, verified: bool = False, ticks: str | None = None
    ) -> StoredScore:
        with Session(self.engine, expire_on_commit=False) as session:
            created_at = utcnow()
            # One statement decides "new or retry", even with another writer racing on the same run_id.
            new_id = session.execute(
                self._insert_new(player, score, run_id, created_at, verified, ticks)
            ).scalar_one_or_none()
            if new_id is not None:
                session.execute(self._count_upsert(score))
                if self.engine.dialect.name == "postgresql" and self._rank(session, score) <= TOP_NOTIFY_SIZE:
                    # Delivered at commit to every replica's listener (data.notify); the payload is a
                    # version, never rows: listeners re-query, so a lost notification only delays.
                    session.execute(
                        text("SELECT pg_notify(:channel, :version)"), {"channel": TOP_CHANNEL, "version": str(new_id)}
                    )
                # Checked again at the last moment: the lease may have lapsed while queued,
                # or a restore swapped the file (a commit would land in the old one).
                self._check_file()
                self._require_writer()
                session.commit()
                row = Score(
                    id=new_id,
                    player=player,
                    score=score,
                    run_id=run_id,
                    created_at=created_at,
                    writer_id=self.writer_id,
                    verified=verified,
                    ticks=ticks,
                )
            else:
                session.rollback()
                found = self._by_run_id(session, run_id)
                if found is None:  # cannot happen: only a run_id conflict inserts nothing
                    raise RuntimeError(f"run_id {run_id!r} neither inserted nor found")
                row = found
            self.degraded = None
            return StoredScore(
                row=row,
                duplicate=new_id is None,
                rank=self._rank(session, row.score),
                high_score=self._high_score_in(session),
                total=self._total(session),
            )

    def _insert_new(
        self,
        player: str,
        score: int,
        run_id: str | None,
        created_at: datetime,
        verified: bool = False,
        ticks: str | None = None,
    ) -> ReturningInsert:
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        values = {
            "player": player,
            "score": score,
            "run_id": run_id,
            "created_at": created_at,
            "writer_id": self.writer_id,
            "verified": verified,
            "ticks": ticks,
        }
        stmt = insert(Score).values(**values)
        return stmt.on_conflict_do_nothing(index_elements=["run_id"]).returning(col(Score.id))

    def _count_upsert(self, score: int) -> Insert:
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(ScoreCount).values(score=score, n=1)
        return stmt.on_conflict_do_update(index_elements=["score"], set_={"n": ScoreCount.n + 1})

    @staticmethod
    def _by_run_id(session: Session, run_id: str | None) -> Score | None:
        if run_id is None:
            return None
        return session.exec(select(Score).where(Score.run_id == run_id)).first()

    @staticmethod
    def _rank(session: Session, score: int) -> int:
        """Competition rank: 1 + scores strictly above (ties share a rank)."""
        above = session.exec(select(func.coalesce(func.sum(ScoreCount.n), 0)).where(ScoreCount.score > score)).one()
        return int(above) + 1

    @staticmethod
    def _total(session: Session) -> int:
        return int(session.exec(select(func.coalesce(func.sum(ScoreCount.n), 0))).one())

    @staticmethod
    def _high_score_in(session: Session) -> int:
        return int(session.exec(select(func.coalesce(func.max(ScoreCount.score), 0)).where(ScoreCount.n > 0)).one())

    def _top(self, limit: int) -> list[Row]:
        # Plain rows, not ORM objects: the hottest read skips identity-map work.
        stmt = (
            select(Score.player, Score.score, Score.created_at)
            .order_by(col(Score.score).desc(), col(Score.created_at).asc(), col(Score.id).asc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).all())

    def _high_score(self) -> int:
        with Session(self.engine) as session:
            return self._high_score_in(session)

    def _ping(self) -> None:
        self._check_file()
        with self.engine.connect() as conn:
            # Reads a real table: a replaced or corrupted file fails here, not just "SELECT 1".
            conn.execute(text("SELECT version_num FROM alembic_version LIMIT 1"))
        self.corrupt = None


def _stat_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _file_identity(engine: Engine) -> tuple[Path | None, tuple[int, int] | None]:
    """The SQLite file behind the engine and its (device, inode); (None, None) otherwise."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None, None
    path = Path(database)
    try:
        return path, _stat_id(path)
    except FileNotFoundError:
        return path, None


def open_store(
    url: str,
    *,
    fallback: str,
    journal_mode: str = "delete",
    busy_timeout_ms: int = 5000,
    lease_path: Path | None = None,
    lease_ttl_s: float = 15.0,
    pg: PgOptions | None = None,
) -> tuple[ScoreStore, str]:
    """The store for start-up and its storage_mode ("sqlite", "postgresql", "memory" or "unavailable").

    fallback="memory" serves from an in-memory DB when the file cannot be used (the
    original app); "fail" returns a store that refuses every call, so the process stays
    up but not ready, and the file is never touched again by this process.
    lease_path: the single-writer lease file (SQLite files only); its first tick runs here,
    so a lone instance is the writer before it serves.
    pg: pool and timeouts for a PostgreSQL URL (no lease there: every replica writes).
    """
    try:
        engine, lease, current = _open(url, journal_mode, busy_timeout_ms, lease_path, lease_ttl_s, pg)
    except StorageUnavailable as exc:
        if fallback == "memory":
            log.error("storage unusable, serving from memory", extra={"error": exc.reason})
            memory = make_engine("sqlite://")
            migrate(memory)
            return ScoreStore(memory), "memory"
        log.error("storage unusable: not ready until fixed", extra={"error": exc.reason, "kind": type(exc).__name__})
        return ScoreStore(make_engine("sqlite://"), unavailable=exc), "unavailable"
    threads = (pg or PgOptions()).pool_size if engine.dialect.name == "postgresql" else 1
    store = ScoreStore(engine, lease=lease, write_threads=threads)
    store.schema_current = current
    return store, engine.dialect.name


def _open(
    url: str,
    journal_mode: str,
    busy_timeout_ms: int,
    lease_path: Path | None,
    lease_ttl_s: float,
    pg: PgOptions | None,
) -> tuple[Engine, WriterLease | None, bool]:
    """Open and check; with a lease, only its holder migrates (a migration is a write)."""
    engine = open_database(
        url, journal_mode=journal_mode, busy_timeout_ms=busy_timeout_ms, migrate_schema=lease_path is None, pg=pg
    )
    if lease_path is None:
        return engine, None, True
    lease = WriterLease(lease_path, ttl_s=lease_ttl_s)
    try:
        if lease.tick():
            migrate(engine)
            quick_check(engine)
            return engine, lease, True
        return engine, lease, schema_is_current(engine)
    except Exception as exc:
        lease.release()  # not-ready processes never sit on the lease
        engine.dispose()
        domain = classify(exc)
        if domain is None:
            raise
        raise domain from exc
