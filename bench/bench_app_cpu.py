"""CPU microseconds per request through the real app, in process (issue 10).

build() runs on NiceGUI's app as in `python main.py`, plus the three middlewares ui.run
adds, on a seeded SQLite file (10k rows); requests go straight through ASGI from 16
concurrent tasks, so uvicorn, sockets and the client are left out. CPU time moves less
with the machine's load than requests per second: minimum and median of --reps rounds.
Settings come from the environment as usual (e.g. INSTRUMENTATION_ENABLED=false). With
--profile ROUTE, prints a cProfile (CPU time) of the event loop thread instead.

    .venv/bin/python bench/bench_app_cpu.py [--reps 7] [--n 1600] [--routes 'GET /leaderboard']
"""

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_api import seeded_db  # noqa: E402 (beside this file: sys.path[0])

CONCURRENCY = 16
HEADERS = [(b"host", b"127.0.0.1:8080"), (b"accept-encoding", b"gzip, deflate"), (b"user-agent", b"bench")]


def build_app(work: Path) -> Any:
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    os.environ.setdefault("SCORE_DB_PATH", str(seeded_db(10_000, work / "db.sqlite")))
    for name in ("RATE_LIMIT_SCORE", "RATE_LIMIT_GAME_START", "SCORE_VERIFICATION"):
        os.environ.setdefault(name, "off")
    from fastapi.middleware.gzip import GZipMiddleware
    from nicegui import app
    from nicegui.middlewares import RedirectWithPrefixMiddleware, SetCacheControlMiddleware

    from drafty_bird import app as app_module
    from drafty_bird.settings import load_settings

    lifecycle = app_module.build(load_settings())
    import logging

    logging.getLogger().handlers[0].stream = (work / "log.jsonl").open("w")  # type: ignore[attr-defined]
    for middleware in (GZipMiddleware, RedirectWithPrefixMiddleware, SetCacheControlMiddleware):  # as ui.run does
        app.add_middleware(middleware)
    return app, lifecycle


async def one(app: Any, method: str, path: str) -> None:
    body = (
        json.dumps({"player": "bench", "score": 17, "run_id": uuid.uuid4().hex}).encode() if method == "POST" else b""
    )
    headers = [*HEADERS, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers if body else HEADERS,
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
        "asgi": {"version": "3.0"},
        "state": {},
    }
    received = False

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # a client that stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 300:
            raise AssertionError(f"{method} {path}: {message['status']}")

    await app(scope, receive, send)


async def drive(app: Any, route: str, n: int) -> float:
    method, path = route.split(" ")

    async def worker() -> None:
        for _ in range(n // CONCURRENCY):
            await one(app, method, path)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (time.process_time() - started) / (n // CONCURRENCY * CONCURRENCY) * 1e6


async def run(args: argparse.Namespace, app: Any, lifecycle: Any) -> None:
    await lifecycle.start(handle_sigterm=False)
    for route in args.routes:
        await drive(app, route, 200)  # warm-up: caches, first encodes
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        await drive(app, args.profile, args.n)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
        print(out.getvalue())
        return
    runs: dict[str, list[float]] = {route: [] for route in args.routes}
    for _ in range(args.reps):
        for route in args.routes:
            runs[route].append(await drive(app, route, args.n if route.startswith("GET") else args.n // 4))
    summary = {route: {"min": round(min(r), 1), "median": round(statistics.median(r), 1)} for route, r in runs.items()}
    print(json.dumps({"cpu_us_per_request": summary, "reps": args.reps, "load_avg": os.getloadavg()}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--routes", nargs="*", default=["GET /healthz", "GET /leaderboard", "POST /score"])
    parser.add_argument("--profile", help="a route to cProfile instead, e.g. 'GET /leaderboard'")
    args = parser.parse_args()
    app, lifecycle = build_app(Path(tempfile.mkdtemp(prefix="drafty-app-cpu-")))
    import uvloop

    uvloop.run(run(args, app, lifecycle))
    os._exit(0)  # the store's threads and NiceGUI's globals: nothing to wind down for a benchmark


if __name__ == "__main__":
    main()
