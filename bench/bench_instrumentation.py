"""Instrumentation overhead: /healthz and /leaderboard throughput, instrumentation on vs off.

Three real servers on copies of one seeded SQLite file, measured in the same run:
  off     INSTRUMENTATION_ENABLED=false (no metrics middleware, no spans, no store timing)
  on      the default: metrics, spans and log trace ids, nothing exported (no endpoint)
  export  on, plus OTLP/HTTP export to a local sink that accepts and discards batches
wrk (Debian's, installed when missing) drives each at concurrency 16; modes alternate
within every repetition so drift on this shared machine hits all of them; medians are
reported. Not a test: numbers go to docs/PERFORMANCE.md by hand, with date and machine.

    .venv/bin/python bench/bench_instrumentation.py [--reps 5] [--seconds 5] [--rows 1000]
"""

import argparse
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
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402
from tests.server import launch, wait_healthy  # noqa: E402

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
            ((f"p{i}", i % 400, f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d}.000000", f"seed-{i}") for i in range(rows)),
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
            def do_POST(self) -> None:  # noqa: N802
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


def run_wrk(wrk: str, url: str, seconds: int) -> float:
    out = subprocess.run(
        [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", url], check=True, capture_output=True, text=True
    ).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"non-2xx responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


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
    }
    servers = {}
    for mode, extra in modes.items():
        db = work / mode / "db.sqlite"
        db.parent.mkdir()
        seed(db, args.rows)
        servers[mode] = launch(work, {**BASE_ENV, **extra}, db_path=db, name=f"bench-{mode}")
    rps: dict[tuple[str, str], list[float]] = {}
    try:
        for server in servers.values():
            wait_healthy(server)
        for server in servers.values():  # warm-up: imports, caches, first DB pages
            for path in ENDPOINTS:
                run_wrk(wrk, server.url + path, 1)
        for rep in range(args.reps):
            order = list(servers) if rep % 2 == 0 else list(reversed(servers))
            for path in ENDPOINTS:
                for mode in order:
                    rps.setdefault((path, mode), []).append(run_wrk(wrk, servers[mode].url + path, args.seconds))
    finally:
        for server in servers.values():
            server.stop()
    results = {}
    for path in ENDPOINTS:
        medians = {mode: statistics.median(rps[(path, mode)]) for mode in modes}
        results[path] = {
            **{f"rps_{mode}": round(value, 1) for mode, value in medians.items()},
            "overhead_on_vs_off_pct": round((1 - medians["on"] / medians["off"]) * 100, 1),
            "overhead_export_vs_off_pct": round((1 - medians["export"] / medians["off"]) * 100, 1),
            "runs": {mode: [round(v) for v in rps[(path, mode)]] for mode in modes},
        }
    print(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "load_avg": os.getloadavg(),
                "concurrency": CONCURRENCY,
                "seconds_per_run": args.seconds,
                "reps": args.reps,
                "otlp_batches_exported": sink.batches,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
