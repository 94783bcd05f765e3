"""CPU microseconds per request of each request layer, measured in-process (no sockets).

A plain FastAPI app gets our layers one at a time, in the order the served API stack has
them (innermost first): ours, NiceGUI's GZip as the API stack has it (remembering repeated
bodies), the server span as served without an exporter (ids only), then NiceGUI's two
BaseHTTPMiddleware, which the fast path skips for the API. Separately: contrib's OTel
middleware in place of the unrecorded span (what runs with an exporter, for an unsampled
request). Requests are driven
straight through ASGI, so uvicorn, the client and the DB are left out; CPU time
(time.process_time) moves little with the machine's load. Each step's cost is the
difference to the step before: medians of --reps rounds of --n requests.

    .venv/bin/python bench/bench_layers.py [--reps 7] [--n 2000]
"""

import argparse
import asyncio
import io
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from starlette.types import Message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = [
    "rate limit",
    "body limit",
    "chaos (off)",
    "request-id span attribute",
    "access log (INFO line)",
    "metrics",
    "GZip (the API stack's, remembering)",
    "server span, no exporter (ids only)",
    "NiceGUI BaseHTTPMiddleware x2 (skipped for the API)",
]
CONTRIB = "contrib's OTel middleware instead (with an exporter, unsampled)"


def build(steps: int, path_kind: str, contrib: bool = False) -> Any:
    from fastapi import FastAPI, Response
    from nicegui.middlewares import RedirectWithPrefixMiddleware, SetCacheControlMiddleware
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from drafty_bird.data.models import Leaderboard, ScoreRead
    from drafty_bird.ops import tracing
    from drafty_bird.ops.access import AccessLogMiddleware
    from drafty_bird.ops.body_limit import BodySizeLimitMiddleware
    from drafty_bird.ops.chaos import ChaosMiddleware
    from drafty_bird.ops.compression import RememberingGZipMiddleware
    from drafty_bird.ops.metrics_middleware import MetricsMiddleware
    from drafty_bird.ops.ratelimit import RateLimitMiddleware

    app = FastAPI()
    board = (
        Leaderboard(
            leaderboard=[ScoreRead(player=f"p{i}", score=400 - i, createdAt="2026-01-01T00:00:00Z") for i in range(10)]
        )
        .model_dump_json(by_alias=True)
        .encode()
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/leaderboard", response_model=Leaderboard)
    async def leaderboard() -> Response:  # as served: the cached body (the layers' cost, not the DB's)
        return Response(board, media_type="application/json")

    adders = [
        lambda: app.add_middleware(RateLimitMiddleware, limits={("POST", "/score"): "120/minute"}),
        lambda: app.add_middleware(BodySizeLimitMiddleware),
        lambda: app.add_middleware(ChaosMiddleware),
        lambda: app.add_middleware(tracing.RequestIdSpanMiddleware),
        lambda: app.add_middleware(AccessLogMiddleware),
        lambda: app.add_middleware(MetricsMiddleware),
        lambda: app.add_middleware(RememberingGZipMiddleware),
        lambda: (
            FastAPIInstrumentor.instrument_app(
                app,
                tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
                meter_provider=NoOpMeterProvider(),
                excluded_urls=tracing.EXCLUDED_URLS,
                exclude_spans=["receive", "send"],
            )
            if contrib
            else app.add_middleware(tracing.UnrecordedServerSpanMiddleware, provider=TracerProvider(sampler=ALWAYS_OFF))
        ),
        lambda: app.add_middleware(RedirectWithPrefixMiddleware),
    ]
    for add in adders[:steps]:
        add()
    if steps == len(adders):
        app.add_middleware(SetCacheControlMiddleware)  # the second BaseHTTPMiddleware, same step
    return app


async def drive(app: Any, path: str, n: int) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept-encoding", b"gzip")],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
        "asgi": {"version": "3.0"},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Message) -> None:
        pass

    for _ in range(200):
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    # The access log at INFO, formatted as in production, written to memory instead of stdout.
    from drafty_bird.ops.logging import configure_logging

    configure_logging("info")
    logging.getLogger().handlers[0].stream = io.StringIO()  # type: ignore[attr-defined]  # a StreamHandler
    import uvloop

    out: dict[str, dict[str, float]] = {}
    for path in ("/healthz", "/leaderboard"):
        apps = [build(k, path) for k in range(len(STEPS) + 1)]
        apps.append(build(STEPS.index("server span, no exporter (ids only)") + 1, path, contrib=True))
        runs: list[list[float]] = [[] for _ in apps]
        for _ in range(args.reps):
            for k, app in enumerate(apps):
                runs[k].append(uvloop.run(drive(app, path, args.n)))
                logging.getLogger().handlers[0].stream = io.StringIO()  # type: ignore[attr-defined]  # keep it small
        medians = [statistics.median(r) for r in runs]
        row = {"bare FastAPI route": round(medians[0], 1)}
        for k, step in enumerate(STEPS, start=1):
            row[f"+ {step}"] = round(medians[k] - medians[k - 1], 1)
        row["total"] = round(medians[len(STEPS)], 1)
        span_step = STEPS.index("server span, no exporter (ids only)") + 1
        row[CONTRIB] = round(medians[-1] - medians[span_step - 1], 1)
        out[path] = row
    print(json.dumps({"cpu_us_per_request": out, "reps": args.reps, "n": args.n}, indent=2))


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
