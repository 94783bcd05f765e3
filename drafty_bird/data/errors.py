"""Storage failures as domain exceptions, so callers never see driver errors.

The API maps every StorageUnavailable to 503 + Retry-After (never 500): the browser
keeps the score and retries with the same run_id, which stores it exactly once.
"""

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite primary result codes (extended codes keep these in the low byte).
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26


class StorageUnavailable(Exception):
    """A write (or read) cannot be served right now; the client should retry later."""

    retry_after_s = 5

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageBusy(StorageUnavailable):
    """The file stayed locked by another connection through every retry."""

    retry_after_s = 1


class NotWriter(StorageUnavailable):
    """Another process holds the single-writer lease: this one only serves reads."""

    retry_after_s = 2


class DatabaseUnreachable(StorageUnavailable):
    """PostgreSQL refused or dropped the connection (down, restarting, failing over)."""

    retry_after_s = 2


class StorageWriteFailed(StorageUnavailable):
    """Disk full, read-only or I/O error: the write was rolled back, nothing changed."""

    retry_after_s = 10


class StorageReplaced(StorageUnavailable):
    """The DB file was swapped under the open connections (a restore): restart to serve the new one."""

    retry_after_s = 10


class StorageCorrupt(StorageUnavailable):
    """PRAGMA quick_check failed or the file is not a database: left untouched for an operator."""

    retry_after_s = 30


def sqlite_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind a (wrapped) sqlite3 error, if any."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None) if isinstance(orig, sqlite3.Error) else None
    return None if code is None else code & 0xFF


def pg_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind a (wrapped) driver error, if any."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return orig if isinstance(orig, psycopg.Error) else None


# Deadlock, serialization failure, lock not available: the same transaction succeeds if run again.
PG_RETRYABLE = ("40P01", "40001", "55P03")


def is_busy(exc: BaseException) -> bool:
    pg = pg_error(exc)
    if pg is not None:
        return (pg.sqlstate or "") in PG_RETRYABLE
    return sqlite_code(exc) in (SQLITE_BUSY, SQLITE_LOCKED)


def classify_pg(pg: psycopg.Error) -> StorageUnavailable | None:
    state = pg.sqlstate or ""
    first_line = str(pg).splitlines()[0] if str(pg) else type(pg).__name__
    if isinstance(pg, psycopg.errors.QueryCanceled) or state in (*PG_RETRYABLE, "53300"):
        # Statement timeout, lock contention, too many connections: the server is there but busy.
        return StorageBusy(f"database busy: {first_line}")
    if state.startswith("53"):  # insufficient resources: disk full, out of memory
        return StorageWriteFailed(f"database cannot write: {first_line}")
    if (
        isinstance(pg, (psycopg.OperationalError, psycopg.InterfaceError))
        or state.startswith(("08", "57"))  # connection exception, operator intervention (shutdown)
        or state == "25006"  # read-only transaction: a replica or a failover in progress
    ):
        return DatabaseUnreachable(f"database unreachable: {first_line}")
    return None


def classify(exc: BaseException) -> StorageUnavailable | None:
    """Turn a driver error into the domain exception the API answers with (None: a bug, let it raise)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, OSError):
        return StorageWriteFailed(f"storage I/O failed: {exc.strerror or exc}")
    if isinstance(exc, PoolTimeout):
        return StorageBusy("no database connection free in time")
    pg = pg_error(exc)
    if pg is not None:
        return classify_pg(pg)
    code = sqlite_code(exc)
    orig = getattr(exc, "orig", exc)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageBusy(f"database is locked: {orig}")
    if code in (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN):
        return StorageWriteFailed(f"storage write failed: {orig}")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StorageCorrupt(f"database file is corrupt: {orig}")
    return None
