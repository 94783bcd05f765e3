"""Wires the service onto NiceGUI's FastAPI app and runs it.

Start-up, in order: settings, logs, storage (migrate + check, writer lease), routes
and pages, serve; once serving: lease renewal, periodic backups, the SIGTERM handler.
Shutdown (SIGTERM), in order: /readyz 503 at once; stop new writes, finish queued ones,
release the writer lease (the other revision takes over); wait SHUTDOWN_DELAY_S so the
load balancer sees 503; stop listening and let in-flight requests finish; stop
background tasks; close storage.
"""

import asyncio
import logging
import sys
from dataclasses import dataclass

from nicegui import app, ui

from drafty_bird import __version__, api
from drafty_bird.data import backup, lease
from drafty_bird.data.store import ScoreStore
from drafty_bird.data.store import open_store as open_score_store
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops import chaos, chaos_admin, health, lifecycle, metrics, storage_metrics, tracing
from drafty_bird.ops.access import AccessLogMiddleware
from drafty_bird.ops.body_limit import BodySizeLimitMiddleware
from drafty_bird.ops.errors import install_error_handlers
from drafty_bird.ops.logging import configure_logging
from drafty_bird.ops.ratelimit import RateLimitMiddleware
from drafty_bird.settings import Settings, SettingsError, load_settings
from drafty_bird.ui.pages import register_pages

log = logging.getLogger(__name__)

# ACA's default termination grace period is 30 s; finish well inside it.
GRACEFUL_SHUTDOWN_S = 8


class StartupError(Exception):
    """Start-up cannot continue; the message is one line for the operator."""


@dataclass
class Runtime:
    settings: Settings
    store: ScoreStore
    service: LeaderboardService
    readiness: health.Readiness


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
    )


def install_observability(settings: Settings) -> None:
    """Chaos, /metrics, the metrics middleware (outside the access log) and server spans."""
    chaos.configure(settings.chaos)
    if settings.chaos_admin_token is not None:
        chaos_admin.register(app, settings.chaos_admin_token.get_secret_value())
    metrics.install(
        app,
        version=__version__,
        revision=settings.container_app_revision,
        chaos_enabled=lambda: chaos.chaos_state().enabled,
    )
    if not settings.instrumentation_enabled:
        return
    app.add_middleware(metrics.MetricsMiddleware)
    resource = tracing.build_resource(
        version=__version__,
        environment=settings.deployment_environment,
        revision=settings.container_app_revision,
        replica=settings.container_app_replica_name,
    )
    exporters = tracing.choose_exporters(
        endpoint=settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint,
        protocol=settings.otel_exporter_otlp_protocol,
        exporters=settings.otel_traces_exporter,
    )
    tracing.setup_tracing(app, resource, exporters)  # wraps the whole stack: outermost


def build(settings: Settings) -> Runtime:
    """Configure NiceGUI's global app. Called once per process, before ui.run."""
    configure_logging(settings.log_level)
    store, storage_mode = open_store(settings)
    # The proxy times every store call; off with instrumentation, for the benchmark.
    service = LeaderboardService(metrics.TimedStore(store) if settings.instrumentation_enabled else store)
    readiness = health.Readiness(storage_mode=storage_mode, check=store.ping)
    readiness.extra["writer"] = store.is_writer

    def degraded() -> bool:
        # Serving from memory, or the last write failed (disk full, read-only).
        return readiness.storage_mode == "memory" or store.degraded is not None

    readiness.extra["degraded"] = degraded
    storage_metrics.bind(
        ready=store.healthy,
        degraded=degraded,
        writer=store.is_writer,
    )

    app.state.leaderboard = service
    app.state.readiness = readiness
    app.title = "Drafty Bird"
    app.version = __version__
    install_error_handlers(app)
    # add_middleware wraps outermost last: the access log sees the 413s too.
    app.add_middleware(
        RateLimitMiddleware,
        limits={("POST", "/score"): settings.rate_limit_score, ("POST", "/game-start"): settings.rate_limit_game_start},
    )
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(chaos.ChaosMiddleware)  # inside the access log: its 503 carries the request id
    if settings.instrumentation_enabled:
        app.add_middleware(tracing.RequestIdSpanMiddleware)
    app.add_middleware(AccessLogMiddleware)
    install_observability(settings)
    app.include_router(health.router)
    app.include_router(api.router)
    register_pages(service, test_hooks=settings.game_test_hooks)

    stop_background = asyncio.Event()
    background: list[asyncio.Task] = []

    def on_writer_change(held: bool) -> None:
        log.warning("writer role changed", extra={"writer": held, "writer_id": store.writer_id})
        if held and not store.schema_current:
            # A newer release waited for the lease to migrate; writes stay refused until done.
            background.append(asyncio.create_task(store.ensure_schema()))

    async def reopen_storage() -> None:
        # A file that was locked, full or corrupt at start-up: retry (read-only checks first,
        # so a corrupt file is still never written), and become ready once it opens.
        while store.unavailable is not None:
            try:
                await asyncio.wait_for(stop_background.wait(), settings.storage_reopen_s)
                return
            except TimeoutError:
                pass
            fresh, mode = await asyncio.to_thread(open_store, settings)
            if fresh.unavailable is None:
                store.adopt(fresh)
                readiness.storage_mode = mode
                log.warning("storage recovered", extra={"storage_mode": mode})
                if store.lease is not None:
                    background.append(asyncio.create_task(lease.keep(store.lease, on_writer_change, stop_background)))
            else:
                fresh.close()

    async def startup() -> None:
        if store.lease is not None:
            background.append(asyncio.create_task(lease.keep(store.lease, on_writer_change, stop_background)))
        if store.unavailable is not None:
            background.append(asyncio.create_task(reopen_storage()))
        if settings.backup_interval_s and storage_mode == "sqlite":
            target = settings.backup_dir or settings.score_db_path.parent / "backups"
            background.append(
                asyncio.create_task(
                    backup.periodic(
                        settings.score_db_path,
                        target,
                        settings.backup_keep,
                        settings.backup_interval_s,
                        is_writer=store.is_writer,
                        stop=stop_background,
                    )
                )
            )
        lifecycle.install_sigterm(on_signal=lambda: setattr(readiness, "draining", True), drain=drain)

    async def hand_over_writes() -> None:
        if store.lease is not None:
            store.lease.stop_writing()
            await store.drain_writes()
            await asyncio.to_thread(store.lease.release)

    async def drain() -> None:
        log.info("SIGTERM: draining", extra={"delay_s": settings.shutdown_delay_s})
        await hand_over_writes()
        await asyncio.sleep(settings.shutdown_delay_s)
        app.shutdown()  # uvicorn stops listening, finishes in-flight requests, then runs shutdown()

    async def shutdown() -> None:
        readiness.draining = True
        await hand_over_writes()  # no-op after SIGTERM; covers Ctrl+C
        stop_background.set()
        await asyncio.gather(*background, return_exceptions=True)
        store.close()
        await tracing.shutdown_tracing()  # last: spans of the drain get exported too
        log.info("shutdown complete")

    app.on_startup(startup)
    app.on_shutdown(shutdown)
    app.on_startup(lambda: metrics.prime_high_score(service.high_score))
    log.info("starting", extra={"version": __version__, "storage_mode": storage_mode, "port": settings.port})
    return Runtime(settings, store, service, readiness)


def serve() -> None:
    try:
        settings = load_settings()
        runtime = build(settings)
    except (SettingsError, StartupError) as exc:
        print(f"drafty-bird: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    ui.run(
        host=runtime.settings.host,
        port=runtime.settings.port,
        title="Drafty Bird",
        reload=False,
        show=False,
        show_welcome_message=False,
        fastapi_docs=True,
        tailwind=False,
        # Our JSON handler formats uvicorn's lines; our middleware writes the access log.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # X-Forwarded-For is believed only from these peers (rate limits, access log).
        forwarded_allow_ips=runtime.settings.trusted_proxies,
    )
