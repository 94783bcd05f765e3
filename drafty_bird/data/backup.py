"""Online backups and restores of the SQLite leaderboard (the runbook's restore drill).

backup: SQLite's backup API copies the live file in one step, i.e. under one read
lock, so the copy is a consistent snapshot even while the server writes (writers wait
at most the copy time, milliseconds for a leaderboard). The copy is verified
(integrity_check, and the scores table agrees with the score_counts tally) before it
gets its final name, then only the newest `keep` backups are kept.

restore: verifies the backup, takes the writer lease so no server writes meanwhile
(refuses when another process holds it, unless --force), keeps a copy of the file it
replaces, then swaps the new file in with one rename. Under --force a running server
sees the new inode (data/store.py) and goes not ready until it is restarted.
"""

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drafty_bird.data.lease import WriterLease, lease_path
from drafty_bird.timing import wait_or_stop

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "db-", ".sqlite"
Progress = Callable[[str], None]


class BackupError(Exception):
    """The backup or restore did not happen; the message is one line for the operator."""


def _connect(path: Path, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    return conn


def verify(path: Path) -> int:
    """integrity_check ok and the tally agrees with the rows; returns the number of scores."""
    try:
        return _verify(path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: cannot be verified: {exc}") from None


def _verify(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise BackupError(f"{path}: integrity_check failed: {'; '.join(check[:3])}")
        try:
            rows = conn.execute("SELECT count(*) FROM scores").fetchone()[0]
            tally = conn.execute("SELECT coalesce(sum(n), 0) FROM score_counts").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path}: not a Drafty Bird database ({exc})") from None
        if rows != tally:
            raise BackupError(f"{path}: {rows} scores but score_counts says {tally}")
        return rows
    finally:
        conn.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(src: Path, dst: Path) -> int:
    """Consistent copy of src into dst with the backup API; returns pages copied."""
    pages = 0

    def progress(_status: int, remaining: int, total: int) -> None:
        nonlocal pages
        pages = total - remaining

    source, target = _connect(src), sqlite3.connect(dst)
    try:
        source.backup(target, pages=-1, progress=progress)  # one step: one read lock, one snapshot
    finally:
        target.close()
        source.close()
    with open(dst, "rb") as f:
        os.fsync(f.fileno())
    return pages


def backups_in(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{PREFIX}*{SUFFIX}"))


def backup(db_path: Path, to_dir: Path, keep: int = 7, progress: Progress = lambda _m: None) -> Path:
    if not db_path.exists():
        raise BackupError(f"{db_path}: no such database file")
    to_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = to_dir / f"{PREFIX}{stamp}{SUFFIX}"
    partial = final.with_name(final.name + ".partial")
    started = time.monotonic()
    try:
        progress(f"snapshot {db_path} -> {final.name}")
        pages = _copy(db_path, partial)
        progress(f"copied {pages} pages in {time.monotonic() - started:.2f}s; verifying")
        rows = verify(partial)
        progress(f"verified: integrity_check ok, {rows} scores")
        os.replace(partial, final)
        _fsync_dir(to_dir)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {db_path} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    pruned = backups_in(to_dir)[:-keep]
    for old in pruned:
        old.unlink(missing_ok=True)
    progress(f"kept the newest {min(keep, len(backups_in(to_dir)))} backups, pruned {len(pruned)}")
    log.info("backup written", extra={"backup": str(final), "scores": rows, "pruned": len(pruned)})
    return final


def restore(
    from_file: Path, db_path: Path, *, force: bool = False, ttl_s: float = 15.0, progress: Progress = lambda _m: None
) -> Path | None:
    """Swap from_file in as db_path; returns where the replaced file was kept (None if there was none)."""
    rows = verify(from_file)
    progress(f"backup {from_file} verified: {rows} scores")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lease = WriterLease(lease_path(db_path), owner=f"restore-{os.getpid()}", ttl_s=ttl_s)
    if not lease.tick():
        holder = lease.read()
        who = f"another process holds the writer lease ({holder.owner})" if holder else "cannot take the writer lease"
        if not force:
            raise BackupError(f"{who}; stop it or wait for expiry, or pass --force")
        progress(
            f"--force: {who}; restoring anyway. A server using this file notices the swap on its next"
            " readiness check or write, answers /readyz 503 and refuses writes (503) until restarted:"
            " restart it now"
        )
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = None
        if db_path.exists():
            kept = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
            # Through the backup API, so a hot journal of the old file is applied to the copy.
            _copy(db_path, kept)
            progress(f"kept the replaced file as {kept}")
        incoming = db_path.with_name(db_path.name + ".restoring")
        _copy(from_file, incoming)
        # The old file's journal must never be replayed onto the new one.
        for side in ("-journal", "-wal", "-shm"):
            db_path.with_name(db_path.name + side).unlink(missing_ok=True)
        os.replace(incoming, db_path)
        _fsync_dir(db_path.parent)
        progress(f"restored {db_path}: {verify(db_path)} scores")
        return kept
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {db_path} failed: {exc}") from None
    finally:
        lease.release()


async def periodic(
    db_path: Path, to_dir: Path, keep: int, interval_s: int, *, is_writer: Callable[[], bool], stop: asyncio.Event
) -> None:
    """BACKUP_INTERVAL_S: only the writer backs up, so replicas never race on one directory."""
    while not await wait_or_stop(stop, interval_s):
        if not is_writer():
            continue
        try:
            await asyncio.to_thread(backup, db_path, to_dir, keep)
        except (BackupError, OSError) as exc:
            log.error("periodic backup failed", extra={"error": str(exc)})
