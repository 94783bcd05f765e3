"""Every leaderboard query, and the threads they run on.

SQLite calls block, and NiceGUI serves every open page from one event loop, so each
public method here is async and runs its SQL on a worker thread. On SQLite writes share
one thread: SQLite has one writer anyway, and queuing in-process is cheaper than
queuing on the file lock. On PostgreSQL every thread may write (one per pooled
connection), and so may every replica: run_id idempotency and the score_counts
upserts are single ON CONFLICT statements, safe under concurrent writers.

Group commit (SQLite): scores that arrive while a commit is running wait together and
go in as one transaction with one fsync; each caller gets its answer only after that
commit, and a failed commit fails every caller in the batch (nothing of it is stored).
rank/total/highScore are worked out per row as if the batch had been written one row
at a time, in arrival order.

Failures leave as data.errors exceptions (never driver errors): a locked file is
retried here with tenacity first; a write without the writer lease, on a full or
read-only disk, or on a corrupt file is refused and nothing changes.
"""

import asyncio
import bisect
import functools
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, Insert, Row, bindparam, func, insert, text
from sqlalchemy import select as sa_select  # sqlmodel's select types at most 4 columns
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
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
# The top TOP_CACHE_ROWS rows stay in memory for at most TOP_CACHE_TTL_S: this process's own
# writes drop them at once (read-your-write); another process's writes to the same file
# (or, later, another replica's to PostgreSQL) show within the TTL, or sooner through
# invalidate_top() (the seam for a "data changed" signal such as LISTEN/NOTIFY).
TOP_CACHE_ROWS = 100
TOP_CACHE_TTL_S = 0.25
# Upper bound on one group commit; under heavier load the next batch forms while this one commits.
MAX_BATCH = 256
NewScore = tuple[str, int, str | None, bool, str | None]  # player, score, run_id, verified, ticks


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A scores row as the write path knows it: plain values, not an ORM object (building
    Score instances was most of a batch's Python work, on the write thread, holding the GIL)."""

    player: str
    score: int
    created_at: datetime
    run_id: str | None
    writer_id: str | None
    verified: bool = False
    ticks: str | None = None


def _stored_row(score: Score) -> StoredRow:
    return StoredRow(
        player=score.player,
        score=score.score,
        created_at=score.created_at,
        run_id=score.run_id,
        writer_id=score.writer_id,
        verified=score.verified,
        ticks=score.ticks,
    )


@dataclass(frozen=True)
class StoredScore:
    row: StoredRow
    duplicate: bool
    rank: int
    high_score: int
    total: int


@dataclass(frozen=True)
class SavedRun:
    """A stored run looked up by its run_id, and where it stands now (as POST /score says it)."""

    run_id: str
    player: str
    score: int
    created_at: datetime
    rank: int
    total: int


# Runs one runs() call looks up: a page asks for its own saved runs, at most MINE_KEEP (20).
MAX_RUN_LOOKUP = 32


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
        # Group commit: adds waiting for the write thread, and the task that commits them.
        self.group_commit = engine.dialect.name == "sqlite"
        self._pending: list[tuple[NewScore, asyncio.Future[StoredScore]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Top-N cache: (rows, filled at monotonic time, the slices handed out per limit);
        # the generation rises on every write.
        self._top_cache: tuple[list[Row], float, dict[int, list[Row]]] | None = None
        self._top_generation = 0
        # The query refilling it, shared by the misses that arrive meanwhile: (generation, task).
        self._top_refill: tuple[int, asyncio.Future[list[Row]]] | None = None
        # Called with each committed batch's size (the ops layer counts them; data never imports ops).
        self.on_batch: Callable[[int], None] | None = None

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
        self.schema_current, self.group_commit = other.schema_current, other.group_commit
        self._file, self._file_id = other._file, other._file_id
        for pool in old_pools:
            pool.shutdown(wait=False)

    async def drain_writes(self) -> None:
        """Wait for every write queued so far to finish (shutdown: before releasing the lease)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        await asyncio.get_running_loop().run_in_executor(self._write_pool, lambda: None)

    # ------------------------------------------------------------ async API

    async def add(
        self, player: str, score: int, run_id: str | None, *, verified: bool = False, ticks: str | None = None
    ) -> StoredScore:
        self._require_writer()
        if not self.group_commit:
            try:
                return await self._run(self._write_pool, self._add, player, score, run_id, verified, ticks)
            finally:
                self.invalidate_top()
        if self.unavailable is not None:
            raise self.unavailable
        future: asyncio.Future[StoredScore] = asyncio.get_running_loop().create_future()
        self._pending.append(((player, score, run_id, verified, ticks), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # A cancelled caller (client gone) does not cancel the write: like before, it may still land.
        return await future

    async def _flush(self) -> None:
        """Commit what is waiting, one batch at a time, until nothing is (event loop)."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await self._run(self._write_pool, self._add_batch, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 (every caller of the batch gets the failure, whatever it is)
                self.invalidate_top()  # a failed commit changed nothing, but be sure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.invalidate_top()  # before anyone is answered: read-your-write
            if self.on_batch is not None:
                self.on_batch(len(batch))
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def top(self, limit: int) -> list[Row]:
        """The top `limit` rows. While one cache entry lives, the same limit gets the very same
        list back (callers must not change it): a caller may key what it derives from the
        rows (the service's encoded board) on that list's identity."""
        if limit > TOP_CACHE_ROWS:
            return await self._run(self._read_pool, self._top, limit)
        part = self.cached_top(limit)
        if part is not None:
            return part
        # Misses at the same moment share one query, unless a write committed after it
        # started (then its rows may lack that write: read-your-write asks again).
        refill = self._top_refill
        if refill is None or refill[0] != self._top_generation:
            query = asyncio.ensure_future(self._refill_top(self._top_generation, time.monotonic()))
            query.add_done_callback(_retrieved)  # every waiter may be gone (clients hung up)
            refill = self._top_refill = (self._top_generation, query)
        rows = await asyncio.shield(refill[1])  # one waiter hanging up does not cancel the others' query
        cached = self._top_cache
        if cached is not None and cached[0] is rows:
            part = cached[2].get(limit)
            if part is None:
                part = cached[2][limit] = rows[:limit]
            return part
        return rows[:limit]

    def cached_top(self, limit: int) -> list[Row] | None:
        """top(limit) when the cache can answer it now (no I/O, no await), else None."""
        cached = self._top_cache
        usable = self.unavailable is None and self.replaced is None  # else top() answers with the refusal
        if cached is None or not usable or limit > TOP_CACHE_ROWS or time.monotonic() - cached[1] >= TOP_CACHE_TTL_S:
            return None
        rows, _, slices = cached
        part = slices.get(limit)
        if part is None:
            part = slices[limit] = rows[:limit]
        return part

    async def _refill_top(self, generation: int, started: float) -> list[Row]:
        try:
            rows = await self._run(self._read_pool, self._top, TOP_CACHE_ROWS)
        finally:
            if self._top_refill is not None and self._top_refill[0] == generation:
                self._top_refill = None
        if generation == self._top_generation:  # no write committed meanwhile: the rows are current
            self._top_cache = (rows, started, {})
        return rows

    def invalidate_top(self) -> None:
        """Forget the cached top rows (our own write, or a signal that the data changed)."""
        self._top_generation += 1
        self._top_cache = None

    async def high_score(self) -> int:
        return await self._run(self._read_pool, self._high_score)

    async def runs(self, run_ids: list[str]) -> list[SavedRun]:
        """The stored runs among run_ids (in that order; unknown ids are left out), with rank and total.

        One indexed read (uq_scores_run_id) on the shared database: on PostgreSQL it finds a
        run that another replica stored."""
        if not run_ids:
            return []
        if len(run_ids) > MAX_RUN_LOOKUP:
            raise ValueError(f"at most {MAX_RUN_LOOKUP} run_ids per lookup")
        return await self._run(self._read_pool, self._runs, list(dict.fromkeys(run_ids)))

    async def ping(self) -> None:
        # A writer that took the lease over is not ready until its migration is done: its
        # writes are refused meanwhile, and the tables may be half built.
        if not self.schema_current and self.is_writer():
            raise NotWriter("database migration pending")
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
                row = StoredRow(
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
                row = _stored_row(found)
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

    def _add_batch(self, items: list[NewScore]) -> list[StoredScore]:
        """One transaction, one commit for every item; all or nothing (write thread)."""
        try:
            with self.engine.begin() as conn:
                plan, new_rows = self._plan_batch(conn, items)
                if new_rows:
                    conn.execute(_BATCH.insert, [_row_params(row) for row in new_rows])
                    conn.execute(
                        _BATCH.counts_upsert,
                        [{"score": s, "n": n} for s, n in Counter(r.score for r in new_rows).items()],
                    )
                lowest = min(row.score for row, _ in plan)
                counts = conn.execute(_BATCH.counts_from, {"low": lowest}).all()
                total = int(conn.execute(_BATCH.total).scalar_one())
                # Checked again at the last moment: the lease may have lapsed while queued,
                # or a restore swapped the file (a commit would land in the old one).
                self._check_file()
                self._require_writer()
        except IntegrityError:
            # Another writer committed one of these run_ids between our read and insert: one by one.
            return [self._add(*item) for item in items]
        self.degraded = None
        return _as_if_one_by_one(plan, [(int(s), int(n)) for s, n in counts], total)

    def _plan_batch(
        self, conn: Connection, items: list[NewScore]
    ) -> tuple[list[tuple[StoredRow, bool]], list[StoredRow]]:
        """Each item's row and whether it is a retry (of a stored run, or of one earlier in the batch)."""
        run_ids = [item[2] for item in items if item[2] is not None]
        seen: dict[str, StoredRow] = {}
        if run_ids:
            # The whole stored row: the service compares a retry's ticks and reports `verified`.
            for found in conn.execute(_BATCH.by_run_ids, {"run_ids": run_ids}):
                seen[found.run_id] = StoredRow(*found)
        plan: list[tuple[StoredRow, bool]] = []
        new_rows: list[StoredRow] = []
        for player, score, run_id, verified, ticks in items:
            known = seen.get(run_id) if run_id is not None else None
            if known is not None:
                plan.append((known, True))
                continue
            row = StoredRow(player, score, utcnow(), run_id, self.writer_id, verified, ticks)
            new_rows.append(row)
            plan.append((row, False))
            if run_id is not None:
                seen[run_id] = row
        return plan, new_rows

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

    def _runs(self, run_ids: list[str]) -> list[SavedRun]:
        # One transaction: the rows, the counts above the lowest of them and the total agree.
        with self.engine.connect() as conn:
            stmt = sa_select(  # type: ignore[call-overload]  # model attributes are columns at runtime
                Score.run_id, Score.player, Score.score, Score.created_at
            ).where(col(Score.run_id).in_(run_ids))
            found = {row.run_id: row for row in conn.execute(stmt)}
            if not found:
                return []
            lowest = min(row.score for row in found.values())
            counts = conn.execute(
                text("SELECT score, n FROM score_counts WHERE score > :low AND n > 0"), {"low": lowest}
            ).all()
            total = int(conn.execute(text("SELECT coalesce(sum(n), 0) FROM score_counts")).scalar_one())
        return [
            SavedRun(
                run_id=run_id,
                player=row.player,
                score=row.score,
                created_at=row.created_at,
                # Competition rank, as _rank: 1 + the rows with a higher score.
                rank=1 + sum(int(n) for score, n in counts if score > row.score),
                total=total,
            )
            for run_id in run_ids
            if (row := found.get(run_id)) is not None
        ]

    def _ping(self) -> None:
        self._check_file()
        with self.engine.connect() as conn:
            # Reads a real table: a replaced or corrupted file fails here, not just "SELECT 1".
            conn.execute(text("SELECT version_num FROM alembic_version LIMIT 1"))
        self.corrupt = None


def _retrieved(future: "asyncio.Future[list[Row]]") -> None:
    """Mark a shared query's failure as seen: its waiters got it, or are gone."""
    if not future.cancelled():
        future.exception()


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


class _BatchStatements:
    """The group commit's statements (SQLite), built once: building them per batch was a
    good part of its Python work on the write thread."""

    def __init__(self) -> None:
        self.insert = insert(Score)
        upsert = sqlite_insert(ScoreCount)
        self.counts_upsert = upsert.on_conflict_do_update(
            index_elements=["score"], set_={"n": ScoreCount.n + upsert.excluded.n}
        )
        # StoredRow's fields, in its order.
        self.by_run_ids = sa_select(  # type: ignore[call-overload]  # model attributes are columns at runtime
            Score.player, Score.score, Score.created_at, Score.run_id, Score.writer_id, Score.verified, Score.ticks
        ).where(col(Score.run_id).in_(bindparam("run_ids", expanding=True)))
        self.counts_from = text("SELECT score, n FROM score_counts WHERE score >= :low AND n > 0 ORDER BY score DESC")
        self.total = text("SELECT coalesce(sum(n), 0) FROM score_counts")


_BATCH = _BatchStatements()


def _row_params(row: StoredRow) -> dict[str, object]:
    return {
        "player": row.player,
        "score": row.score,
        "created_at": row.created_at,
        "run_id": row.run_id,
        "writer_id": row.writer_id,
        "verified": row.verified,
        "ticks": row.ticks,
    }


def _as_if_one_by_one(
    plan: list[tuple[StoredRow, bool]], counts: list[tuple[int, int]], total: int
) -> list[StoredScore]:
    """rank/total/highScore of each item as if the batch had been committed row by row.

    counts: (score, n) after the whole batch, score descending, for every score >= the
    lowest in the batch; total: rows after the whole batch. Walking back from the last
    item, the rows that came after it are taken away again.
    """
    scores_desc = [score for score, _ in counts]
    above = [0]  # above[k]: rows with a score higher than scores_desc[k]
    for _, n in counts[:-1]:
        above.append(above[-1] + n)
    neg = [-score for score in scores_desc]  # ascending, for bisect
    later: Counter[int] = Counter()  # new rows after the current item, by score
    results: list[StoredScore] = []
    for row, duplicate in reversed(plan):
        k = bisect.bisect_left(neg, -row.score)  # first index with score <= row.score
        higher = above[k] if k < len(above) else above[-1] + counts[-1][1]
        higher -= sum(n for score, n in later.items() if score > row.score)
        high = next(score for score, n in counts if n - later[score] > 0)
        results.append(
            StoredScore(row=row, duplicate=duplicate, rank=higher + 1, high_score=high, total=total - later.total())
        )
        if not duplicate:
            later[row.score] += 1
    return results[::-1]


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
