"""Types, bounds and parsers for settings that ops/ also applies at runtime.

The one definition of each: Settings (CHAOS_*, RATE_LIMIT_* variables) and the runtime
users (PUT /ops/chaos, the chaos and rate-limit middleware) all import them from here.
Imports nothing of ours, so settings.py stays free of ops (metrics, OpenTelemetry).
"""

from typing import Annotated

from limits import RateLimitItem, parse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ErrorRate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
LatencyMs = Annotated[float, Field(ge=0.0, le=60_000.0, allow_inf_nan=False)]


def parse_routes(value: object) -> tuple[str, ...]:
    """'/score, /leaderboard' or a list -> ('/score', '/leaderboard'); each must start with '/'."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("routes must be a comma-separated string or a list of paths")
    routes = tuple(dict.fromkeys(str(item).strip().rstrip("/") or "/" for item in items if str(item).strip()))
    bad = [r for r in routes if not r.startswith("/")]
    if bad:
        raise ValueError(f"route {bad[0]!r} must start with '/'")
    return routes


def check_latency_order(p50: float, p99: float) -> None:
    if p99 < p50:
        raise ValueError(f"latency p99 ({p99:g} ms) must be >= p50 ({p50:g} ms)")


class ChaosConfig(BaseModel):
    """The chaos switch and its knobs: CHAOS_* at start-up, GET/PUT /ops/chaos at runtime."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    error_rate: ErrorRate = 0.0
    latency_ms_p50: LatencyMs = 0.0
    latency_ms_p99: LatencyMs = 0.0
    routes: tuple[str, ...] = ("/score", "/leaderboard")
    seed: int = 42

    @field_validator("routes", mode="before")
    @classmethod
    def _routes(cls, value: object) -> tuple[str, ...]:
        return parse_routes(value)

    @model_validator(mode="after")
    def _order(self) -> "ChaosConfig":
        check_latency_order(self.latency_ms_p50, self.latency_ms_p99)
        return self


def parse_limit(value: str) -> RateLimitItem | None:
    """'120/minute' style; blank or 'off' disables. Raises ValueError on nonsense."""
    if value.strip().lower() in ("", "off", "0"):
        return None
    return parse(value)
