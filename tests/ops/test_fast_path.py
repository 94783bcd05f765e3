"""The fast path (ops/fast_path.py): which layers each path goes through, and that the
answers where the layers moved are still the ones the contracts ask for.

The structure test builds a fresh FastAPI app with our layers (app.add_request_layers),
ui.run's three middlewares and the FastAPI instrumentation, exactly as a served app has
them, and walks each stack. The behaviour tests use the real server.
"""

from typing import Any

import httpx
import nicegui
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from nicegui.middlewares import RedirectWithPrefixMiddleware, SetCacheControlMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from starlette.middleware.base import BaseHTTPMiddleware

from drafty_bird import app as app_module
from drafty_bird.ops import fast_path, tracing
from drafty_bird.ops.compression import RememberingGZipMiddleware
from drafty_bird.ops.fast_path import FastPathDispatch
from drafty_bird.settings import load_settings
from tests.ops.scrape import scrape, value
from tests.server import RunningServer

OURS = ["MetricsMiddleware", "AccessLogMiddleware", "RequestIdSpanMiddleware", "ChaosMiddleware"]
OURS += ["BodySizeLimitMiddleware", "RateLimitMiddleware"]
# Where the server span is never recorded, the layer copying the request id onto it is left out.
OURS_UNRECORDED = [name for name in OURS if name != "RequestIdSpanMiddleware"]


def served_like_app(tmp_path) -> FastAPI:
    target = FastAPI()

    @target.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    app_module.add_request_layers(target, load_settings(score_db_path=tmp_path / "db.sqlite"))
    FastAPIInstrumentor.instrument_app(
        target,
        tracer_provider=TracerProvider(),
        meter_provider=NoOpMeterProvider(),
        excluded_urls=tracing.EXCLUDED_URLS,
    )
    fast_path.install(
        target, api_paths=(*app_module.API_PATHS, *app_module.PAGE_PATHS), probe_paths=app_module.PROBE_PATHS
    )
    # What ui.run adds when it starts (after build()).
    target.add_middleware(GZipMiddleware)
    target.add_middleware(RedirectWithPrefixMiddleware)
    target.add_middleware(SetCacheControlMiddleware)
    return target


def chain(stack: Any) -> list[Any]:
    layers = []
    while stack is not None and not hasattr(stack, "routes"):
        layers.append(stack)
        stack = getattr(stack, "app", None)
    return layers


def names(layers: list[Any]) -> list[str]:
    return [type(layer).__name__ for layer in layers]


def ours_in_order(layers: list[Any]) -> list[str]:
    return [name for name in names(layers) if name in OURS]


def test_each_path_goes_through_the_layers_it_needs(tmp_path) -> None:
    dispatch = served_like_app(tmp_path).build_middleware_stack()
    assert isinstance(dispatch, FastPathDispatch)
    full, score, healthz = chain(dispatch.full), chain(dispatch.stacks["/score"]), chain(dispatch.stacks["/healthz"])
    assert set(app_module.API_PATHS) >= {"/score", "/leaderboard", "/game-start", "/readyz", "/metrics"}

    # Pages, assets, socket.io: everything, NiceGUI's page middleware included.
    assert {"SetCacheControlMiddleware", "RedirectWithPrefixMiddleware", "GZipMiddleware"} <= set(names(full))
    assert names(full)[:2] == ["ServerErrorMiddleware", "OpenTelemetryMiddleware"] and ours_in_order(full) == OURS

    # API: no BaseHTTPMiddleware; server spans, GZip and all of ours, in the same order.
    assert not [layer for layer in score if isinstance(layer, BaseHTTPMiddleware)], names(score)
    assert names(score)[:2] == names(full)[:2]
    (gzip,) = [layer for layer in score if isinstance(layer, GZipMiddleware)]  # NiceGUI's, remembering
    assert isinstance(gzip, RememberingGZipMiddleware)
    assert ours_in_order(score) == OURS
    assert all(dispatch.stacks[path] is dispatch.stacks["/score"] for path in app_module.API_PATHS)
    # The game page: the API's stack (it never redirects and is no asset).
    assert dispatch.stacks["/"] is dispatch.stacks["/score"]

    # Liveness: ours only (it is never traced, and its body is never compressed).
    assert not {"OpenTelemetryMiddleware", "GZipMiddleware"} & set(names(healthz))
    assert not [layer for layer in healthz if isinstance(layer, BaseHTTPMiddleware)]
    assert ours_in_order(healthz) == OURS_UNRECORDED
    # The same exception handling as the full stack sits around and inside them.
    assert names(healthz)[0] == "ServerErrorMiddleware" and names(healthz)[-2:] == names(full)[-2:]


def test_without_an_exporter_the_api_keeps_unrecorded_server_spans(tmp_path, monkeypatch) -> None:
    """Nothing exports (ALWAYS_OFF): contrib's middleware is replaced on the API stack only."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_exporting", False)
    dispatch = served_like_app(tmp_path).build_middleware_stack()
    assert isinstance(dispatch, FastPathDispatch)
    full, score = chain(dispatch.full), chain(dispatch.stacks["/score"])
    assert names(full)[:2] == ["ServerErrorMiddleware", "OpenTelemetryMiddleware"]  # pages: contrib's spans
    assert names(score)[0] == "UnrecordedServerSpanMiddleware" and "OpenTelemetryMiddleware" not in names(score)
    assert ours_in_order(score) == OURS_UNRECORDED
    assert names(score)[1] == "ServerErrorMiddleware" and names(score)[-2:] == names(full)[-2:]

    monkeypatch.setattr(tracing, "_exporting", True)  # an exporter: the sampler first, contrib's when kept
    dispatch = served_like_app(tmp_path).build_middleware_stack()
    assert isinstance(dispatch, FastPathDispatch)
    sampled_first = dispatch.stacks["/score"]
    assert isinstance(sampled_first, tracing.SampledFirstMiddleware)
    kept, dropped = chain(sampled_first.recorded), chain(sampled_first.unrecorded)
    assert names(kept)[:2] == ["ServerErrorMiddleware", "OpenTelemetryMiddleware"]
    assert names(dropped)[:2] == ["UnrecordedServerSpanMiddleware", "ServerErrorMiddleware"]
    assert "OpenTelemetryMiddleware" not in names(dropped)
    assert ours_in_order(kept) == OURS and ours_in_order(dropped) == OURS_UNRECORDED


def test_healthz_keeps_its_request_id_metrics_and_body_limit(server: RunningServer, client: httpx.Client) -> None:
    before = value(scrape(server.url), "http_requests_total", route="/healthz", method="GET", status="200")
    response = client.get("/healthz", headers={"x-request-id": "probe-fast-1"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "probe-fast-1"
    assert "content-encoding" not in response.headers
    after = value(scrape(server.url), "http_requests_total", route="/healthz", method="GET", status="200")
    assert after == before + 1
    too_big = client.request("GET", "/healthz", content=b"x" * 20_000)
    assert too_big.status_code == 413 and set(too_big.json()) == {"error", "request_id"}


def test_api_answers_are_still_compressed_when_asked(client: httpx.Client) -> None:
    for i in range(12):
        assert client.post("/score", json={"player": f"gz{i}", "score": i, "run_id": f"gz-{i}"}).status_code == 201
    raw = client.get("/leaderboard", headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip" and "accept-encoding" in raw.headers["vary"].lower()
    assert len(raw.json()["leaderboard"]) == 10  # httpx decoded it
    plain = client.get("/leaderboard", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == raw.json()


def test_nicegui_assets_still_get_their_cache_headers(client: httpx.Client) -> None:
    asset = client.get(f"/_nicegui/{nicegui.__version__}/static/nicegui.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"], asset.headers


def test_the_game_page_is_still_compressed_and_carries_the_security_headers(client: httpx.Client) -> None:
    raw = client.get("/", headers={"accept-encoding": "gzip"})
    assert raw.status_code == 200 and raw.headers["content-encoding"] == "gzip"
    assert "Drafty Bird" in raw.text and raw.headers["x-request-id"]
    assert "content-security-policy" in {k.lower() for k in raw.headers}
