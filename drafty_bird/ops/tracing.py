"""OpenTelemetry traces: resource, exporter choice, FastAPI server spans, flush on shutdown.

Exports only when an OTLP endpoint is configured (or OTEL_TRACES_EXPORTER=console);
otherwise spans are not recorded at all, only their ids go into the logs. The original
app printed ~1.8 KB of spans per request to stdout; this one never does by default.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, cast

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware, asgi_getter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.ops.logging import request_id_var

log = logging.getLogger(__name__)

SERVICE_NAME = "drafty-bird"
# Regexes searched in the full URL. Probes and scrapes every few seconds, and NiceGUI's
# assets and websocket (hundreds of spans per session), would drown the useful traces.
EXCLUDED_URLS = r"://[^/]+/(healthz|readyz|metrics)/?(\?|$),://[^/]+/_nicegui"
FLUSH_TIMEOUT_MS = 5000

_provider: TracerProvider | None = None
_exporting = False


def build_resource(*, version: str, environment: str, revision: str = "", replica: str = "") -> Resource:
    attributes: dict[str, Any] = {
        "service.name": SERVICE_NAME,
        "service.version": version,
        "deployment.environment": environment,
        "deployment.environment.name": environment,  # the newer semantic-convention name
    }
    if revision:
        attributes["cloud.platform"] = "azure_container_apps"
        attributes["azure.container_app.revision"] = revision
    if replica:
        attributes["azure.container_app.replica"] = replica
        attributes["service.instance.id"] = replica
    return Resource.create(attributes)


def choose_exporters(*, endpoint: str | None, protocol: str, exporters: str) -> list[SpanExporter]:
    """OTEL_TRACES_EXPORTER (otlp|console|none, comma-separated) and the endpoint decide."""
    wanted = {name.strip().lower() for name in exporters.split(",") if name.strip()}
    chosen: list[SpanExporter] = []
    if endpoint and "otlp" in wanted:
        # The exporters read the endpoint, headers and timeouts from the standard OTEL_* variables.
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            chosen.append(GrpcExporter())
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

            chosen.append(HttpExporter())
    if "console" in wanted:
        chosen.append(ConsoleSpanExporter())
    return chosen


def setup_tracing(app: Any, resource: Resource, exporters: list[SpanExporter]) -> TracerProvider:
    """Install the global tracer provider and the FastAPI server spans. Call before ui.run."""
    global _provider, _exporting
    # Nothing exports: record nothing. Unsampled spans still get ids, so logs keep
    # trace_id/span_id (and pass on an incoming traceparent) at a fraction of the cost.
    provider = TracerProvider(
        resource=resource, sampler=None if exporters else ALWAYS_OFF, id_generator=PresetTraceIdGenerator()
    )
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider, _exporting = provider, bool(exporters)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        # HTTP metrics come from prometheus-client (ops/metrics.py); OTel's would be duplicates.
        meter_provider=NoOpMeterProvider(),
        excluded_urls=EXCLUDED_URLS,
        # Per-message "http send/receive" child spans add nothing an operator reads.
        exclude_spans=["receive", "send"],
    )
    log.info(
        "tracing configured",
        extra={"exporters": [type(e).__name__ for e in exporters] or ["none"]},
    )
    return provider


async def shutdown_tracing() -> None:
    """Flush pending spans and stop exporting; the shutdown sequence awaits this."""
    provider = _provider
    if provider is None:
        return

    def flush() -> None:
        provider.force_flush(FLUSH_TIMEOUT_MS)
        provider.shutdown()

    await asyncio.to_thread(flush)  # an export can take seconds: not on the event loop


def unrecorded_provider() -> TracerProvider | None:
    """The provider, when tracing is on and nothing can ever be recorded (no exporter: ALWAYS_OFF)."""
    if _provider is None or _exporting:
        return None
    return _provider


def exporting_provider() -> TracerProvider | None:
    """The provider, when tracing is on and spans are exported (the sampler decides which)."""
    return _provider if _exporting else None


# A root trace id chosen before the server span is started, as a one-use box: a task the
# request spawns copies the context, and must not start a second trace under the same id.
_preset_trace_id: ContextVar[list[int] | None] = ContextVar("preset_trace_id", default=None)


class PresetTraceIdGenerator(RandomIdGenerator):
    """Random ids, except a root span may take the trace id SampledFirstMiddleware decided on."""

    def generate_trace_id(self) -> int:
        box = _preset_trace_id.get()
        if box:
            return box.pop()
        return super().generate_trace_id()


def _carriers() -> frozenset[bytes]:
    """The headers the global propagator reads (traceparent, tracestate, baggage by default)."""
    return frozenset(name.encode("latin-1") for name in propagate.get_global_textmap().fields)


def _incoming_parent(scope: Scope, carriers: frozenset[bytes]) -> context.Context:
    """The request's parent context, read as contrib reads it; most requests carry none."""
    if any(name in carriers for name, _ in scope["headers"]):
        return propagate.extract(cast(dict[str, Any], scope), getter=asgi_getter)
    return context.get_current()


class UnrecordedServerSpanMiddleware:
    """The API's server spans that are not recorded (pure ASGI, where contrib's middleware would be).

    With no exporter the sampler is ALWAYS_OFF, and with one it drops most requests
    (SampledFirstMiddleware asks it first). contrib's middleware would gather such a
    request's attributes, match its route and feed no-op metrics for a span that is never
    recorded, about a third of an API request's CPU. What an unrecorded span gives is kept,
    from the provider's id generator and the global propagator: a span current while the
    request runs, with a fresh span id under an incoming traceparent's trace id (or a new
    one), so log lines carry those ids and the service's spans are its children.

    The span is the SDK's own answer for a dropped span (a NonRecordingSpan: not sampled,
    the parent's trace state, the random-trace-id flag as the SDK sets it), built here
    without Tracer.start_span, which asked the sampler a second time: 2.2 us a request
    instead of 3.5, and 3.6 instead of 6.2 behind SampledFirstMiddleware, in process
    (docs/PERFORMANCE.md, fifth round). test_tracing holds it equal to the SDK's span.
    """

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        self.app = app
        self.id_generator = provider.id_generator
        self.carriers = _carriers()
        random_ids = self.id_generator.is_trace_id_random()
        self.root_flags = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID if random_ids else trace.TraceFlags.DEFAULT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = _incoming_parent(scope, self.carriers)
        parent_span = trace.get_current_span(parent).get_span_context()
        trace_id = parent_span.trace_id if parent_span.is_valid else self.id_generator.generate_trace_id()
        await self.serve(scope, receive, send, parent, parent_span, trace_id)

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parent: context.Context,
        parent_span: trace.SpanContext,
        trace_id: int,
    ) -> None:
        """Run the request under an unrecorded span in this trace (the sampler has dropped it)."""
        if parent_span.is_valid:  # as the SDK: the parent's trace state and random-id flag
            random_id = parent_span.trace_flags.random_trace_id
            flags = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID if random_id else trace.TraceFlags.DEFAULT)
            state = parent_span.trace_state
        else:
            flags, state = self.root_flags, None
        span_context = trace.SpanContext(
            trace_id, self.id_generator.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=state
        )
        token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context), parent))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


class SampledFirstMiddleware:
    """With an exporter: contrib's server-span middleware only for the requests the sampler keeps.

    contrib's middleware gathers a request's attributes and matches its route before the
    sampler is asked (~180-220 us per API request), so at 10% sampling nine requests in ten
    pay for a span that is dropped. Here the provider's own sampler decides first, on the
    same inputs the SDK gives it for a root or a child of an incoming traceparent (the
    trace id, the parent, the kind; no attributes). A kept request goes through contrib's
    middleware under that very trace id (PresetTraceIdGenerator), so the SDK decides the
    same and the span is exported as before; a dropped one gets the unrecorded server span.
    A sampler that reads span attributes would decide without them here: ours never do.
    """

    def __init__(self, recorded: ASGIApp, unrecorded: UnrecordedServerSpanMiddleware, provider: TracerProvider) -> None:
        self.recorded = recorded
        self.unrecorded = unrecorded
        self.sampler = provider.sampler
        self.id_generator = provider.id_generator
        self.carriers = _carriers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.recorded(scope, receive, send)
            return
        parent = _incoming_parent(scope, self.carriers)
        parent_span = trace.get_current_span(parent).get_span_context()
        box: list[int] | None = None
        if parent_span.is_valid:
            trace_id = parent_span.trace_id
        else:
            trace_id = RandomIdGenerator.generate_trace_id(self.id_generator)
            box = [trace_id]
        name = f"{scope['method']} {scope['path']}"
        decision = self.sampler.should_sample(parent, trace_id, name, trace.SpanKind.SERVER).decision
        if not decision.is_recording():
            await self.unrecorded.serve(scope, receive, send, parent, parent_span, trace_id)
            return
        token = _preset_trace_id.set(box)
        try:
            await self.recorded(scope, receive, send)
        finally:
            _preset_trace_id.reset(token)


# Methods whose span details may be remembered: the method is client input, any token parses.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _RememberedSpanDetails:
    """contrib's span name and http.route for a fixed set of exact paths, worked out once each.

    contrib's FastAPI instrumentation finds http.route by matching the request against
    every route of the app (NiceGUI's included) on every request, before routing does it
    again. For an exact path the answer depends only on the scope's type, method and path
    (the routes are fixed once serving), so it is kept; any other request is asked as before.
    """

    def __init__(self, compute: Callable[[Any], tuple[str, dict[str, Any]]], paths: frozenset[str]) -> None:
        self.compute = compute
        self.paths = paths
        self.known: dict[tuple[str, str, str, str], tuple[str, dict[str, Any]]] = {}

    def __call__(self, scope: Scope) -> tuple[str, dict[str, Any]]:
        method = scope.get("method", "")
        if scope["path"] not in self.paths or method not in _KNOWN_METHODS:
            return self.compute(scope)
        key = (scope["type"], method, scope["path"], scope.get("root_path", ""))
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = self.compute(scope)
        name, attributes = found
        return name, dict(attributes)  # the middleware's own copy, as a fresh answer would be


def remember_span_details(stack: Any, paths: Iterable[str]) -> None:
    """In a built middleware stack, let contrib's server-span middleware remember the span
    details of these exact paths (see _RememberedSpanDetails). No-op without tracing."""
    seen: set[int] = set()
    layer = stack
    while layer is not None and id(layer) not in seen:
        seen.add(id(layer))
        if isinstance(layer, OpenTelemetryMiddleware):
            layer.default_span_details = _RememberedSpanDetails(layer.default_span_details, frozenset(paths))
        layer = getattr(layer, "app", None)


class RequestIdSpanMiddleware:
    """Puts the access log's request id on the server span (pure ASGI, inside the access log)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            span = trace.get_current_span()
            if span.is_recording():
                # Same key as the JSON log field, so one search term finds both.
                span.set_attribute("request_id", request_id_var.get() or "")
        await self.app(scope, receive, send)
