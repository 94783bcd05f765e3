"""/healthz latency while the server verifies 20 runs a second (issue 11: p99 <= 25 ms).

One real server (python main.py, SCORE_VERIFICATION=required, instrumentation on, rate
limits off) on a temp SQLite file. Tokens for every run are taken first; the runs are
2-minute autopilot runs of physics.js under Node for those seeds, so the benchmark
waits until 2 minutes have passed (the server refuses runs posted faster than real
time). Then, for --seconds, runs are posted open-loop at --rate per second while
/healthz is probed every 20 ms; a quiet phase of probes before gives the baseline.

    .venv/bin/python bench/bench_verify_load.py [--rate 20] [--seconds 30]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from tests.server import start_server
from tests.ui.parity import node

TWO_MINUTES = 2 * 60 * physics.TICK_HZ


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# The prober is its own process with its own connection: in this process, /healthz would
# queue behind the POSTs for a pooled connection and for this process's CPU.
PROBE = """
import json, sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
out = []
with httpx.Client(base_url=url, timeout=30) as http:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        assert http.get("/healthz").status_code == 200
        out.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
print(json.dumps(out))
"""


async def probe(url: str, seconds: float) -> list[float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, url, str(seconds), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await proc.communicate()
    assert proc.returncode == 0
    return list(json.loads(stdout))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_runs(http: httpx.AsyncClient, bodies: list[dict], rate: float) -> list[httpx.Response]:
    started = time.perf_counter()
    tasks = []
    for i, body in enumerate(bodies):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(http.post("/score", json=body)))
    return list(await asyncio.gather(*tasks))


async def main_async(url: str, pid: int, rate: float, seconds: float, *, control: bool = False) -> None:
    n = int(rate * seconds)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        starts = [(await http.post("/game-start")).json() for _ in range(n)]
        first_token = time.monotonic()
        specs = [
            {"seed": s["seed"], "margin": 8, "noise": 0, "noiseSeed": 1, "stopTick": TWO_MINUTES, "maxFlaps": 10**6}
            for s in starts
        ]
        plans = node({"op": "plan", "specs": specs})
        bodies = []
        longest = 0
        for s, flaps in zip(starts, plans, strict=True):
            out = physics.simulate(s["seed"], flaps)
            longest = max(longest, out.ticks)
            bodies.append(
                {"score": out.score, "run_id": s["run_id"], "seed": s["seed"], "token": s["token"],
                 "ticks": encode_ticks(flaps)}
            )  # fmt: skip
        ticks = [physics.simulate(b["seed"], plans[i]).ticks for i, b in enumerate(bodies)]
        print(f"{n} runs planned: median {statistics.median(ticks)} ticks, longest {longest}")

        if control:
            bodies = [{"score": b["score"], "run_id": b["run_id"]} for b in bodies]
        # Honest runs cannot arrive before they could have been played: probe the quiet server meanwhile.
        wait = 10.0 if control else max(10.0, first_token + longest * physics.TICK_MS / 1000 + 1 - time.monotonic())
        quiet = await probe(url, wait)

        cpu_before = cpu_s(pid)
        load_started = time.perf_counter()
        prober = asyncio.create_task(probe(url, seconds))
        responses = await post_runs(http, bodies, rate)
        load_s = time.perf_counter() - load_started
        cpu = cpu_s(pid) - cpu_before
        loaded = await prober

    codes = [r.status_code for r in responses]
    assert codes.count(201) == n, f"not all stored: {sorted(set(codes))} {responses[0].text[:300]}"
    assert all(r.json()["verified"] is not control for r in responses)
    print(f"posted {n} runs in {load_s:.1f} s ({n / load_s:.1f}/s), all 201 and verified")
    print(f"server CPU while posting: {cpu:.1f} s over {load_s:.1f} s ({100 * cpu / load_s:.0f}% of one core)")
    for name, samples in (("quiet", quiet), ("while verifying", loaded)):
        print(
            f"/healthz {name}: {len(samples)} probes, p50 {pct(samples, 0.5):.1f} ms, "
            f"p99 {pct(samples, 0.99):.1f} ms, max {max(samples):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--control",
        action="store_true",
        help="SCORE_VERIFICATION=off, bare scores at the same rate: the cost of the rest",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SCORE_VERIFICATION": "off" if args.control else "required", "LOG_LEVEL": "warning"}
        with start_server(Path(tmp), env=env) as server:
            asyncio.run(main_async(server.url, server.proc.pid, args.rate, args.seconds, control=args.control))


if __name__ == "__main__":
    main()
