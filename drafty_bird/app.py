"""Wires the service onto NiceGUI's FastAPI app and runs it.

Start-up: settings, logs, storage (ops.lifecycle.Lifecycle.open), routes and pages,
serve; once serving, Lifecycle.start. Shutdown, step by step: ops/lifecycle.py.
"""

import logging
import sys
from typing import Any

from nicegui import app, background_tasks, core, ui

from drafty_bird import __version__, api
from drafty_bird.leaderboard import LeaderboardService
from drafty_bird.ops import (
    chaos,
    chaos_admin,
    client_log,
    docs,
    fast_path,
    health,
    metrics,
    metrics_endpoint,
    pages,
    runtime,
    socket_limits,
    storage_metrics,
    tracing,
)
from drafty_bird.ops.access import AccessLogMiddleware
from drafty_bird.ops.body_limit import BodySizeLimitMiddleware
from drafty_bird.ops.errors import install_error_handlers
from drafty_bird.ops.front_door import FrontDoorOnlyMiddleware
from drafty_bird.ops.lifecycle import Lifecycle
from drafty_bird.ops.listen import EXIT_CANNOT_LISTEN, CannotListen, check_listen
from drafty_bird.ops.logging import configure_logging
from drafty_bird.ops.metrics_middleware import MetricsMiddleware
from drafty_bird.ops.page_release import PageReleaseMiddleware
from drafty_bird.ops.ratelimit import RateLimitMiddleware
from drafty_bird.ops.security_headers import SecurityHeadersMiddleware
from drafty_bird.ops.timed_store import TimedStore
from drafty_bird.settings import Settings, SettingsError, load_settings
from drafty_bird.ui.pages import register_pages
from drafty_bird.verification import ScoreVerifier

log = logging.getLogger(__name__)

# ACA's default termination grace period is 30 s; finish well inside it.
GRACEFUL_SHUTDOWN_S = 8


def install_observability(settings: Settings) -> None:
    """Chaos, /metrics and server spans."""
    chaos.configure(settings.chaos)
    if settings.chaos_admin_token is not None:
        chaos_admin.register(app, settings.chaos_admin_token.get_secret_value(), settings.chaos_auth_failure_limit)
    metrics_endpoint.install(
        app,
        public=settings.metrics_public,
        version=__version__,
        revision=settings.container_app_revision,
        chaos_enabled=lambda: chaos.chaos_state().enabled,
    )
    if not settings.instrumentation_enabled:
        return
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


# Exact paths that take the fast path (ops/fast_path.py); everything else takes NiceGUI's full stack.
API_PATHS = (*(getattr(route, "path", "") for route in api.router.routes), "/readyz", "/metrics", chaos.CONTROL_PATH)
PROBE_PATHS = ("/healthz",)
# The game page too: it never redirects and is no /_nicegui asset, and each load costs less
# without NiceGUI's two BaseHTTPMiddleware (and its client keeps fewer request objects alive).
PAGE_PATHS = ("/",)


def add_request_layers(target: Any, settings: Settings) -> None:
    """Our pure-ASGI layers. add_middleware wraps outermost last: the access log sees the 413s too."""
    target.add_middleware(health.LivenessMiddleware)  # innermost two: only FastAPI's routing is skipped
    target.add_middleware(api.CachedLeaderboardMiddleware)
    target.add_middleware(PageReleaseMiddleware, paths=PAGE_PATHS)  # see ops/page_release.py
    target.add_middleware(
        RateLimitMiddleware,
        limits={("POST", "/score"): settings.rate_limit_score, ("POST", "/game-start"): settings.rate_limit_game_start},
    )
    target.add_middleware(BodySizeLimitMiddleware)
    target.add_middleware(
        pages.PageCapacityMiddleware,
        max_pages=settings.max_pages,
        max_sockets_per_client=settings.max_sockets_per_client,
        pages=metrics_endpoint.all_clients,
        page_rate_limit=settings.rate_limit_page,
    )
    target.add_middleware(chaos.ChaosMiddleware)  # inside the access log: its 503 carries the request id
    if settings.instrumentation_enabled:
        target.add_middleware(tracing.RequestIdSpanMiddleware)
    target.add_middleware(AccessLogMiddleware)
    if settings.front_door_id:
        # Outside the access log (a scan of the origin must not flood it); metrics still count the 403s.
        target.add_middleware(FrontDoorOnlyMiddleware, front_door_id=settings.front_door_id)
    target.add_middleware(SecurityHeadersMiddleware)  # outside the access log: every answer carries them
    if settings.instrumentation_enabled:
        target.add_middleware(MetricsMiddleware)  # outside the access log: counts every answer


def build(settings: Settings) -> Lifecycle:
    """Configure NiceGUI's global app. Called once per process, before ui.run."""
    configure_logging(settings.log_level)
    # What a page's socket can make us log: capped, never ERROR, rate-limited (issue 17).
    client_log.install_budgets(settings.log_flood_limit)
    client_log.guard_socket(core.sio)
    lifecycle = Lifecycle.open(settings, stop_listening=app.shutdown, flush=tracing.shutdown_tracing)
    store = lifecycle.store
    store.on_batch = metrics.WRITE_BATCH.observe
    # The proxy times every store call; off with instrumentation, for the benchmark.
    verifier = ScoreVerifier.from_settings(
        mode=settings.score_verification,
        secret=settings.run_token_secret.get_secret_value() if settings.run_token_secret else None,
        previous=settings.run_token_secret_previous.get_secret_value() if settings.run_token_secret_previous else None,
        previous_until=settings.run_token_previous_until,
        ttl_s=settings.run_token_ttl_s,
    )
    service = LeaderboardService(
        TimedStore(store) if settings.instrumentation_enabled else store, events=metrics, verifier=verifier
    )
    storage_metrics.bind(ready=store.healthy, degraded=lifecycle.degraded, writer=store.is_writer)

    app.state.leaderboard = service
    app.state.readiness = lifecycle.readiness
    app.title = "Drafty Bird"
    app.version = __version__
    install_error_handlers(app)
    add_request_layers(app, settings)
    install_observability(settings)
    niceguis = list(app.router.routes)
    app.include_router(health.router)
    app.include_router(api.router)
    # Routes are tried in order and NiceGUI's came first (socket mount, assets): ours go
    # ahead. None of NiceGUI's matches an API path, so no answer changes; each API
    # request is just matched against fewer routes.
    app.router.routes[:] = [route for route in app.router.routes if route not in niceguis] + niceguis
    if settings.docs_enabled:  # off in production: no map of the API on the public ingress
        docs.install(app)  # /docs, /redoc, /openapi.json: assets served here, no CDN
    # Last, so it sees every layer above (and the tracing wrapper): API paths skip NiceGUI's page middleware.
    fast_path.install(app, api_paths=(*API_PATHS, *PAGE_PATHS), probe_paths=PROBE_PATHS)
    socket_limits.install()  # the page socket's largest message: 8 KiB, not socket.io's 1 MB
    register_pages(service, test_hooks=settings.game_test_hooks, push_interval_s=settings.board_push_interval_ms / 1000)

    async def top_changed_elsewhere() -> None:
        # Another replica's NOTIFY: the "data changed" signal drops our cached top before re-reading it.
        store.invalidate_top()
        await service.broadcast_top()

    lifecycle.follow_top_changes(top_changed_elsewhere)  # other replicas' scores reach this one's pages
    app.on_startup(lifecycle.start)
    app.on_startup(lambda: background_tasks.create(pages.watch_loop_lag(), name="loop-lag"))
    app.on_startup(lambda: background_tasks.create(client_log.report_dropped_forever(), name="log-drops"))
    app.on_startup(
        lambda: background_tasks.create(pages.prune_unconnected(settings.page_connect_timeout_s), name="prune-pages")
    )
    app.on_shutdown(lifecycle.stop)
    app.on_shutdown(verifier.close)  # the replay worker processes
    app.on_startup(lambda: metrics.prime_high_score(service.high_score))
    # The event loop's fixed costs per open page (ops/runtime.py, docs/PERFORMANCE.md "Open pages").
    runtime.use_fast_wait_for()
    runtime.tune_gc()
    runtime.measure_gc_pauses()
    app.on_startup(lambda: runtime.set_page_ping_interval(settings.page_ping_interval_s))
    app.on_startup(runtime.freeze_startup_objects)  # last: after the set-up above
    log.info(
        "starting",
        extra={"version": __version__, "storage_mode": lifecycle.readiness.storage_mode, "port": settings.port},
    )
    return lifecycle


def serve() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"drafty-bird: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        # Before build(): a second instance on a busy port must not open the DB or take the lease.
        check_listen(settings.host, settings.port)
        # The private metrics listener's socket is bound before storage is opened too.
        private_metrics = metrics_endpoint.bind_private(settings.metrics_port) if settings.metrics_port else None
    except CannotListen as exc:
        print(f"drafty-bird: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CANNOT_LISTEN) from None
    try:
        build(settings)
    except SettingsError as exc:
        print(f"drafty-bird: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if private_metrics is not None:
        app.on_startup(lambda: metrics_endpoint.serve_private(private_metrics))
    ui.run(
        host=settings.host,
        port=settings.port,
        title="Drafty Bird",
        reconnect_timeout=settings.page_reconnect_timeout_s,
        reload=False,
        show=False,
        show_welcome_message=False,
        fastapi_docs=False,  # ops/docs.py serves them without a CDN
        tailwind=False,
        # Our JSON handler formats uvicorn's lines; our middleware writes the access log.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # X-Forwarded-For is believed only from these peers (rate limits, access log).
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,  # no "server: uvicorn": nothing to fingerprint
        # A bigger websocket message is refused from its frame header (close 1009), unread.
        ws_max_size=socket_limits.MAX_MESSAGE_BYTES,
        # No websocket-level pings from uvicorn (every 20 s per page, parsed in pure Python by
        # wsproto): engine.io already pings every page (0.8 x PAGE_RECONNECT_TIMEOUT_S) and
        # drops the dead ones (docs/PERFORMANCE.md "Open pages").
        ws_ping_interval=None,
        # No permessage-deflate: every browser asks for it, and then each message is compressed
        # once per page (a top-10 push to 1,000 pages: 1,000 zlib runs) and each socket keeps its
        # own compressor (~100 KB). The messages are small; the one event loop is what is scarce.
        ws_per_message_deflate=False,
    )
