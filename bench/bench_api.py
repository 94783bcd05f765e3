"""API hot-path benchmark (issue 10): our server against a bare FastAPI app, same run.

Starts bench/bare_app.py under uvicorn with the same loop and parser our server gets
(uvloop, httptools), plus real servers (python main.py) on seeded SQLite files:

  on-10k, on-1M      defaults: instrumentation on, LOG_LEVEL=info, chaos off, DELETE
                     journal, synchronous=FULL (rate limits off: one client would hit them)
  wal-10k, wal-1M    the same with SQLITE_JOURNAL_MODE=wal (POST /score only)
  off-10k            INSTRUMENTATION_ENABLED=false
  export10-10k       spans exported over OTLP/HTTP to a discarding local sink, sampled at 10%

An aiohttp client (uvloop) drives each route at concurrency 16 for --seconds after a
1 s warm-up; targets alternate within every repetition so the machine's drift hits all
of them; medians of --reps runs are reported, with ratios to the bare app's same route.
Also: /metrics scrape time while the server is busy (on the public port, and on the
loopback-only METRICS_PORT listener production scrapes), and /healthz p99 during a POST
burst, both measured by a separate prober process (a busy client loop would add its own
delay). Server CPU per request comes from /proc. Not a test: the numbers go to
docs/PERFORMANCE.md by hand, with date, machine and load.

    .venv/bin/python bench/bench_api.py [--reps 3] [--seconds 5] [--sizes 10000 1000000] [--client wrk]

--client wrk drives the same load from wrk (C, one thread) instead of aiohttp: on these
2 shared cores the aiohttp client takes most of a core, which every server then lacks.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_instrumentation import DiscardingSink, cpu_seconds  # noqa: E402 (beside this file: sys.path[0])

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402 (needs the sys.path set-up above)
from tests.server import RunningServer, free_port, launch, wait_healthy, wait_until  # noqa: E402 (as above)

CONCURRENCY = 16
CACHE = Path(tempfile.gettempdir()) / "drafty-bench-cache"
BASE_ENV = {"RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}
ROUTES = {
    "GET /healthz": ("GET", "/healthz"),
    "GET /leaderboard": ("GET", "/leaderboard"),
    "POST /score": ("POST", "/score"),
}


# ---------------------------------------------------------------- data


def seeded_db(rows: int, dest: Path) -> Path:
    """A copy of a cached file with `rows` scores, built once by a set-based insert."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"scores-{rows}.sqlite"
    if not cached.exists():
        started = time.monotonic()
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{partial}")
        migrate(engine)
        engine.dispose()
        with sqlite3.connect(partial) as db:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            # Scores 0..400, one second apart: a realistic spread of few distinct scores.
            db.execute(
                """
                WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ? - 1)
                INSERT INTO scores (player, score, created_at, run_id)
                SELECT 'p' || i, (i * 7919) % 401,
                       datetime('2026-01-01', '+' || i || ' seconds') || '.000000', 'seed-' || i
                FROM c
                """,
                (rows,),
            )
            db.execute("INSERT INTO score_counts (score, n) SELECT score, count(*) FROM scores GROUP BY score")
        db.close()
        partial.rename(cached)
        print(f"built {cached} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, dest)
    return dest


# ---------------------------------------------------------------- client


def body_for(method: str) -> bytes | None:
    if method != "POST":
        return None
    return json.dumps({"player": "bench", "score": 17, "run_id": uuid.uuid4().hex}).encode()


async def drive(url: str, method: str, seconds: float, concurrency: int = CONCURRENCY, warmup: float = 1.0) -> dict:
    import aiohttp

    headers = {"Content-Type": "application/json"} if method == "POST" else {}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        measuring = False
        end = loop.time() + warmup + seconds

        async def worker() -> None:
            while loop.time() < end:
                started = time.perf_counter()
                async with session.request(method, url, data=body_for(method), headers=headers) as response:
                    await response.read()
                if measuring:
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status] += 1

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        t0 = time.perf_counter()
        await asyncio.gather(*workers)
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": quantile(latencies, 0.5) * 1000,
        "p99_ms": quantile(latencies, 0.99) * 1000,
        "statuses": dict(statuses),
    }


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


CLIENT = "aiohttp"  # or "wrk" (--client): a C client leaves the server more of the 2 cores


def run_load(url: str, method: str, seconds: float, pid: int | None = None) -> dict:
    if CLIENT == "wrk":
        return run_wrk_load(url, method, seconds, pid)
    import uvloop

    cpu_before = cpu_seconds(pid) if pid else 0.0
    result = uvloop.run(drive(url, method, seconds))
    if pid:
        # CPU over warm-up + run; divided by the requests of the measured part only (an upper bound).
        result["cpu_us_per_req"] = (cpu_seconds(pid) - cpu_before) / max(1, result["rps"] * seconds) * 1e6
    return result


def run_wrk_load(url: str, method: str, seconds: float, pid: int | None) -> dict:
    """The same load from wrk (one thread, 16 connections): a 1 s warm-up run, then the measured one."""
    from wrk_client import UNIQUE_POST_LUA, ensure_wrk, run_wrk

    wrk = ensure_wrk()
    script = None
    if method == "POST":
        script = Path(tempfile.gettempdir()) / "drafty-bench-post.lua"
        script.write_text(UNIQUE_POST_LUA)
    run_wrk(wrk, url, 1, script, threads=1)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    loop_before = cpu_seconds(pid, pid) if pid else 0.0  # uvicorn's event loop runs on the main thread
    result = run_wrk(wrk, url, seconds, script, threads=1)
    result["statuses"] = {200: result["requests"] - result["non2xx"], 500: result["non2xx"]}  # 2xx, or not
    if pid:
        result["cpu_us_per_req"] = (cpu_seconds(pid) - cpu_before) / max(1, result["requests"]) * 1e6
        result["loop_cpu_us_per_req"] = (cpu_seconds(pid, pid) - loop_before) / max(1, result["requests"]) * 1e6
    return result


def probe(url: str, seconds: float, interval: float) -> subprocess.Popen:
    """A separate process timing one request at a time (its own loop is never busy)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--probe", url, "--seconds", str(seconds), "--interval", str(interval)],
        stdout=subprocess.PIPE,
        text=True,
    )


def probe_main(url: str, seconds: float, interval: float) -> None:
    import httpx

    times = []
    with httpx.Client(timeout=10) as http:
        http.get(url)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            response = http.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:200]
            time.sleep(interval)
    print(json.dumps(times))


def probe_summary(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=120)
    times = sorted(json.loads(out))
    return {
        "n": len(times),
        "p50_ms": round(quantile(times, 0.5) * 1000, 2),
        "p99_ms": round(quantile(times, 0.99) * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
    }


# ---------------------------------------------------------------- servers


class Bare:
    """bench/bare_app.py under uvicorn, configured like ui.run configures ours."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = (work / "bare.log").open("w")
        cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def wait_up(url: str) -> None:
    import httpx

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, interval=0.1, message=url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--skip", nargs="*", default=[], help="targets to leave out, e.g. wal-1M export10-10k")
    parser.add_argument("--routes", nargs="*", default=list(ROUTES), help="routes to measure, e.g. 'GET /healthz'")
    parser.add_argument("--no-extras", action="store_true", help="skip the scrape and burst measurements")
    parser.add_argument("--client", choices=["aiohttp", "wrk"], default="aiohttp", help="the load generator")
    parser.add_argument(
        "--before", help="also run this git revision's server (target before-<small>) for a before/after"
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.01, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe_main(args.probe, args.seconds, args.interval)
        return

    global CLIENT
    CLIENT = args.client
    small, large = args.sizes
    names = {small: "10k" if small == 10_000 else str(small), large: "1M" if large == 1_000_000 else str(large)}
    work = Path(tempfile.mkdtemp(prefix="drafty-bench-"))
    sink = DiscardingSink()
    export = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    # target -> (rows, extra env, routes measured)
    all_routes = list(ROUTES)
    plan: dict[str, tuple[int, dict[str, str], list[str]]] = {
        f"on-{names[small]}": (small, {}, all_routes),
        f"on-{names[large]}": (large, {}, ["GET /leaderboard", "POST /score"]),
        f"wal-{names[small]}": (small, {"SQLITE_JOURNAL_MODE": "wal"}, ["POST /score"]),
        f"wal-{names[large]}": (large, {"SQLITE_JOURNAL_MODE": "wal"}, ["POST /score"]),
        f"off-{names[small]}": (small, {"INSTRUMENTATION_ENABLED": "false"}, all_routes),
        f"export10-{names[small]}": (small, export, all_routes),
    }
    if args.before:
        plan[f"before-{names[small]}"] = (small, {}, all_routes)
    plan = {name: spec for name, spec in plan.items() if name not in args.skip}
    # The main target also serves the loopback-only metrics listener, as in production (ACA's sidecar scrapes it).
    metrics_port = free_port()
    if f"on-{names[small]}" in plan:
        rows, extra, routes = plan[f"on-{names[small]}"]
        plan[f"on-{names[small]}"] = (rows, {**extra, "METRICS_PORT": str(metrics_port)}, routes)
    bare = Bare(work)
    servers: dict[str, RunningServer] = {}
    for name, (rows, extra, _routes) in plan.items():
        db = seeded_db(rows, work / name / "db.sqlite")
        command = None
        if name.startswith("before-"):
            # Its own checkout: main.py's directory comes first on sys.path, so its drafty_bird is imported.
            checkout = work / "before-checkout"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(checkout), args.before], cwd=ROOT, check=True
            )
            command = [sys.executable, str(checkout / "main.py")]
        servers[name] = launch(work, {**BASE_ENV, **extra}, db_path=db, name=name, command=command)
    runs: dict[tuple[str, str], list[dict]] = {}
    extras: dict[str, object] = {}
    load_before = os.getloadavg()
    try:
        wait_up(bare.url)
        for server in servers.values():
            wait_healthy(server, timeout=60)
        targets: list[tuple[str, str, int | None, list[str]]] = [("bare", bare.url, bare.proc.pid, all_routes)]
        targets += [(name, servers[name].url, servers[name].proc.pid, plan[name][2]) for name in servers]
        for rep in range(args.reps):
            order = targets if rep % 2 == 0 else targets[::-1]
            for route in args.routes:
                for name, url, pid, routes in order:
                    if route in routes:
                        method, path = ROUTES[route]
                        result = run_load(url + path, method, args.seconds, pid)
                        runs.setdefault((name, route), []).append(result)
                        print(f"rep {rep} {name:<14} {route:<18} {result['rps']:8.0f} req/s", file=sys.stderr)

        main_target = f"on-{names[small]}"
        if main_target in servers and not args.no_extras:
            url = servers[main_target].url
            # /healthz during a POST burst: the event loop must never stall.
            prober = probe(url + "/healthz", args.seconds, 0.01)
            run_load(url + "/score", "POST", args.seconds)
            extras["healthz_during_post_burst"] = probe_summary(prober)
            # /metrics scrape on a busy process (after every run above: all series exist).
            prober = probe(url + "/metrics", args.seconds, 0.1)
            run_load(url + "/leaderboard", "GET", args.seconds)
            extras["metrics_scrape_busy"] = probe_summary(prober)
            # The same on the private listener (a minimal responder on the event loop, no HTTP stack).
            prober = probe(f"http://127.0.0.1:{metrics_port}/metrics", args.seconds, 0.1)
            run_load(url + "/leaderboard", "GET", args.seconds)
            extras["metrics_scrape_busy_private_port"] = probe_summary(prober)
            import httpx

            metrics_text = httpx.get(url + "/metrics").text
            extras["metrics_bytes"] = len(metrics_text)
            extras["group_commit_batches"] = batch_sizes(metrics_text)
    finally:
        bare.stop()
        for server in servers.values():
            server.stop()
        if args.before:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(work / "before-checkout")], cwd=ROOT, check=False
            )

    summary: dict[str, dict] = {}
    for (name, route), results in runs.items():
        summary.setdefault(route, {})[name] = {
            key: round(statistics.median(r[key] for r in results), 2)
            for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")
        } | {"non_2xx": sum(n for r in results for s, n in r["statuses"].items() if s >= 300), "runs": len(results)}
    for by_target in summary.values():
        bare_rps = by_target.get("bare", {}).get("rps")
        for name, row in by_target.items():
            if bare_rps and name != "bare":
                row["ratio_to_bare"] = round(row["rps"] / bare_rps, 3)
    overhead = {}
    for route, by_target in summary.items():
        off = by_target.get(f"off-{names[small]}")
        if off:
            for mode in ("on", "export10"):
                row = by_target.get(f"{mode}-{names[small]}")
                if row:
                    overhead[f"{route} {mode} vs off"] = {
                        "throughput_loss_pct": round((1 - row["rps"] / off["rps"]) * 100, 1),
                        "cpu_per_req_pct": round((row["cpu_us_per_req"] / off["cpu_us_per_req"] - 1) * 100, 1),
                    }
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
                f"SQLite {sqlite3.sqlite_version}",
                "load_avg_before": load_before,
                "load_avg_after": os.getloadavg(),
                "concurrency": CONCURRENCY,
                "client": CLIENT,
                "seconds": args.seconds,
                "reps": args.reps,
                "before_revision": args.before,
                "results": summary,
                "instrumentation_overhead": overhead,
                **extras,
            },
            indent=2,
        )
    )


def batch_sizes(metrics_text: str) -> dict[str, object]:
    """drafty_bird_db_write_batch_size: the group-commit batch histogram, if the server has it."""
    count = total = 0.0
    buckets = {}
    for line in metrics_text.splitlines():
        if line.startswith("drafty_bird_db_write_batch_size_count"):
            count = float(line.split()[-1])
        elif line.startswith("drafty_bird_db_write_batch_size_sum"):
            total = float(line.split()[-1])
        elif line.startswith("drafty_bird_db_write_batch_size_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = float(line.split()[-1])
    return {"batches": count, "mean": round(total / count, 2) if count else 0.0, "cumulative_buckets": buckets}


if __name__ == "__main__":
    main()
