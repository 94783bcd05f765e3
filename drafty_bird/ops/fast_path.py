"""The API, the game page and the liveness probe skip NiceGUI's page middleware (pure ASGI dispatch).

ui.run wraps the whole app in two BaseHTTPMiddleware layers: cache headers on
/_nicegui/<version>/ assets, and X-Forwarded-Prefix on relative redirects.
BaseHTTPMiddleware runs each request through a task group and memory streams, which
costs more than the rest of our stack together, and neither can change an answer of the
exact paths given (no /_nicegui path, no relative Location header: the game page at /
never redirects). So requests for those paths go to a second stack built from the same
layers, in the same order, minus those two; GZip stays there (bodies of 500 bytes and
more are compressed when asked, as before; ops/compression.py compresses a repeated JSON
body once). When nothing exports spans, that stack's server spans come from
tracing.UnrecordedServerSpanMiddleware instead of contrib's middleware (ids only, as
before); with an exporter, the sampler is asked first and contrib's runs only for the
requests it keeps (tracing.SampledFirstMiddleware), no longer matching every route to
name each span. /healthz also skips GZip (its 15-byte body is never compressed) and the OTel
server-span middleware (probes are excluded from tracing anyway). Stacks whose server
span is never recorded (probes, unrecorded spans) also skip the layer that copies the
request id onto a recording span. Every other path
(assets, socket.io, unknown paths, websockets, lifespan) takes the full stack.
"""

from collections.abc import Callable, Iterable
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.ops import tracing
from drafty_bird.ops.compression import RememberingGZipMiddleware

PAGE_ONLY = frozenset({"SetCacheControlMiddleware", "RedirectWithPrefixMiddleware"})
# Puts the request id on a recording server span: a stack that never records one skips it.
RECORDING_ONLY = frozenset({"RequestIdSpanMiddleware"})
PROBE_SKIPS = PAGE_ONLY | RECORDING_ONLY | {"GZipMiddleware"}


class FastPathDispatch:
    """Exact path -> its own stack; anything else -> the full stack."""

    def __init__(self, full: ASGIApp, stacks: dict[str, ASGIApp]) -> None:
        self.full = full
        self.stacks = stacks
        # FastAPI walks .app from the stack's top to find contrib's OTel middleware; without
        # it, FastAPI's native telemetry would open a second SERVER span around ours.
        self.app = full

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            stack = self.stacks.get(scope["path"])
            if stack is not None:
                await stack(scope, receive, send)
                return
        await self.full(scope, receive, send)


def _without(middleware: list[Middleware], names: frozenset[str]) -> list[Middleware]:
    return [m for m in middleware if getattr(m.cls, "__name__", "") not in names]


def _remembering_gzip(middleware: list[Middleware]) -> list[Middleware]:
    """NiceGUI's GZip, same settings, keeping the compressed form of repeated bodies (ops/compression.py)."""
    swapped: list[Middleware] = []
    for m in middleware:
        factory: Any = m.cls  # typed by Starlette as a generic factory
        args: Any = m.args
        kwargs: Any = m.kwargs
        swapped.append(Middleware(RememberingGZipMiddleware, *args, **kwargs) if factory is GZipMiddleware else m)
    return swapped


def install(app: Any, *, api_paths: Iterable[str], probe_paths: Iterable[str]) -> None:
    """Call after every add_middleware and after tracing.setup_tracing (before serving).

    The stacks are built where Starlette builds its own: on the first request, once
    ui.run has added its middleware.
    """
    traced_build: Callable[[], ASGIApp] = app.build_middleware_stack  # FastAPIInstrumentor's, if tracing is on
    untraced_build: Callable[[], ASGIApp] = type(app).build_middleware_stack.__get__(app)
    api, probes = tuple(api_paths), tuple(probe_paths)

    def build_with(build: Callable[[], ASGIApp], middleware: list[Middleware]) -> ASGIApp:
        everything = app.user_middleware
        app.user_middleware = middleware
        try:
            return build()
        finally:
            app.user_middleware = everything

    def build_middleware_stack() -> ASGIApp:
        full = traced_build()
        api_layers = _remembering_gzip(_without(app.user_middleware, PAGE_ONLY))
        unrecorded_layers = _without(api_layers, RECORDING_ONLY)
        unrecorded = tracing.unrecorded_provider()
        exporting = tracing.exporting_provider()
        api_stack: ASGIApp
        if unrecorded is not None:  # nothing exports: ids only, without contrib's per-request work
            api_stack = tracing.UnrecordedServerSpanMiddleware(
                build_with(untraced_build, unrecorded_layers), unrecorded
            )
        else:
            api_stack = build_with(traced_build, api_layers)
            tracing.remember_span_details(api_stack, api)  # exact paths: the route is known without matching
            if exporting is not None:  # contrib's work only for the requests the sampler keeps
                dropped = tracing.UnrecordedServerSpanMiddleware(
                    build_with(untraced_build, unrecorded_layers), exporting
                )
                api_stack = tracing.SampledFirstMiddleware(api_stack, dropped, exporting)
        probe_stack = build_with(untraced_build, _without(app.user_middleware, PROBE_SKIPS))
        stacks = {path: api_stack for path in api} | {path: probe_stack for path in probes}
        return FastPathDispatch(full, stacks)

    app.build_middleware_stack = build_middleware_stack
