"""API benchmark: GET /leaderboard and POST /score at concurrency 16, 10k vs 200k rows.

Seeds a SQLite file per size, starts the real server on it, drives it with wrk
(installed from Debian when missing), alternates sizes so drift on this shared
machine hits both equally, and reports medians. Not a test: numbers go to
docs/PERFORMANCE.md by hand, with date and machine.

    .venv/bin/python bench/bench_api.py [--sizes 10000 200000] [--reps 3] [--seconds 5]
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402 (needs the sys.path set-up above)
from tests.server import launch, wait_healthy  # noqa: E402 (needs the sys.path set-up above)

CONCURRENCY = 16
POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"player":"bench","score":17}'
"""


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return path


def seed(path: Path, rows: int) -> None:
    migrate(make_engine(f"sqlite:///{path}"))
    rng = random.Random(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    scores = [min(int(rng.expovariate(1 / 15)), 400) for _ in range(rows)]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO scores (player, score, created_at, run_id) VALUES (?, ?, ?, ?)",
            (
                (f"p{i}", s, (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"), f"seed-{i}")
                for i, s in enumerate(scores)
            ),
        )
        counts: dict[int, int] = {}
        for s in scores:
            counts[s] = counts.get(s, 0) + 1
        db.executemany("INSERT INTO score_counts (score, n) VALUES (?, ?)", counts.items())


def parse_latency(text: str, pct: str) -> float:
    match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    assert match is not None, f"no {pct}% latency line in wrk output:\n{text}"
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def run_wrk(wrk: str, url: str, seconds: int, script: Path | None) -> dict:
    cmd = [wrk, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps is not None, f"no Requests/sec in wrk output:\n{out}"
    return {
        "rps": float(rps.group(1)),
        "p50_ms": parse_latency(out, "50"),
        "p99_ms": parse_latency(out, "99"),
        "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="drafty-bench-"))
    post_script = work / "post.lua"
    post_script.write_text(POST_LUA)
    # Rate limits and instrumentation stay at their defaults except the per-client
    # limit, which would otherwise throttle a single benchmarking client.
    env = {"LOG_LEVEL": "warning", "RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}
    servers = {}
    for size in args.sizes:
        db = work / f"db-{size}" / "db.sqlite"
        db.parent.mkdir()
        seed(db, size)
        servers[size] = launch(work, env, db_path=db, name=f"bench-{size}")
    results: dict[tuple[int, str], list[dict]] = {}
    try:
        for server in servers.values():
            wait_healthy(server)
        for _ in range(args.reps):
            for size, server in servers.items():
                for name, url, script in (
                    ("GET /leaderboard", f"{server.url}/leaderboard", None),
                    ("POST /score", f"{server.url}/score", post_script),
                ):
                    results.setdefault((size, name), []).append(run_wrk(wrk, url, args.seconds, script))
    finally:
        for server in servers.values():
            server.stop()
    summary = {}
    for (size, name), runs in results.items():
        summary[f"{name} @ {size}"] = {
            key: round(statistics.median(r[key] for r in runs), 2) for key in ("rps", "p50_ms", "p99_ms")
        } | {"non2xx": sum(r["non2xx"] for r in runs), "runs": len(runs)}
    small, large = min(args.sizes), max(args.sizes)
    for name in ("GET /leaderboard", "POST /score"):
        ratio = summary[f"{name} @ {large}"]["rps"] / summary[f"{name} @ {small}"]["rps"]
        summary[f"{name} throughput ratio {large}/{small}"] = round(ratio, 3)
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
                "concurrency": CONCURRENCY,
                "results": summary,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
