"""Traces from the real server arrive at a real OTLP receiver with the documented names and attributes."""

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBasedTraceIdRatio
from starlette.types import Receive, Scope, Send

from drafty_bird.data.store import TOP_CACHE_TTL_S
from drafty_bird.ops import tracing
from tests.aio import run_async
from tests.ops.otlp_receiver import GrpcReceiver, HttpReceiver, ReceivedSpan
from tests.ops.scrape import scrape, value
from tests.server import RunningServer, start_server, wait_until

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
PLAIN = {"RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}


def traced_env(receiver_endpoint: str, protocol: str = "http/protobuf", **extra: str) -> dict[str, str]:
    return {
        **PLAIN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans leave quickly, so polling is short
        "DEPLOYMENT_ENVIRONMENT": "staging",
        "CONTAINER_APP_REVISION": "drafty-bird--rev7",
        "CONTAINER_APP_REPLICA_NAME": "drafty-bird--rev7-abc12",
        **extra,
    }


def by_request_id(spans: list[ReceivedSpan], request_id: str) -> ReceivedSpan:
    (server_span,) = [s for s in spans if s.kind == SERVER_KIND and s.attributes.get("request_id") == request_id]
    return server_span


def children(spans: list[ReceivedSpan], parent: ReceivedSpan, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.trace_id == parent.trace_id and s.parent_span_id == parent.span_id and s.name == name]


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced(receiver: HttpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    chaos = {
        "CHAOS_ENABLED": "true",
        "CHAOS_ROUTES": "/game-start",
        "CHAOS_ERROR_RATE": "0.5",
        "CHAOS_LATENCY_MS_P50": "20",
        "CHAOS_LATENCY_MS_P99": "40",
    }
    with start_server(tmp_path_factory.mktemp("traced"), env=traced_env(receiver.endpoint, **chaos)) as running:
        yield running


def test_score_submit_spans_carry_score_result_and_request_id(traced: RunningServer, receiver: HttpReceiver) -> None:
    response = httpx.post(
        traced.url + "/score", json={"score": 12, "run_id": "trace-run-1"}, headers={"x-request-id": "trace-req-1"}
    )
    assert response.status_code == 201
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-req-1" for s in receiver.snapshot()),
        15,
        message="server span",
    )
    spans = receiver.snapshot()
    server_span = by_request_id(spans, "trace-req-1")
    assert server_span.name == "POST /score"
    wait_until(lambda: children(receiver.snapshot(), server_span, "score.submit"), 10, message="score.submit span")
    (submit,) = children(receiver.snapshot(), server_span, "score.submit")
    assert submit.attributes["score"] == 12 and submit.attributes["result"] == "stored"

    assert (
        httpx.post(
            traced.url + "/score", json={"score": 12, "run_id": "trace-run-1"}, headers={"x-request-id": "trace-req-2"}
        ).status_code
        == 200
    )
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-req-2" for s in receiver.snapshot()), 15, message="span"
    )
    retry = by_request_id(receiver.snapshot(), "trace-req-2")
    wait_until(lambda: children(receiver.snapshot(), retry, "score.submit"), 10, message="score.submit span")
    assert children(receiver.snapshot(), retry, "score.submit")[0].attributes["result"] == "duplicate"


def test_resource_names_service_version_environment_and_aca_revision(
    traced: RunningServer, receiver: HttpReceiver
) -> None:
    httpx.get(traced.url + "/leaderboard", headers={"x-request-id": "trace-res-1"})
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-res-1" for s in receiver.snapshot()), 15, message="span"
    )
    resource = by_request_id(receiver.snapshot(), "trace-res-1").resource
    assert resource["service.name"] == "drafty-bird"
    assert resource["service.version"] == "0.1.0"
    assert resource["deployment.environment"] == "staging"
    assert resource["azure.container_app.revision"] == "drafty-bird--rev7"
    assert resource["azure.container_app.replica"] == "drafty-bird--rev7-abc12"
    assert resource["service.instance.id"] == "drafty-bird--rev7-abc12"
    # The same revision names the build in the metrics.
    assert value(scrape(traced.url), "drafty_bird_build_info", version="0.1.0", revision="drafty-bird--rev7") == 1


def test_leaderboard_query_span(traced: RunningServer, receiver: HttpReceiver) -> None:
    httpx.post(traced.url + "/score", json={"score": 3})
    time.sleep(TOP_CACHE_TTL_S + 0.05)  # no page is open, so nothing refills the board: a miss
    assert httpx.get(traced.url + "/leaderboard?limit=5", headers={"x-request-id": "trace-lb-1"}).status_code == 200
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-lb-1" for s in receiver.snapshot()), 15, message="span"
    )
    server_span = by_request_id(receiver.snapshot(), "trace-lb-1")
    assert server_span.name == "GET /leaderboard"
    wait_until(lambda: children(receiver.snapshot(), server_span, "leaderboard.query"), 10, message="leaderboard.query")
    (query,) = children(receiver.snapshot(), server_span, "leaderboard.query")
    assert query.attributes["limit"] == 5 and query.attributes["result"] >= 1
    assert "leaderboard.cached" not in server_span.attributes

    # Asked again while the board is cached (0.25 s after a query): answered before the
    # route, and the span says so. A loaded machine may let the cache lapse: ask a few times.
    for i in range(5):
        assert httpx.get(traced.url + "/leaderboard?limit=5", headers={"x-request-id": f"trace-lb-2{i}"}).is_success
    wait_until(
        lambda: sum(s.attributes.get("request_id", "").startswith("trace-lb-2") for s in receiver.snapshot()) == 5,
        15,
        message="spans",
    )
    again = [s for s in receiver.snapshot() if s.attributes.get("request_id", "").startswith("trace-lb-2")]
    cached = next((s for s in again if s.attributes.get("leaderboard.cached")), None)
    assert cached is not None, "none of 5 requests in a row was answered from the cached board"
    assert cached.name == "GET /leaderboard" and cached.attributes["leaderboard.cached"] is True
    assert cached.attributes["http.route"] == "/leaderboard"
    assert children(receiver.snapshot(), cached, "leaderboard.query") == []


def test_chaos_inject_spans(traced: RunningServer, receiver: HttpReceiver) -> None:
    statuses = [
        httpx.post(traced.url + "/game-start", headers={"x-request-id": f"trace-chaos-{i}"}).status_code
        for i in range(16)
    ]
    assert set(statuses) == {202, 503}

    def injected() -> list[ReceivedSpan]:
        return [s for s in receiver.snapshot() if s.name == "chaos.inject"]

    wait_until(
        lambda: {s.attributes["chaos.type"] for s in injected()} == {"error", "latency"}, 15, message="both chaos types"
    )
    for span in injected():
        assert span.attributes["chaos.injected"] is True
        assert isinstance(span.attributes["chaos.latency_ms"], float)
    latencies = [s.attributes["chaos.latency_ms"] for s in injected() if s.attributes["chaos.type"] == "latency"]
    assert all(0 < ms <= 40 * 3 for ms in latencies), latencies
    # Each injection hangs under its request's server span.
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-chaos-0" for s in receiver.snapshot()), 15, message="span"
    )
    first = by_request_id(receiver.snapshot(), "trace-chaos-0")
    assert children(receiver.snapshot(), first, "chaos.inject")


def test_probes_metrics_and_nicegui_make_no_spans(traced: RunningServer, receiver: HttpReceiver) -> None:
    with httpx.Client(base_url=traced.url, timeout=10) as http:
        for path in ("/healthz", "/readyz", "/metrics", "/healthz?x=1"):
            assert http.get(path).status_code == 200
        page = http.get("/")
        assets = [part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("/_nicegui")]
        assert assets and http.get(assets[0]).status_code == 200
        http.get("/leaderboard", headers={"x-request-id": "trace-after-probes"})  # a marker that does export
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-after-probes" for s in receiver.snapshot()),
        15,
        message="span",
    )
    names = {s.name for s in receiver.snapshot() if s.kind == SERVER_KIND}
    assert "GET /" in names  # the page itself is traced
    assert not [n for n in names if any(word in n for word in ("healthz", "readyz", "metrics", "_nicegui"))], names
    assert not [s for s in receiver.snapshot() if s.name.endswith(("http send", "http receive"))]


def test_log_lines_carry_the_span_ids(traced: RunningServer, receiver: HttpReceiver) -> None:
    httpx.get(traced.url + "/leaderboard", headers={"x-request-id": "trace-log-1"})
    wait_until(
        lambda: any(s.attributes.get("request_id") == "trace-log-1" for s in receiver.snapshot()), 15, message="span"
    )
    server_span = by_request_id(receiver.snapshot(), "trace-log-1")
    (line,) = [ln for ln in traced.logs() if ln.get("request_id") == "trace-log-1" and ln.get("message") == "request"]
    assert (line["trace_id"], line["span_id"]) == (server_span.trace_id, server_span.span_id)


def test_spans_still_pending_are_flushed_on_shutdown(tmp_path: Path) -> None:
    """A 10-minute batch delay: the spans can only leave through shutdown_tracing()."""
    with HttpReceiver() as receiver:
        env = traced_env(receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="600000", SHUTDOWN_DELAY_S="0")
        with start_server(tmp_path, env=env) as running:
            assert httpx.get(running.url + "/leaderboard", headers={"x-request-id": "flush-1"}).status_code == 200
            assert receiver.snapshot() == []
            assert running.stop(signal.SIGTERM) == 0
        assert any(s.attributes.get("request_id") == "flush-1" for s in receiver.snapshot())


def test_grpc_protocol_is_honoured(tmp_path: Path) -> None:
    with (
        GrpcReceiver() as receiver,
        start_server(tmp_path, env=traced_env(receiver.endpoint, protocol="grpc")) as running,
    ):
        httpx.get(running.url + "/leaderboard", headers={"x-request-id": "grpc-1"})
        wait_until(
            lambda: any(s.attributes.get("request_id") == "grpc-1" for s in receiver.snapshot()), 15, message="span"
        )


def test_nothing_is_exported_or_printed_without_an_endpoint(tmp_path: Path) -> None:
    with start_server(tmp_path, env=PLAIN) as running:
        for _ in range(5):
            httpx.get(running.url + "/leaderboard", headers={"x-request-id": "quiet-1"})
        wait_until(lambda: [ln for ln in running.logs() if ln.get("request_id") == "quiet-1"], 5, message="log line")
        assert "SpanKind" not in running.raw_log() and '"span_id": "0x' not in running.raw_log()
        line = next(ln for ln in running.logs() if ln.get("request_id") == "quiet-1")
        assert len(line["trace_id"]) == 32  # ids still correlate logs, nothing leaves the process

        # The unrecorded server span still continues a caller's trace: its trace id, a span of its own.
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        for method, path in (("GET", "/leaderboard"), ("POST", "/score"), ("GET", "/")):
            request_id = f"tp-{method}{path.replace('/', '.')}"
            headers = {"traceparent": f"00-{trace_id}-{parent_id}-01", "x-request-id": request_id}
            body = {"score": 1} if method == "POST" else None
            assert httpx.request(method, running.url + path, json=body, headers=headers).status_code < 300
            wait_until(
                lambda h=headers: [ln for ln in running.logs() if ln.get("request_id") == h["x-request-id"]],
                5,
                message=f"log line of {path}",
            )
            line = next(ln for ln in running.logs() if ln.get("request_id") == headers["x-request-id"])
            assert line["trace_id"] == trace_id, (path, line)
            assert len(line["span_id"]) == 16 and line["span_id"] not in (parent_id, "0" * 16), (path, line)


def test_console_exporter_on_request(tmp_path: Path) -> None:
    with start_server(
        tmp_path, env={**PLAIN, "OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    ) as running:
        httpx.get(running.url + "/leaderboard")
        wait_until(lambda: '"name": "GET /leaderboard"' in running.raw_log(), 15, message="a console span")


def test_a_ratio_sampler_keeps_the_same_requests_it_would_have_kept(tmp_path: Path) -> None:
    """10%-style export (here 50%): the sampler is asked before contrib's middleware runs.

    A request is exported exactly when the sampler keeps its trace id, under that trace id:
    once (not sampled twice, 50% of 50%) and with the id its log line carries. An incoming
    traceparent decides for its children, as ParentBased does.
    """
    env = traced_env("", OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.5")
    bound = round(0.5 * (1 << 64))  # TraceIdRatioBased: kept when the low 64 bits are below this
    with HttpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        with start_server(tmp_path, env=env) as running, httpx.Client(base_url=running.url, timeout=10) as http:
            ids = [f"ratio-{i}" for i in range(120)]
            for i, request_id in enumerate(ids):
                if i % 3 == 2:
                    assert http.post("/score", json={"score": 1}, headers={"x-request-id": request_id}).status_code
                else:
                    assert http.get("/leaderboard", headers={"x-request-id": request_id}).status_code == 200
            wait_until(
                lambda: all(r in {ln.get("request_id") for ln in running.logs()} for r in ids), 10, message="logs"
            )
            lines = {ln["request_id"]: ln for ln in running.logs() if ln.get("message") == "request"}
            kept = {r for r in ids if int(lines[r]["trace_id"], 16) & ((1 << 64) - 1) < bound}
            assert 30 < len(kept) < 90, len(kept)  # 120 fair coins
            marker = [r for r in ids if r in kept][-1]
            wait_until(lambda: any(s.attributes.get("request_id") == marker for s in receiver.snapshot()), 15)
            # Requests sent one at a time: the batch holding the last has the earlier ones too.
            exported = {s.attributes.get("request_id"): s for s in receiver.snapshot() if s.kind == SERVER_KIND}
            assert set(exported) & set(ids) == kept
            for request_id in kept:
                span = exported[request_id]
                assert (span.trace_id, span.span_id) == (lines[request_id]["trace_id"], lines[request_id]["span_id"])
                assert span.name in {"GET /leaderboard", "POST /score"} and not span.parent_span_id

            trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
            for flags, request_id in (("00", "parent-dropped"), ("01", "parent-kept")):  # in this order
                headers = {"traceparent": f"00-{trace_id}-{parent_id}-{flags}", "x-request-id": request_id}
                assert http.get("/leaderboard", headers=headers).status_code == 200
            wait_until(lambda: any(s.attributes.get("request_id") == "parent-kept" for s in receiver.snapshot()), 15)
            (child,) = [s for s in receiver.snapshot() if s.attributes.get("request_id") == "parent-kept"]
            assert (child.trace_id, child.parent_span_id) == (trace_id, parent_id)
            assert not [s for s in receiver.snapshot() if s.attributes.get("request_id") == "parent-dropped"]
            dropped = next(ln for ln in running.logs() if ln.get("request_id") == "parent-dropped")
            assert dropped["trace_id"] == trace_id


def test_an_unrecorded_server_span_is_the_one_the_sdk_would_have_dropped() -> None:
    """UnrecordedServerSpanMiddleware builds its span without Tracer.start_span (cheaper):
    it must be the span the SDK itself gives a dropped request. Same trace id, flags and trace
    state, not recording, a fresh span id, current only while the request runs. Checked for a
    root and for incoming traceparents (sampled with a tracestate; not sampled with the
    random-trace-id flag), with no exporter (ALWAYS_OFF) and behind SampledFirstMiddleware
    (a ratio of 0, parent-based: a sampled parent is kept, so that one takes the recorded path)."""
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    cases = [
        {},
        {"traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=abc"},
        {"traceparent": f"00-{trace_id}-{parent_id}-02"},
    ]
    current: list[trace.Span] = []
    recorded: list[dict[str, str]] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        current.append(trace.get_current_span())

    async def contrib_stand_in(scope: Scope, receive: Receive, send: Send) -> None:
        recorded.append(dict((k.decode(), v.decode()) for k, v in scope["headers"]))

    no_exporter = TracerProvider(sampler=ALWAYS_OFF)
    ratio = TracerProvider(sampler=ParentBasedTraceIdRatio(0.0), id_generator=tracing.PresetTraceIdGenerator())
    setups: list[tuple[TracerProvider, tracing.UnrecordedServerSpanMiddleware | tracing.SampledFirstMiddleware]] = [
        (no_exporter, tracing.UnrecordedServerSpanMiddleware(endpoint, no_exporter)),
        (
            ratio,
            tracing.SampledFirstMiddleware(
                contrib_stand_in, tracing.UnrecordedServerSpanMiddleware(endpoint, ratio), ratio
            ),
        ),
    ]
    for provider, middleware in setups:
        for headers in cases:
            raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
            scope: Scope = {"type": "http", "method": "GET", "path": "/leaderboard", "headers": raw_headers}
            seen = len(current)
            run_async(middleware(scope, cast(Receive, None), cast(Send, None)))
            parent = propagate.extract(headers)
            sdk = provider.get_tracer("sdk").start_span("GET /leaderboard", context=parent, kind=trace.SpanKind.SERVER)
            theirs = sdk.get_span_context()
            assert trace.get_current_span() is trace.INVALID_SPAN  # detached after the request
            if sdk.is_recording():  # the sampler keeps it: contrib's middleware runs instead
                assert provider is ratio and headers is cases[1] and recorded == [headers] and len(current) == seen
                continue
            ours = current[-1].get_span_context()
            assert len(current) == seen + 1 and not current[-1].is_recording()
            assert (ours.trace_flags, ours.trace_state, ours.is_remote) == (
                theirs.trace_flags,
                theirs.trace_state,
                False,
            )
            assert ours.is_valid and ours.span_id != theirs.span_id
            if headers:
                assert f"{ours.trace_id:032x}" == trace_id and f"{ours.span_id:016x}" != parent_id
    assert len(current) == 5 and len(recorded) == 1
    assert current[2].get_span_context().trace_flags.random_trace_id  # the flag case is exercised
    assert current[1].get_span_context().trace_state.get("vendor") == "abc"  # and the trace state one
