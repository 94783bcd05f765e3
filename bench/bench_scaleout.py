"""Scale-out benchmark: POST /score and GET /leaderboard on SQLite (1 replica) against
PostgreSQL with 1 and with 2 replicas, at 10k and 1M rows, in one run.

Real servers on loopback, driven by wrk at concurrency 16. PostgreSQL replicas sit behind
HAProxy (the `make run-cluster` configuration, without cookies: wrk's requests are spread
round-robin); "PostgreSQL x1 via HAProxy" isolates the proxy's own cost. Configurations
alternate within each repetition; medians are reported. Numbers go to docs/PERFORMANCE.md.

    .venv/bin/python bench/bench_scaleout.py [--sizes 10000 1000000] [--reps 2] [--seconds 5]
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wrk_client import CONCURRENCY, POST_LUA, ensure_wrk, run_wrk, seed  # noqa: E402 (the script's own dir is on sys.path)

from drafty_bird.data.engine import make_engine, migrate  # noqa: E402 (sys.path set-up above)
from scripts.cluster import COOKIE, HAPROXY_CFG  # noqa: E402 (sys.path set-up above)
from tests.pg import create_db, drop_db, pg_url, query  # noqa: E402 (sys.path set-up above)
from tests.server import RunningServer, free_port, launch, wait_healthy, wait_until  # noqa: E402 (sys.path set-up above)

SEED_PG = """
INSERT INTO scores (player, score, created_at, run_id)
SELECT 'p' || g, least(floor(-ln(1 - random()) * 15)::int, 400),
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'seed-' || g
FROM generate_series(1, %s) g
"""


def seed_pg(url: str, rows: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    query(url, SEED_PG, (rows,))
    query(url, "INSERT INTO score_counts SELECT score, count(*) FROM scores GROUP BY score")
    query(url, "ANALYZE")


@contextlib.contextmanager
def haproxy(work: Path, replicas: list[RunningServer]) -> Iterator[str]:
    port = free_port()
    servers = "\n".join(f"    server r{i} 127.0.0.1:{s.port} check cookie r{i}" for i, s in enumerate(replicas, 1))
    cfg = work / f"haproxy-{port}.cfg"
    cfg.write_text(HAPROXY_CFG.format(host="127.0.0.1", port=port, cookie=COOKIE, servers=servers))
    proc = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(cfg)])
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        def up() -> bool:
            try:
                return httpx.get(url + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 20, message="haproxy")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="drafty-scaleout-"))
    post_script = work / "post.lua"
    post_script.write_text(POST_LUA)
    env = {"LOG_LEVEL": "warning", "RATE_LIMIT_SCORE": "off", "RATE_LIMIT_GAME_START": "off"}
    results: dict[str, list[dict]] = {}
    databases: list[str] = []
    with contextlib.ExitStack() as stack:
        targets: dict[str, str] = {}  # "config @ size" -> base URL
        servers: list[RunningServer] = []
        for size in args.sizes:
            db = work / f"sqlite-{size}" / "db.sqlite"
            db.parent.mkdir()
            seed(db, size)
            servers.append(launch(work, env, db_path=db, name=f"sqlite-{size}"))
            targets[f"SQLite x1 @ {size}"] = servers[-1].url
            name = create_db()
            databases.append(name)
            url = pg_url(name)
            seed_pg(url, size)
            pg_env = {**env, "DATABASE_URL": url}
            replicas = [launch(work, pg_env, name=f"pg-{size}-{i}") for i in (1, 2)]
            servers += replicas
            for server in servers:
                wait_healthy(server, timeout=120)
            targets[f"PostgreSQL x1 @ {size}"] = replicas[0].url
            targets[f"PostgreSQL x1 via HAProxy @ {size}"] = stack.enter_context(haproxy(work, replicas[:1]))
            targets[f"PostgreSQL x2 via HAProxy @ {size}"] = stack.enter_context(haproxy(work, replicas))
        try:
            for _ in range(args.reps):
                for label, base in targets.items():
                    for endpoint, path, script in (
                        ("GET /leaderboard", "/leaderboard", None),
                        ("POST /score", "/score", post_script),
                    ):
                        results.setdefault(f"{endpoint} | {label}", []).append(
                            run_wrk(wrk, base + path, args.seconds, script)
                        )
        finally:
            for server in servers:
                server.stop()
            for name in databases:
                drop_db(name)
    summary = {
        key: {k: round(statistics.median(r[k] for r in runs), 2) for k in ("rps", "p50_ms", "p99_ms")}
        | {"non2xx": sum(r["non2xx"] for r in runs), "runs": len(runs)}
        for key, runs in results.items()
    }
    load = os.getloadavg()
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, load {load[0]:.1f}",
        "concurrency": CONCURRENCY,
        "results": summary,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
