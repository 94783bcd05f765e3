"""Page-load flood (issue 17, item 3): N loads of GET / that never open a socket, from one
client or spread over many X-Forwarded-For addresses (loopback is a trusted proxy), against
one real server process. Measures the answers, server RSS (before, peak, after), /healthz
latency during the flood, and how long after the flood a new visitor gets the page again
and the held NiceGUI clients are gone. Numbers go to docs/PERFORMANCE.md.

    .venv/bin/python bench/page_flood.py [--loads 3000] [--concurrency 16] [--addresses 3000]
        [--env KEY=VALUE ...] [--code /path/to/a/checkout] [--json out.json]

--code runs another checkout's main.py (e.g. the code before the fix) with this venv.
"""

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402 (after the sys.path set-up, with the rest)
import httpx  # noqa: E402

from tests.ops.scrape import scrape, value  # noqa: E402
from tests.server import launch, wait_healthy  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def held(url: str) -> float | None:
    """drafty_bird_pages_held, or None where the server does not export it (older code)."""
    samples = scrape(url)
    return value(samples, "drafty_bird_pages_held") if "drafty_bird_pages_held" in samples else None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def flood(url: str, pid: int, args: argparse.Namespace) -> dict:
    addresses = (f"10.{a}.{b}.{c}" for a, b, c in itertools.product(range(1, 250), range(256), range(1, 255)))
    pool = [next(addresses) for _ in range(max(1, args.addresses))]
    todo = list(range(args.loads))
    statuses: dict[int, int] = {}
    health_ms: list[float] = []
    rss_peak = rss_mb(pid)
    running = True
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def flooder() -> None:
            while todo:
                k = todo.pop()
                headers = {"X-Forwarded-For": pool[k % len(pool)]} if args.addresses else {}
                async with http.get(url + "/", headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        async def prober() -> None:
            nonlocal rss_peak
            async with httpx.AsyncClient(timeout=30) as probe:
                while running:
                    started = time.perf_counter()
                    await probe.get(url + "/healthz")
                    health_ms.append((time.perf_counter() - started) * 1000)
                    rss_peak = max(rss_peak, rss_mb(pid))
                    await asyncio.sleep(0.05)

        watch = asyncio.create_task(prober())
        started = time.monotonic()
        await asyncio.gather(*(flooder() for _ in range(args.concurrency)))
        flood_s = time.monotonic() - started
        running = False
        await watch
    return {
        "flood_s": round(flood_s, 1),
        "statuses": statuses,
        "rss_peak_mb": round(max(rss_peak, rss_mb(pid)), 1),
        "healthz_ms": {
            "n": len(health_ms),
            "p50": round(statistics.median(health_ms), 1),
            "p95": round(pct(health_ms, 0.95), 1),
            "p99": round(pct(health_ms, 0.99), 1),
        },
        "held_at_end": held(url),
    }


def recovery(url: str, deadline_s: float) -> dict:
    """Seconds after the flood until a new visitor gets the page, and until the held clients are gone."""
    started = time.monotonic()
    page_at = gone_at = None
    while time.monotonic() - started < deadline_s and (page_at is None or gone_at is None):
        now = time.monotonic() - started
        if page_at is None and httpx.get(url + "/", headers={"X-Forwarded-For": "192.0.2.99"}, timeout=30).is_success:
            page_at = now
        count = held(url)
        if gone_at is None and count is not None and count <= 1:
            gone_at = now
        time.sleep(0.5)
    return {
        "new_visitor_served_after_s": None if page_at is None else round(page_at, 1),
        "held_cleared_after_s": None if gone_at is None else round(gone_at, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--addresses", type=int, default=3000, help="distinct X-Forwarded-For clients (0: none)")
    parser.add_argument("--recovery-deadline-s", type=float, default=90)
    parser.add_argument("--env", nargs="*", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose main.py runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    env = {"LOG_LEVEL": "warning", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory() as tmp:
        server = launch(Path(tmp), env, command=[sys.executable, str(args.code / "main.py")], cwd=args.code)
        try:
            wait_healthy(server)
            httpx.get(server.url + "/", timeout=30)  # warm-up: the first page loads the components
            time.sleep(2)
            base = rss_mb(server.proc.pid)
            row = asyncio.run(flood(server.url, server.proc.pid, args))
            row.update(recovery(server.url, args.recovery_deadline_s))
            row["rss_base_mb"] = round(base, 1)
            row["rss_after_mb"] = round(rss_mb(server.proc.pid), 1)
        finally:
            server.stop()
    row["meta"] = {
        "code": str(args.code),
        "env": env,
        "loads": args.loads,
        "concurrency": args.concurrency,
        "addresses": args.addresses,
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_at_end": [round(x, 1) for x in os.getloadavg()],
    }
    print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
