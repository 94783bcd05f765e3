"""Single-writer lease: one file beside the DB says which process may write.

Azure Files mounted with nobrl keeps SQLite's byte-range locks local to each host,
so during a revision overlap two processes on two hosts could write the same file
and corrupt it. Only the lease holder writes; everyone else serves reads.

The file holds {"owner", "expires", "pid", "host"}; expiry is wall-clock time, so
hosts are assumed NTP-synced (ACA hosts are). Rules:
- acquire: O_CREAT|O_EXCL create (atomic on local disks and SMB);
- renew: the holder rewrites it (temp file + os.replace) every `renew_s`;
- takeover: only once the lease has expired, and only by whoever wins O_EXCL on a
  side ".takeover" file and sees the same expired content again under it;
- the holder stops writing `safety_s` before its own expiry, so a stalled holder
  stops before anyone may take over;
- release: the holder deletes the file on shutdown (handover in one poll).
All file I/O here blocks: call these methods from a worker thread.
"""

import asyncio
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drafty_bird.timing import wait_or_stop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseInfo:
    owner: str
    expires: float
    raw: bytes


class WriterLease:
    def __init__(
        self, path: Path, *, owner: str | None = None, ttl_s: float = 15.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.owner = owner or uuid.uuid4().hex[:12]
        self.ttl_s = ttl_s
        self.renew_s = max(0.2, ttl_s / 5)
        self.safety_s = max(0.5, ttl_s / 3)
        self._clock = clock
        self._expires = 0.0
        self._released = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------ state

    def held(self) -> bool:
        """True while this process may write (checked before and inside each write)."""
        return not self._released and self._clock() < self._expires - self.safety_s

    def read(self) -> LeaseInfo | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return LeaseInfo(str(data["owner"]), float(data["expires"]), raw)
        except (ValueError, KeyError, TypeError):
            # Half-written by a crashed creator: treat as expired once it is older than a TTL.
            try:
                age = self._clock() - self.path.stat().st_mtime
            except FileNotFoundError:
                return None
            return LeaseInfo("?", self._clock() - 1 if age > self.ttl_s else self._clock() + self.ttl_s, raw)

    # ------------------------------------------------------------ transitions

    def tick(self) -> bool:
        """Acquire or renew; returns whether this process holds the lease afterwards."""
        with self._lock:
            if self._released:
                return False
            try:
                self._tick()
            except OSError as exc:
                # An unreachable share: stop writing once the current lease runs out.
                log.warning("writer lease I/O failed", extra={"error": str(exc), "lease": str(self.path)})
            return self.held()

    def _tick(self) -> None:
        now = self._clock()
        if self._create(now):
            return
        current = self.read()
        if current is None:
            return  # released between our create and read: next tick creates it
        if current.owner == self.owner:
            if now < current.expires - self.safety_s:
                self._write(now)  # renew
            else:
                # We stalled past the point where a contender could take over: re-enter as one.
                self._expires = 0.0
                if now > current.expires:
                    self._takeover(current, now)
            return
        self._expires = 0.0
        if now > current.expires:
            self._takeover(current, now)

    def _payload(self, now: float) -> bytes:
        expires = now + self.ttl_s
        body = {"owner": self.owner, "expires": expires, "pid": os.getpid(), "host": socket.gethostname()}
        return json.dumps(body).encode()

    def _create(self, now: float) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self._payload(now))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._expires = now + self.ttl_s
        log.info("writer lease acquired", extra={"owner": self.owner, "lease": str(self.path)})
        return True

    def _write(self, now: float) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{self.owner}.tmp")
        with open(tmp, "wb") as f:
            f.write(self._payload(now))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._expires = now + self.ttl_s

    def _takeover(self, seen: LeaseInfo, now: float) -> None:
        guard = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            # A contender crashed mid-takeover: clear its guard after a TTL; retry next tick.
            try:
                if now - guard.stat().st_mtime > self.ttl_s:
                    guard.unlink()
            except FileNotFoundError:
                pass
            return
        os.close(fd)
        try:
            again = self.read()
            # Someone renewed, released or took over since we looked: not ours to take.
            if again is None or again.raw != seen.raw:
                return
            self._write(now)
            log.warning(
                "writer lease taken over after expiry",
                extra={"owner": self.owner, "previous_owner": seen.owner, "lease": str(self.path)},
            )
        finally:
            guard.unlink(missing_ok=True)

    def stop_writing(self) -> None:
        """Shutdown, step 1: refuse new writes at once (no I/O, safe on the event loop)."""
        self._released = True

    def release(self) -> None:
        """Shutdown, step 2 (after queued writes finished): delete the file if it is still ours."""
        with self._lock:
            was_held = self._clock() < self._expires
            self._released = True
            self._expires = 0.0
            try:
                current = self.read()
                if current is not None and current.owner == self.owner:
                    self.path.unlink(missing_ok=True)
                    log.info("writer lease released", extra={"owner": self.owner, "lease": str(self.path)})
            except OSError as exc:
                log.warning("writer lease release failed", extra={"error": str(exc), "was_held": was_held})


async def keep(lease: WriterLease, on_change: Callable[[bool], None], stop: asyncio.Event) -> None:
    """Background task: renew while holding, poll twice a second while waiting to take over."""
    held = lease.held()
    while not stop.is_set():
        now_held = await asyncio.to_thread(lease.tick)
        if now_held != held:
            held = now_held
            on_change(held)
        await wait_or_stop(stop, lease.renew_s if held else min(0.5, lease.renew_s))


def lease_path(db_path: Path) -> Path:
    """The lease lives beside the DB, on the same share every revision mounts."""
    return Path(db_path).with_name(Path(db_path).name + ".writer-lease")
