"""A real Prometheus (Debian's binary) on loopback, scraping real app processes every second.

Used by test_prometheus_alerts.py and test_gate.py through the `prom_stack` fixture in
tests/ops/conftest.py. Nothing here is faked: the apps are `python main.py`, the rules
are derived from infra/observability/prometheus/alerts.yml, Prometheus evaluates them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from drafty_bird.ops import gate
from tests.aio import run_async
from tests.server import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
# The one rule file: Prometheus, promtool, the release gate, the Bicep rule groups and the drill.
ALERTS_YML = ROOT / "infra" / "observability" / "prometheus" / "alerts.yml"

_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w|y))\]")


def derive_test_rules(source: Path, target: Path, *, window: str, hold: str, interval: str) -> dict:
    """Copy the real rules with every range vector set to `window`, every `for` to `hold`
    and every group interval to `interval`: the alerts need 5m..6h of data, a test has a
    minute. Names, labels, thresholds and expression structure stay exactly as written."""
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        group["interval"] = interval
        for rule in group["rules"]:
            rule["expr"] = _RANGE.sub(f"[{window}]", rule["expr"])
            if "for" in rule:
                rule["for"] = hold
    target.write_text(yaml.safe_dump(rules, sort_keys=False))
    return rules


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    assert path, "prometheus binary not found: install Debian's `prometheus` package (make system-deps)"
    return path


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen
    log_path: Path
    # Queries go through the release gate's client: one PromQL client in the repo, exercised here too.
    client: gate.Prometheus = field(init=False)

    def __post_init__(self) -> None:
        self.client = gate.Prometheus(self.url, attempts=1)

    def vector(self, expr: str) -> list[dict]:
        return self.client.vector(expr)  # raises gate.PrometheusError on any failed query

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]


@contextlib.contextmanager
def run_prometheus(workdir: Path, targets: dict[str, str], rule_file: Path) -> Iterator[Prometheus]:
    """targets: revision label -> host:port, all in job "drafty-bird" (the rules' contract)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {
                "job_name": "drafty-bird",
                # The same label contract as ACA's collector: a `revision` label per target.
                "static_configs": [{"targets": [addr], "labels": {"revision": rev}} for rev, addr in targets.items()],
            }
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log_path)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 30, interval=0.2, message="prometheus /-/ready")
        yield prom
    finally:
        prom.client.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Traffic:
    """Paced, bounded load against one app, in a background thread, until stopped."""

    url: str
    workers: int
    pace_s: float
    games: bool  # also POST /game-start (not a chaos route) for the funnel panels
    max_seconds: float = 240
    max_requests: int = 40_000
    counts: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: run_async(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        async with httpx.AsyncClient(base_url=self.url, timeout=15) as client:

            async def worker(n: int) -> None:
                i = 0
                while not self._stop.is_set() and time.monotonic() < deadline and self.total < self.max_requests:
                    i += 1
                    try:
                        if self.games and i % 10 == 0:
                            response = await client.post("/game-start")
                        elif i % 3 == 0:
                            body = {"player": f"load{n}", "score": (n * 7919 + i) % 500}
                            response = await client.post("/score", json=body)
                        else:
                            response = await client.get("/leaderboard")
                        self.counts[response.status_code] = self.counts.get(response.status_code, 0) + 1
                    except httpx.HTTPError:
                        self.counts[-1] = self.counts.get(-1, 0) + 1
                    await asyncio.sleep(self.pace_s)

            await asyncio.gather(*(worker(n) for n in range(self.workers)))
