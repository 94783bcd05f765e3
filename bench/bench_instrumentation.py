"""Instrumentation overhead: /healthz and /leaderboard throughput, instrumentation on vs off.

Three real servers on copies of one seeded SQLite file, measured in the same run:
  off     INSTRUMENTATION_ENABLED=false (no metrics middleware, no spans, no store timing)
  on      the default: metrics, spans and log trace ids, nothing exported (no endpoint)
  export  on, plus OTLP/HTTP export to a local sink that accepts and discards batches
  export_sampled_10pct  export with OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG=0.1
wrk (Debian's, installed when missing) drives each at concurrency 16; modes alternate
within every repetition so drift on this shared machine hits all of them; medians are
reported. Besides requests/s, each run records the server's own CPU time per request
(utime+stime from /proc, export thread included): throughput swings with whatever else
runs on the machine, CPU per request far less. Not a test: numbers go to
docs/PERFORMANCE.md by hand, with date and machine.

It also prints an in-process breakdown: CPU time (time.process_time) per request through
the same middlewares on a bare FastAPI app, layer by layer, which the machine's load
barely moves.

    .venv/bin/python bench/bench_instrumentation.py [--reps 5] [--seconds 5] [--rows 1000]
"""

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from starlette.types import Message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402 (needs the sys.path set-up above)
from tests.server import launch, wait_healthy  # noqa: E402 (needs the sys.path set-up above)

CONCURRENCY = 16
ENDPOINTS = ("/healthz", "/leaderboard")
BASE_ENV = {"LOG_LEVEL": "warning", "RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return path


def seed(path: Path, rows: int) -> None:
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO scores (player, score, created_at, run_id) VALUES (?, ?, ?, ?)",
            (
                (f"p{i}", i % 400, f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d}.000000", f"seed-{i}")
                for i in range(rows)
            ),
        )
        counts: dict[int, int] = {}
        for i in range(rows):
            counts[i % 400] = counts.get(i % 400, 0) + 1
        db.executemany("INSERT INTO score_counts (score, n) VALUES (?, ?)", counts.items())


class DiscardingSink:
    """Accepts OTLP/HTTP batches and drops them: the app pays the export, the sink almost nothing."""

    def __init__(self) -> None:
        sink = self
        self.batches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.batches += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """A process's CPU, or one of its threads' (tid; the main thread's tid is the pid)."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_wrk(wrk: str, url: str, seconds: int, pid: int) -> tuple[float, float]:
    """(requests/s, server CPU microseconds per request)."""
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", url], check=True, capture_output=True, text=True
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"non-2xx responses from {url}:\n{out}")
    requests, rps = re.search(r"(\d+) requests in", out), re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert requests is not None and rps is not None, f"unexpected wrk output:\n{out}"
    return float(rps.group(1)), cpu / int(requests.group(1)) * 1e6


def layer_costs(reps: int = 7, n: int = 1500) -> dict[str, dict[str, float]]:
    """Median CPU microseconds per request as each instrumentation layer is added."""
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    from drafty_bird.ops import tracing
    from drafty_bird.ops.access import AccessLogMiddleware
    from drafty_bird.ops.chaos import ChaosMiddleware
    from drafty_bird.ops.logging import configure_logging
    from drafty_bird.ops.metrics_middleware import MetricsMiddleware

    configure_logging("warning")

    def make(layers: tuple[str, ...]) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        async def healthz() -> dict:
            return {"status": "ok"}

        @app.get("/leaderboard")
        async def leaderboard() -> dict:  # the middlewares' cost, not the DB's
            return {"leaderboard": []}

        app.add_middleware(ChaosMiddleware)
        if "request id" in layers:
            app.add_middleware(tracing.RequestIdSpanMiddleware)
        app.add_middleware(AccessLogMiddleware)
        if "metrics" in layers:
            app.add_middleware(MetricsMiddleware)
        if "spans" in layers:
            sampler = ALWAYS_ON if "recorded" in layers else ALWAYS_OFF
            FastAPIInstrumentor.instrument_app(
                app,
                tracer_provider=TracerProvider(sampler=sampler),
                meter_provider=NoOpMeterProvider(),
                excluded_urls=tracing.EXCLUDED_URLS,
                exclude_spans=["receive", "send"],
            )
        return app

    async def drive(app: FastAPI, path: str) -> float:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8080")],
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

        for _ in range(100):
            await app(dict(scope), receive, send)
        started = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.process_time() - started) / n * 1e6

    configs = {
        "off (chaos + access log)": (),
        "+ metrics middleware": ("metrics",),
        "+ request-id span attribute": ("metrics", "request id"),
        "+ FastAPI spans, not recorded (no exporter)": ("metrics", "request id", "spans"),
        "+ FastAPI spans, recorded (exporter set)": ("metrics", "request id", "spans", "recorded"),
    }
    apps = {name: make(layers) for name, layers in configs.items()}
    out: dict[str, dict[str, float]] = {}
    for path in ENDPOINTS:
        runs: dict[str, list[float]] = {}
        for _ in range(reps):
            for name, app in apps.items():
                runs.setdefault(name, []).append(asyncio.run(drive(app, path)))
        out[path] = {name: round(statistics.median(values), 1) for name, values in runs.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="drafty-bench-instr-"))
    sink = DiscardingSink()
    modes = {
        "off": {"INSTRUMENTATION_ENABLED": "false"},
        "on": {},
        "export": {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        "export_sampled_10pct": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }
    servers = {}
    for mode, extra in modes.items():
        db = work / mode / "db.sqlite"
        db.parent.mkdir()
        seed(db, args.rows)
        servers[mode] = launch(work, {**BASE_ENV, **extra}, db_path=db, name=f"bench-{mode}")
    rps: dict[tuple[str, str], list[float]] = {}
    cpu_us: dict[tuple[str, str], list[float]] = {}
    try:
        for server in servers.values():
            wait_healthy(server)
        for server in servers.values():  # warm-up: imports, caches, first DB pages
            for path in ENDPOINTS:
                run_wrk(wrk, server.url + path, 1, server.proc.pid)
        for rep in range(args.reps):
            order = list(servers) if rep % 2 == 0 else list(reversed(servers))
            for path in ENDPOINTS:
                for mode in order:
                    throughput, cpu_per_req = run_wrk(
                        wrk, servers[mode].url + path, args.seconds, servers[mode].proc.pid
                    )
                    rps.setdefault((path, mode), []).append(throughput)
                    cpu_us.setdefault((path, mode), []).append(cpu_per_req)
    finally:
        for server in servers.values():
            server.stop()
    results = {}
    for path in ENDPOINTS:
        medians = {mode: statistics.median(rps[(path, mode)]) for mode in modes}
        cpu = {mode: statistics.median(cpu_us[(path, mode)]) for mode in modes}
        results[path] = {
            **{f"rps_{mode}": round(value, 1) for mode, value in medians.items()},
            "throughput_loss_on_vs_off_pct": round((1 - medians["on"] / medians["off"]) * 100, 1),
            **{
                f"throughput_loss_{mode}_vs_off_pct": round((1 - medians[mode] / medians["off"]) * 100, 1)
                for mode in modes
                if mode not in ("off", "on")
            },
            **{f"cpu_us_per_req_{mode}": round(value) for mode, value in cpu.items()},
            "cpu_overhead_on_vs_off_pct": round((cpu["on"] / cpu["off"] - 1) * 100, 1),
            **{
                f"cpu_overhead_{mode}_vs_off_pct": round((cpu[mode] / cpu["off"] - 1) * 100, 1)
                for mode in modes
                if mode not in ("off", "on")
            },
            "rps_runs": {mode: [round(v) for v in rps[(path, mode)]] for mode in modes},
            "cpu_us_runs": {mode: [round(v) for v in cpu_us[(path, mode)]] for mode in modes},
        }
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "load_avg": os.getloadavg(),
                "concurrency": CONCURRENCY,
                "seconds_per_run": args.seconds,
                "reps": args.reps,
                "otlp_batches_exported": sink.batches,
                "results": results,
                "in_process_cpu_us_per_request": layer_costs(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
