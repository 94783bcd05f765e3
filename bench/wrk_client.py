"""wrk helpers shared by the scale-out bench: a seeded SQLite file, and one wrk run parsed.

(bench_api.py drives its own aiohttp client; these are what bench_scaleout.py uses.)
"""

import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402 (needs the sys.path set-up above)

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


# POST /score with a fresh run_id per request (a repeated run_id is answered as a duplicate).
UNIQUE_POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local tag = tostring(math.random(1, 1e9))
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"player":"bench","score":17,"run_id":"w' .. tag .. "-" .. n .. '"}')
end
"""


def run_wrk(wrk: str, url: str, seconds: float, script: Path | None, threads: int = 2) -> dict:
    cmd = [wrk, f"-t{threads}", f"-c{CONCURRENCY}", f"-d{max(1, round(seconds))}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    assert rps is not None and requests is not None, f"no Requests/sec in wrk output:\n{out}"
    return {
        "rps": float(rps.group(1)),
        "requests": int(requests.group(1)),
        "p50_ms": parse_latency(out, "50"),
        "p99_ms": parse_latency(out, "99"),
        "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
    }
