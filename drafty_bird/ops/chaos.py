"""Chaos injection: seeded errors and latency on chosen routes, as pure ASGI middleware.

Used in staging to prove the alerts and the rollback. Off by default. Probes, /metrics,
NiceGUI's internals and the control endpoint are never touched, whatever CHAOS_ROUTES
says: a failing probe would make ACA restart the replica instead of showing the alert.
"""

import asyncio
import logging
import math
import random
from collections.abc import Callable
from statistics import NormalDist

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send

from drafty_bird.config_types import ChaosConfig, check_latency_order
from drafty_bird.ops import metrics
from drafty_bird.ops.errors import error_body, send_json

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

CONTROL_PATH = "/ops/chaos"
PROTECTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", CONTROL_PATH})
ERROR_BODY = "Injected chaos error"
Z99 = NormalDist().inv_cdf(0.99)  # 2.3263...: p99 of a standard normal
# The log-normal tail is unbounded; a cap far above p99 keeps a drill from hanging clients.
MAX_LATENCY_FACTOR = 3.0


class LatencyDistribution:
    """Log-normal with the configured p50 and p99: mu = ln(p50), sigma = ln(p99/p50) / z99.

    p50 == p99 gives a constant; p50 == 0 < p99 gives 0 for half the draws and a tail
    that reaches p99 at the 99th percentile.
    """

    def __init__(self, p50: float, p99: float) -> None:
        check_latency_order(p50, p99)
        self.p50, self.p99 = p50, p99
        self.sigma = math.log(p99 / p50) / Z99 if p50 > 0 else 0.0
        self.cap = p99 * MAX_LATENCY_FACTOR

    def quantile(self, u: float) -> float:
        """Latency (ms) at probability u in (0, 1): inverse CDF, so one uniform draw each."""
        if self.p99 <= 0:
            return 0.0
        u = min(max(u, 1e-12), 1 - 1e-12)
        if self.p50 > 0:
            value = self.p50 * math.exp(self.sigma * NormalDist().inv_cdf(u))
        elif u <= 0.5:
            value = 0.0
        else:  # exponential-like tail through (0.5, 0) and (0.99, p99)
            value = self.p99 * math.log(0.5 / (1 - u)) / math.log(50)
        return min(value, self.cap)

    def draw(self, rng: random.Random) -> float:
        return self.quantile(rng.random())


class StratifiedUniform:
    """Uniform draws, one per percentile in every block of 100, in seeded random order.

    Plain draws put the sample p99 of a few hundred requests anywhere; stratified, the
    configured p50/p99 show up within each block, so a short drill meets the alert.
    """

    BLOCK = 100

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._block: list[float] = []

    def next(self) -> float:
        if not self._block:
            self._block = [(k + self.rng.random()) / self.BLOCK for k in range(self.BLOCK)]
            self.rng.shuffle(self._block)
        return self._block.pop()


class ChaosState:
    """The live config plus its seeded generator; replaced as a whole on every change."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.latency = LatencyDistribution(config.latency_ms_p50, config.latency_ms_p99)
        self.latency_u = StratifiedUniform(random.Random(config.seed + 1))  # its own stream
        self.routes = frozenset(config.routes)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def targets(self, path: str) -> bool:
        if not self.config.enabled or path in PROTECTED_PATHS or path.startswith("/_nicegui"):
            return False
        return (path.rstrip("/") or "/") in self.routes

    def decide(self) -> tuple[bool, float]:
        """(inject an error?, latency ms). Same seed, same sequence of decisions."""
        if self.config.error_rate > 0 and self.rng.random() < self.config.error_rate:
            return True, 0.0
        return False, self.latency.quantile(self.latency_u.next())


_state = ChaosState(ChaosConfig())
# Told of every change (the pages' banners): pushed once per change, never polled per page.
_watchers: list[Callable[[ChaosState], None]] = []


def watch(callback: Callable[[ChaosState], None]) -> Callable[[], None]:
    """Call callback(state) after every configure(); returns an unwatch."""
    _watchers.append(callback)
    return lambda: _watchers.remove(callback)


def chaos_state() -> ChaosState:
    """The current chaos state; e.g. chaos_state().enabled for the page's banner."""
    return _state


def configure(config: ChaosConfig) -> ChaosState:
    """Replace the live config (and re-seed): start-up and PUT /ops/chaos."""
    global _state
    _state = ChaosState(config)
    for callback in list(_watchers):
        try:
            callback(_state)
        except Exception:  # a broken page must not fail the control call
            log.exception("chaos watcher failed")
    return _state


def _record(kind: str, path: str, latency_ms: float) -> None:
    metrics.CHAOS_INJECTIONS.labels(kind).inc()
    log.warning(
        "chaos injected",
        extra={"event": "chaos.inject", "chaos_type": kind, "path": path, "latency_ms": round(latency_ms, 1)},
    )


class ChaosMiddleware:
    """Pure ASGI, inside the access log (so the 503 carries the request id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = _state
        if scope["type"] != "http" or not state.targets(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        error, latency_ms = state.decide()
        if error:
            with tracer.start_as_current_span(
                "chaos.inject", attributes={"chaos.injected": True, "chaos.type": "error", "chaos.latency_ms": 0.0}
            ):
                _record("error", path, 0.0)
            await send_json(send, 503, error_body(ERROR_BODY))
            return
        if latency_ms > 0:
            with tracer.start_as_current_span(
                "chaos.inject",
                attributes={"chaos.injected": True, "chaos.type": "latency", "chaos.latency_ms": round(latency_ms, 3)},
            ):
                _record("latency", path, latency_ms)
                await asyncio.sleep(latency_ms / 1000)  # never time.sleep: one loop serves every page
        await self.app(scope, receive, send)
