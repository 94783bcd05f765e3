"""Storage failures as domain exceptions, so callers never see driver errors.

The API maps every StorageUnavailable to 503 + Retry-After (never 500): the browser
keeps the score and retries with the same run_id, which stores it exactly once.
"""

import sqlite3

from sqlalchemy.exc import DBAPIError

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


class StorageWriteFailed(StorageUnavailable):
    """Disk full, read-only or I/O error: the write was rolled back, nothing changed."""

    retry_after_s = 10


class StorageCorrupt(StorageUnavailable):
    """PRAGMA quick_check failed or the file is not a database: left untouched for an operator."""

    retry_after_s = 30


def sqlite_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind a (wrapped) sqlite3 error, if any."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None) if isinstance(orig, sqlite3.Error) else None
    return None if code is None else code & 0xFF


def is_busy(exc: BaseException) -> bool:
    return sqlite_code(exc) in (SQLITE_BUSY, SQLITE_LOCKED)


def classify(exc: BaseException) -> StorageUnavailable | None:
    """Turn a driver error into the domain exception the API answers with (None: a bug, let it raise)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, OSError):
        return StorageWriteFailed(f"storage I/O failed: {exc.strerror or exc}")
    code = sqlite_code(exc)
    orig = getattr(exc, "orig", exc)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageBusy(f"database is locked: {orig}")
    if code in (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN):
        return StorageWriteFailed(f"storage write failed: {orig}")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StorageCorrupt(f"database file is corrupt: {orig}")
    return None
