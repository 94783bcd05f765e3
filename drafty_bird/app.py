"""Wires the service onto NiceGUI's FastAPI app and runs it.

Start-up, in order: settings, logs, storage (migrate + check), routes and pages, serve.
Shutdown, in order: drop readiness, let uvicorn drain in-flight requests, close storage.
"""

import logging
import sys
from dataclasses import dataclass

from nicegui import app, ui
from sqlalchemy.exc import SQLAlchemyError

from drafty_bird import __version__, api
from drafty_bird.data.engine import StorageCorrupt, make_engine, migrate, prepare_sqlite_file, quick_check
from drafty_bird.data.store import ScoreStore
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops import health
from drafty_bird.ops import chaos, chaos_admin, metrics, tracing
from drafty_bird.ops.access import AccessLogMiddleware
from drafty_bird.ops.body_limit import BodySizeLimitMiddleware
from drafty_bird.ops.errors import install_error_handlers
from drafty_bird.ops.logging import configure_logging
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
    """The configured DB, migrated and checked; or memory when STORAGE_FALLBACK=memory."""
    try:
        if not settings.database_url:
            prepare_sqlite_file(settings.score_db_path)
        engine = make_engine(
            settings.db_url,
            journal_mode=settings.sqlite_journal_mode,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )
        migrate(engine)
        quick_check(engine)
        return ScoreStore(engine), engine.dialect.name
    except (OSError, SQLAlchemyError, StorageCorrupt) as exc:
        where = "DATABASE_URL" if settings.database_url else f"SCORE_DB_PATH={settings.score_db_path}"
        if settings.storage_fallback != "memory":
            raise StartupError(f"storage unusable ({where}): {type(exc).__name__}: {exc}".splitlines()[0]) from None
        log.error("storage unusable, serving from memory", extra={"where": where, "error": str(exc)})
        engine = make_engine("sqlite://")
        migrate(engine)
        return ScoreStore(engine), "memory"


def install_observability(settings: Settings) -> None:
    """Chaos, /metrics, the metrics middleware (outside the access log) and server spans."""
    chaos.configure(settings.chaos)
    if settings.chaos_admin_token is not None:
        chaos_admin.register(app, settings.chaos_admin_token.get_secret_value())
    metrics.install(
        app, version=__version__, revision=settings.container_app_revision, chaos_enabled=lambda: chaos.chaos_state().enabled
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

    app.state.leaderboard = service
    app.state.readiness = readiness
    app.title = "Drafty Bird"
    app.version = __version__
    install_error_handlers(app)
    # add_middleware wraps outermost last: the access log sees the 413s too.
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(chaos.ChaosMiddleware)  # inside the access log: its 503 carries the request id
    if settings.instrumentation_enabled:
        app.add_middleware(tracing.RequestIdSpanMiddleware)
    app.add_middleware(AccessLogMiddleware)
    install_observability(settings)
    app.include_router(health.router)
    app.include_router(api.router)
    register_pages(service)

    async def shutdown() -> None:
        readiness.draining = True
        store.close()
        await tracing.shutdown_tracing()  # last: spans of the drain get exported too
        log.info("shutdown complete")

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
    )
