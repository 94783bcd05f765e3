"""Open-pages benchmark: N real game pages on one server process, spread over several
client processes, as browsers open them (tests/pageclient.py: GET / with cookies, the
socket.io websocket with NiceGUI's implicit handshake, pings answered, acks as nicegui.js).

For each N it measures: pages connected; server RSS (total and per page over the empty
server); server CPU while every page idles; time from a new #1 POST /score's 201 to the
top-10 update arriving on each page (p50/p99 over all page deliveries; also from sending
the POST; and the median of "reached every page"); server event-loop lag
(drafty_bird_event_loop_lag_seconds); /healthz p99 with every page open; a reconnect storm
(every page reloads at once, as after a restart) and the seconds until all are connected
again. Numbers go to docs/PERFORMANCE.md.

    .venv/bin/python bench/pages_load.py [--pages 100 250 500 1000 2000] [--workers 4]
        [--idle-s 20] [--scores 20] [--stable-s 0] [--json out.json]
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import queue
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

from tests.pageclient import Busy, Page, Refused  # noqa: E402 (sys.path set-up above)
from tests.server import launch, wait_healthy  # noqa: E402 (sys.path set-up above)

CONNECT_CONCURRENCY = 25  # page loads in flight per worker, like a crowd arriving, not a flood
TICKS = os.sysconf("SC_CLK_TCK")


# ---- worker process: holds its share of the pages -------------------------------------


def worker_main(url: str, commands: mp.Queue, results: mp.Queue) -> None:
    asyncio.run(_worker(url, commands, results))


async def _worker(url: str, commands: mp.Queue, results: mp.Queue) -> None:
    # force_close: a websocket upgraded on a kept-alive connection that served GET / is
    # dropped ~5 s later (uvicorn's keep-alive timer, seen here); browsers open a fresh one.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
    pages: list[Page] = []
    seen: dict[str, list[float]] = {}  # marker -> arrival times on this worker's pages
    markers: list[str] = []

    def on_event(data: str, now: float) -> None:
        for marker in markers:
            if marker in data:
                seen.setdefault(marker, []).append(now)

    async def open_pages(n: int) -> dict:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        errors: dict[str, int] = {}

        async def one() -> None:
            async with gate:
                page = Page(url, session, on_event=on_event)
                try:
                    await page.open()
                    pages.append(page)
                except (Busy, Refused, aiohttp.ClientError, TimeoutError, AssertionError) as exc:
                    key = type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1

        await asyncio.gather(*(one() for _ in range(n)))
        return {"connected": sum(p.connected for p in pages), "errors": errors}

    async def storm() -> dict:
        """Every page drops its socket and reloads at once (a restart as browsers see it)."""
        old = list(pages)
        pages.clear()
        await asyncio.gather(*(p.close() for p in old), return_exceptions=True)
        started = time.monotonic()
        outcome = await _retrying_open(len(old))
        outcome["settle_s"] = time.monotonic() - started
        return outcome

    async def _retrying_open(n: int) -> dict:
        # Browsers whose load fails retry (the busy page does so itself): up to 60 s.
        deadline = time.monotonic() + 60
        remaining, errors = n, dict[str, int]()
        while remaining and time.monotonic() < deadline:
            before = len(pages)
            res = await open_pages(remaining)
            for k, v in res["errors"].items():
                errors[k] = errors.get(k, 0) + v
            remaining -= len(pages) - before
            if remaining:
                await asyncio.sleep(1)
        return {"connected": sum(p.connected for p in pages), "errors": errors}

    loop = asyncio.get_running_loop()
    while True:
        cmd, arg = await loop.run_in_executor(None, commands.get)
        if cmd == "open":
            results.put(await open_pages(arg))
        elif cmd == "watch":
            markers.append(arg)
            results.put("ok")
        elif cmd == "seen":
            results.put({m: seen.get(m, []) for m in markers})
            markers.clear()
            seen.clear()
        elif cmd == "count":
            results.put({"connected": sum(p.connected for p in pages), "bytes": sum(p.bytes_in for p in pages)})
        elif cmd == "storm":
            results.put(await storm())
        elif cmd == "stop":
            await asyncio.gather(*(p.close() for p in pages), return_exceptions=True)
            await session.close()
            results.put("stopped")
            return


class Workers:
    def __init__(self, url: str, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.queues = [(ctx.Queue(), ctx.Queue()) for _ in range(n)]
        self.procs = [ctx.Process(target=worker_main, args=(url, c, r), daemon=True) for c, r in self.queues]
        for p in self.procs:
            p.start()

    def all(self, cmd: str, args: list | None = None, timeout: float = 300) -> list:
        for i, (c, _) in enumerate(self.queues):
            c.put((cmd, args[i] if args is not None else None))
        return [r.get(timeout=timeout) for _, r in self.queues]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.all("stop", timeout=30)
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


# ---- the server, seen from outside ---------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def metric_lines(metrics_url: str, name: str) -> dict[str, float]:
    text = httpx.get(metrics_url, timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def lag_quantile(before: dict[str, float], after: dict[str, float], q: float) -> float | None:
    """A quantile (s) of the loop-lag histogram's increase between two scrapes."""
    buckets = []
    for key, value in after.items():
        if "_bucket{" in key:
            bound = key.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), value - before.get(key, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    target = q * buckets[-1][1]
    for le, count in buckets:
        if count >= target:
            return le
    return None


def _buckets(lines: dict[str, float]) -> dict[str, dict[float, float]]:
    """{series (labels before le): {upper bound: cumulative count}} of one histogram's scrape."""
    out: dict[str, dict[float, float]] = {}
    for key, value in lines.items():
        if "_bucket{" in key:
            series, bound = key.split('le="')[0], key.split('le="')[1].split('"')[0]
            out.setdefault(series, {})[float("inf") if bound == "+Inf" else float(bound)] = value
    return out


def gc_pauses(before: dict[str, float], after: dict[str, float]) -> dict:
    """GC passes between two scrapes of drafty_bird_gc_pause_seconds, all generations: how
    many took over 100 ms, and the upper bound of the slowest one's bucket (s)."""
    over, slowest = 0.0, 0.0
    old = _buckets(before)
    for series, counts in _buckets(after).items():
        grown = {le: n - old.get(series, {}).get(le, 0.0) for le, n in counts.items()}
        over += grown[float("inf")] - grown.get(0.1, 0.0)
        below = 0.0
        for le in sorted(grown):
            if grown[le] > below:
                slowest = max(slowest, le)
            below = grown[le]
    return {"gc_pauses_over_100ms": int(over), "gc_slowest_pause_le_s": slowest}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def measure(url: str, pid: int, workers: Workers, n: int, args: argparse.Namespace, base_rss: float) -> dict:
    metrics_url = args.metrics_url or url + "/metrics"
    share = [n // len(workers.procs) + (1 if i < n % len(workers.procs) else 0) for i in range(len(workers.procs))]
    current = sum(r["connected"] for r in workers.all("count"))
    gc0 = metric_lines(metrics_url, "drafty_bird_gc_pause_seconds")
    started = time.monotonic()
    opened = workers.all("open", [max(0, s - current // len(workers.procs)) for s in share])
    open_s = time.monotonic() - started
    errors: dict[str, int] = {}
    for r in opened:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    time.sleep(5)  # let the connect burst's garbage and timers settle
    if args.stable_s:
        time.sleep(args.stable_s)
    connected = sum(r["connected"] for r in workers.all("count"))

    rss = rss_mb(pid)
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(args.idle_s)
    idle_cpu = (cpu_s(pid) - c0) / (time.monotonic() - t0)

    lag0 = metric_lines(metrics_url, "drafty_bird_event_loop_lag_seconds")
    health = []
    with httpx.Client(timeout=10) as http:
        for _ in range(args.health_requests):
            t = time.perf_counter()
            http.get(url + "/healthz")
            health.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)

    # From the 201 reaching the poster (the definition; an update that beats the
    # 201 counts as 0) and from sending the POST (adds the commit: fsync on this disk).
    per_page, every_page, from_send, missing = [], [], [], 0
    bytes0 = sum(r["bytes"] for r in workers.all("count"))
    with httpx.Client(timeout=30) as http:
        for k in range(args.scores):
            marker = f"bench{n}x{k}"
            workers.all("watch", [marker] * len(workers.procs))
            sent = time.time()
            response = http.post(url + "/score", json={"player": marker, "score": 1000 + n + k})
            created = time.time()
            assert response.status_code == 201, response.text
            time.sleep(args.score_gap_s)
            arrivals = [t for r in workers.all("seen") for t in r.get(marker, [])]
            missing += max(0, connected - len(arrivals))
            lat = [max(0.0, t - created) * 1000 for t in arrivals]
            from_send += [(t - sent) * 1000 for t in arrivals]
            per_page += lat
            if lat:
                every_page.append(max(lat))
    bytes_per_page_update = (sum(r["bytes"] for r in workers.all("count")) - bytes0) / max(1, connected * args.scores)
    lag1 = metric_lines(metrics_url, "drafty_bird_event_loop_lag_seconds")
    try:
        storm = workers.all("storm", timeout=300) if args.storm else []
    except queue.Empty:  # not settled in 300 s: a result, not a crash of the tool
        storm = [{"settle_s": float("inf"), "connected": -1}]
    pauses = gc_pauses(gc0, metric_lines(metrics_url, "drafty_bird_gc_pause_seconds"))
    return {
        "pages": n,
        "connected": connected,
        "open_s": round(open_s, 1),
        "open_errors": errors,
        "rss_mb": round(rss, 1),
        "rss_per_page_kb": round((rss - base_rss) * 1024 / max(1, connected), 1),
        "idle_cpu_pct": round(idle_cpu * 100, 1),
        "broadcast_p50_ms": round(pct(per_page, 0.5), 1),
        "broadcast_p99_ms": round(pct(per_page, 0.99), 1),
        "every_page_median_ms": round(statistics.median(every_page), 1) if every_page else None,
        "from_send_p50_ms": round(pct(from_send, 0.5), 1),
        "from_send_p99_ms": round(pct(from_send, 0.99), 1),
        "missed_deliveries": missing,
        "bytes_per_page_update": round(bytes_per_page_update),
        "loop_lag_p99_ms": (lambda v: None if v is None else round(v * 1000, 1))(lag_quantile(lag0, lag1, 0.99)),
        "healthz_p99_ms": round(pct(health, 0.99), 1),
        "storm_settle_s": round(max(s["settle_s"] for s in storm), 1) if storm else None,
        "storm_connected": sum(s["connected"] for s in storm) if storm else None,
        "rss_after_storm_mb": round(rss_mb(pid), 1) if storm else None,
        **pauses,  # the whole step: opening, idle, scores, storm
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[100, 250, 500, 1000, 2000])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-s", type=float, default=20)
    parser.add_argument("--stable-s", type=float, default=0, help="hold the pages this long before measuring")
    parser.add_argument("--scores", type=int, default=20)
    parser.add_argument("--score-gap-s", type=float, default=1.5)
    parser.add_argument("--health-requests", type=int, default=200)
    parser.add_argument("--no-storm", dest="storm", action="store_false")
    parser.add_argument("--metrics-url", help="when /metrics is served on its own port")
    parser.add_argument("--url", help="measure a running server (pid needed for RSS/CPU)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--env", nargs="*", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.url:
            url, pid = args.url, args.pid
        else:
            env = {"MAX_PAGES": str(max(args.pages) + 100), "MAX_SOCKETS_PER_CLIENT": "0"}
            env.update(kv.split("=", 1) for kv in args.env)
            server = launch(Path(tmp), env)
            wait_healthy(server)
            url, pid = server.url, server.proc.pid
        # Every page loads and prunes its NiceGUI client; one warm-up page loads the components.
        httpx.get(url + "/", timeout=30)
        time.sleep(2)
        base_rss = rss_mb(pid)
        workers = Workers(url, args.workers)
        try:
            for n in sorted(args.pages):
                row = measure(url, pid, workers, n, args, base_rss)
                print(json.dumps(row), flush=True)
                results.append(row)
        finally:
            workers.stop()
            if server is not None:
                server.stop()
    load = os.getloadavg()
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_at_end": [round(x, 1) for x in load],
        "base_rss_mb": round(base_rss, 1),
    }
    print(json.dumps(meta))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
