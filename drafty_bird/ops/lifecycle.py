"""Start-up and shutdown of one server process, in the order they happen (podinfo style).

Start-up (Lifecycle.open, before serving): open storage (migrate + check, take the
writer lease); once serving (start): lease renewal, the storage reopen loop, periodic
backups, the PostgreSQL top-10 listener, the SIGTERM handler.

Shutdown on SIGTERM (drain, then stop once uvicorn has finished):
1. drop readiness: /readyz answers 503 at once;
2. hand over writes: refuse new ones, finish queued ones, release the writer lease
   (the other revision takes over in one poll);
3. wait SHUTDOWN_DELAY_S, so the load balancer sees the 503 and stops routing here;
4. stop listening: uvicorn finishes in-flight requests, then runs `stop`;
5. stop background tasks (lease renewal, reopen loop, backups, listener, a pending migration);
6. close storage and flush traces (last, so spans of the drain are exported too); exit 0.
Ctrl+C skips the drain: `stop` then runs steps 1-2 itself.

uvicorn's own SIGTERM handler stops accepting connections at once, so /readyz could
never be seen answering 503. install_sigterm() replaces it once the server is up: the
signal flips readiness synchronously, then `drain` runs on the loop and ends by asking
the server to stop. As uvicorn never captured the signal it does not re-raise it after
shutdown, so the process exits 0.
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from drafty_bird.data import backup, entra, lease, notify
from drafty_bird.data.engine import PgOptions
from drafty_bird.data.store import ScoreStore
from drafty_bird.data.store import open_store as open_score_store
from drafty_bird.ops.health import Readiness
from drafty_bird.settings import Settings
from drafty_bird.timing import wait_or_stop

log = logging.getLogger(__name__)


def install_sigterm(on_signal: Callable[[], None], drain: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Call from app.on_startup (main thread, inside uvicorn's serve)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    signalled = False

    def start_drain() -> None:
        task = loop.create_task(drain())
        tasks.add(task)  # keep a reference until done
        task.add_done_callback(tasks.discard)

    def handler(signum: int, _frame: object) -> None:
        nonlocal signalled
        if signalled:
            return  # already draining; a second SIGTERM changes nothing
        signalled = True
        on_signal()  # runs between bytecodes on the main thread: keep it to flag flips
        loop.call_soon_threadsafe(start_drain)

    signal.signal(signal.SIGTERM, handler)


def open_store(settings: Settings) -> tuple[ScoreStore, str]:
    """The configured DB, checked and migrated, with the writer lease for a SQLite file.

    An unwritable directory already failed in load_settings (config error, exit 2). A
    corrupt, locked or full file keeps the process up: not ready under
    STORAGE_FALLBACK=fail, served from memory under =memory.
    """
    file_backed = not settings.database_url
    return open_score_store(
        settings.db_url,
        fallback=settings.storage_fallback,
        journal_mode=settings.sqlite_journal_mode,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        lease_path=lease.lease_path(settings.score_db_path) if file_backed else None,
        lease_ttl_s=settings.writer_lease_ttl_s,
        pg=pg_options(settings),
    )


def pg_options(settings: Settings) -> PgOptions:
    """PostgreSQL pool and timeouts (unused for SQLite)."""
    return PgOptions(
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        connect_timeout_s=settings.db_connect_timeout_s,
        password=entra.process_password() if settings.database_auth == "entra" else None,
    )


class Lifecycle:
    """Owns the store, the readiness flag and every background task of the process."""

    def __init__(
        self,
        settings: Settings,
        store: ScoreStore,
        storage_mode: str,
        *,
        stop_listening: Callable[[], None],
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.readiness = Readiness(storage_mode=storage_mode, check=store.ping)
        self.readiness.extra["writer"] = store.is_writer
        self.readiness.extra["degraded"] = self.degraded
        self._stop_listening = stop_listening
        self._flush = flush
        self._stop_background = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self._top_refresh: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def open(
        cls, settings: Settings, *, stop_listening: Callable[[], None], flush: Callable[[], Awaitable[None]]
    ) -> "Lifecycle":
        """Start-up before serving: open storage (blocking; called before the loop runs)."""
        store, storage_mode = open_store(settings)
        return cls(settings, store, storage_mode, stop_listening=stop_listening, flush=flush)

    def follow_top_changes(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """On PostgreSQL, call refresh once per burst of other replicas' top-10 changes (from start)."""
        self._top_refresh = refresh

    def degraded(self) -> bool:
        """Serving from memory, or the last write failed (disk full, read-only)."""
        return self.readiness.storage_mode == "memory" or self.store.degraded is not None

    # ------------------------------------------------------------ start-up (app.on_startup)

    async def start(self, *, handle_sigterm: bool = True) -> None:
        if self.store.lease is not None:
            self._spawn(lease.keep(self.store.lease, self._on_writer_change, self._stop_background))
        if self.store.unavailable is not None:
            self._spawn(self._reopen_storage())
        if self.settings.backup_interval_s and self.readiness.storage_mode == "sqlite":
            self._spawn(
                backup.periodic(
                    self.settings.score_db_path,
                    self.settings.backup_dir or self.settings.score_db_path.parent / "backups",
                    self.settings.backup_keep,
                    self.settings.backup_interval_s,
                    is_writer=self.store.is_writer,
                    stop=self._stop_background,
                )
            )
        if self._top_refresh is not None and self.settings.db_url.startswith("postgresql"):
            # One LISTEN connection per process; it retries by itself while the database is down.
            opts = pg_options(self.settings)
            self._spawn(notify.follow_top(self.settings.db_url, opts, self._top_refresh, self._stop_background))
        if handle_sigterm:
            install_sigterm(on_signal=self.drop_readiness, drain=self.drain)

    # ------------------------------------------------------------ shutdown

    async def drain(self) -> None:
        """SIGTERM: steps 1-4; uvicorn then finishes in-flight requests and calls stop()."""
        log.info("SIGTERM: draining", extra={"delay_s": self.settings.shutdown_delay_s})
        self.drop_readiness()
        await self.hand_over_writes()
        await asyncio.sleep(self.settings.shutdown_delay_s)
        self._stop_listening()

    async def stop(self) -> None:
        """app.on_shutdown: steps 5-6 (1-2 again are no-ops after a drain; they cover Ctrl+C)."""
        self.drop_readiness()
        await self.hand_over_writes()
        await self.stop_background()
        self.store.close()
        await self._flush()
        log.info("shutdown complete")

    def drop_readiness(self) -> None:
        """Only a flag flip: also runs inside the signal handler."""
        self.readiness.draining = True

    async def hand_over_writes(self) -> None:
        if self.store.lease is not None:
            self.store.lease.stop_writing()
            await self.store.drain_writes()
            await asyncio.to_thread(self.store.lease.release)

    async def stop_background(self) -> None:
        self._stop_background.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ------------------------------------------------------------ background work

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(work))

    def _on_writer_change(self, held: bool) -> None:
        log.warning("writer role changed", extra={"writer": held, "writer_id": self.store.writer_id})
        if held and not self.store.schema_current:
            # A newer release waited for the lease to migrate; writes stay refused until done.
            self._spawn(self.store.ensure_schema())

    async def _reopen_storage(self) -> None:
        # A file that was locked, full or corrupt at start-up: retry (read-only checks first,
        # so a corrupt file is still never written), and become ready once it opens.
        while self.store.unavailable is not None:
            if await wait_or_stop(self._stop_background, self.settings.storage_reopen_s):
                return
            fresh, mode = await asyncio.to_thread(open_store, self.settings)
            if fresh.unavailable is None:
                self.store.adopt(fresh)
                self.readiness.storage_mode = mode
                log.warning("storage recovered", extra={"storage_mode": mode})
                if self.store.lease is not None:
                    self._spawn(lease.keep(self.store.lease, self._on_writer_change, self._stop_background))
            else:
                fresh.close()
