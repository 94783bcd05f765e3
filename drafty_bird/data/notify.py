"""Live top 10 across replicas: one LISTEN connection per process, on its own thread.

A write that changes the top 10 NOTIFYs store.TOP_CHANNEL with a version (the new row's
id), delivered at commit to every replica. Each process re-queries once per burst of
notifications and fans the result out to its own pages (NiceGUI keeps pages per process).
NOTIFY is at most once and a dead connection may go unnoticed, so the listener sends a
heartbeat query when idle, reconnects with backoff, and asks for one re-query after every
reconnect: a lost notification costs at most one stale period.

psycopg blocks, and NiceGUI serves every page from one event loop: the connection lives
on a thread, and only an asyncio.Event crosses over (call_soon_threadsafe).
"""

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable

import psycopg
from sqlalchemy import Engine

from drafty_bird.data.engine import PgOptions, make_listener_engine
from drafty_bird.data.errors import StorageUnavailable
from drafty_bird.data.store import TOP_CHANNEL

log = logging.getLogger(__name__)

RECONNECTED = "reconnected"
REQUERY_RETRY_S = 1.0


def listener_name() -> str:
    # application_name in pg_stat_activity: operators (and tests) can find this process's listener.
    return f"drafty-bird-listen-{os.getpid()}"


class TopListener:
    """LISTEN on a thread; on_change(payload) runs on that thread, so it must be quick and thread-safe."""

    def __init__(
        self,
        engine: Engine,
        on_change: Callable[[str], None],
        *,
        heartbeat_s: float = 2.0,
        backoff_s: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.engine = engine
        self.on_change = on_change
        self.heartbeat_s = heartbeat_s
        self.backoff_min, self.backoff_max = backoff_s
        self.connected = threading.Event()
        self.connects = 0
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stops within one heartbeat (the thread is a daemon: exit never waits on it)."""
        self._stop.set()
        self._thread.join(self.heartbeat_s + 1 if timeout is None else timeout)

    def _run(self) -> None:
        delay = self.backoff_min
        while not self._stop.is_set():
            raw = None
            try:
                raw = self.engine.raw_connection()
                conn = raw.driver_connection
                if not isinstance(conn, psycopg.Connection):
                    raise TypeError("LISTEN needs the psycopg 3 driver (postgresql+psycopg://)")
                conn.rollback()  # the dialect's first-connect queries left a transaction open
                conn.autocommit = True
                conn.execute(f"LISTEN {TOP_CHANNEL}")
                self.backend_pid = conn.info.backend_pid
                self.connects += 1
                self.connected.set()
                if self.connects > 1:
                    log.warning("leaderboard listener reconnected", extra={"backend_pid": self.backend_pid})
                    self.on_change(RECONNECTED)  # notifications sent while away are lost: re-query once
                delay = self.backoff_min
                while not self._stop.is_set():
                    quiet = True
                    for note in conn.notifies(timeout=self.heartbeat_s):
                        quiet = False
                        self.on_change(note.payload)
                    if quiet:
                        conn.execute("SELECT 1")  # heartbeat: a dead connection fails here, not never
            except Exception as exc:  # noqa: BLE001 (any failure: back off and reconnect, never die)
                log.warning(
                    "leaderboard listener lost its connection",
                    extra={"error": (str(exc) or type(exc).__name__).splitlines()[0]},
                )
            finally:
                self.connected.clear()
                if raw is not None:
                    with contextlib.suppress(Exception):
                        raw.invalidate()  # discard without the pool's rollback-on-return, which fails on a dead socket
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff_max)


async def follow_top(
    url: str, opts: PgOptions, refresh: Callable[[], Awaitable[None]], stop: asyncio.Event, **listener_kw: object
) -> None:
    """Background task: run refresh() once per burst of top-10 notifications until stop is set."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    engine = make_listener_engine(url, opts, listener_name())
    listener = TopListener(engine, lambda _version: loop.call_soon_threadsafe(changed.set), **listener_kw)  # type: ignore[arg-type]  # kw are TopListener's tuning knobs
    listener.start()
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            waiting = asyncio.ensure_future(changed.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if stop.is_set():
                break
            # Cleared before the query: notifications arriving during it cause exactly one more.
            changed.clear()
            try:
                await refresh()
            except StorageUnavailable as exc:
                # The database is down or restarting: try again shortly, or boards stay stale.
                log.warning("leaderboard re-query failed; retrying", extra={"error": exc.reason})
                loop.call_later(REQUERY_RETRY_S, changed.set)
            except Exception:
                log.exception("leaderboard re-query failed")
    finally:
        stopping.cancel()
        await asyncio.to_thread(listener.stop)
        engine.dispose()
