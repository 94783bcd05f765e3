"""Every environment variable the service reads, validated in one place.

Names follow the original Node service so existing deployments keep working.
"""

import itertools
import math
import os
import string
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from drafty_bird.config_types import ChaosConfig, ErrorRate, LatencyMs, check_latency_order, parse_limit, parse_routes

# Defaults of the CHAOS_* variables: ChaosConfig's, so start-up and PUT /ops/chaos agree.
_CHAOS = ChaosConfig()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    host: str = Field("0.0.0.0", description="Interface to bind (HOST).")
    port: int = Field(8080, ge=1, le=65535, description="TCP port (PORT).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    score_db_path: Path = Field(Path("/data/db.sqlite"), description="SQLite leaderboard file.")
    # When set it wins over SCORE_DB_PATH: postgresql+psycopg://user@host/db selects PostgreSQL
    # (every replica writes; no lease), sqlite:///path another SQLite file.
    database_url: str | None = None
    # PostgreSQL only: connections per process (the pool), and the two timeouts that turn a
    # slow or absent server into a quick 503 instead of a hung request.
    db_pool_size: int = Field(5, ge=1, le=100)
    db_statement_timeout_ms: int = Field(5000, ge=100, le=600_000)
    db_connect_timeout_s: int = Field(5, ge=1, le=60)
    # "entra": the password is a Microsoft Entra token of the managed identity named as the
    # URL's user (azure-identity; AZURE_CLIENT_ID selects a user-assigned identity).
    database_auth: Literal["password", "entra"] = "password"
    # What to do when the DB file cannot be used: "fail" keeps the process up but not
    # ready, "memory" serves from an in-memory DB (the original app's behaviour).
    storage_fallback: Literal["fail", "memory"] = "fail"
    sqlite_journal_mode: Literal["delete", "wal"] = "delete"
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, le=60000)
    # Single-writer lease beside the DB file (revision overlap on a shared SMB file).
    writer_lease_ttl_s: float = Field(15.0, ge=1, le=300)
    # Storage unusable at start-up is retried this often (each try logs one error line).
    storage_reopen_s: float = Field(15.0, ge=0.5, le=3600)
    # After SIGTERM: seconds /readyz answers 503 before the listener closes (LB catches up).
    shutdown_delay_s: float = Field(2.0, ge=0, le=20)
    # Periodic online backups (0 = off) into BACKUP_DIR (default: <db dir>/backups), keeping BACKUP_KEEP.
    backup_interval_s: int = Field(0, ge=0)
    backup_dir: Path | None = None
    backup_keep: int = Field(7, ge=1, le=1000)
    # Per-client limits ("120/minute"; blank or "off" disables). Client = X-Forwarded-For
    # only when the peer is in TRUSTED_PROXIES (comma list of IPs/CIDRs, uvicorn's forwarded_allow_ips).
    rate_limit_score: str = "120/minute"
    rate_limit_game_start: str = "120/minute"
    # Loads of the game page (GET/HEAD /) per client: each one builds a NiceGUI client.
    rate_limit_page: str = "60/minute"
    trusted_proxies: str = "127.0.0.1,::1"
    # Lines per period each logger a client can make write (nicegui, asyncio, socket.io) may
    # write; the rest is dropped and counted (ops/client_log.py). Blank or "off" disables.
    log_flood_limit: str = "60/minute"
    # Capacity (docs/PERFORMANCE.md "Open pages"): NiceGUI clients one process holds before
    # new page loads get the busy answer; sockets one client may hold (0 = no cap); the
    # shortest gap between two pushes of the live top 10 to the open pages.
    max_pages: int = Field(1000, ge=1, le=100_000)
    max_sockets_per_client: int = Field(30, ge=0, le=100_000)
    board_push_interval_ms: int = Field(500, ge=0, le=60_000)
    # NiceGUI's reconnect timeout (a closed page's client is kept this long); socket.io drops a
    # page 0.4x of it after an unanswered ping. NiceGUI's 3 s default (2 s) dropped pages when
    # the loop stalled under load.
    page_reconnect_timeout_s: float = Field(10.0, ge=3, le=120)
    # A page load whose socket has not connected after this is dropped (NiceGUI waits 60-70 s);
    # a browser that connects later reloads the page. Long enough for a slow phone's first visit.
    page_connect_timeout_s: float = Field(15.0, ge=5, le=120)
    # How often engine.io pings each open page (NiceGUI's 0.8 x the reconnect timeout would be
    # 8 s, about 1.4% of a core more per 500 idle pages). socket.io's own default is 25 s.
    page_ping_interval_s: float = Field(20.0, ge=4, le=60)
    # Azure Front Door profile id: when set, requests without this X-Azure-FDID get 403
    # (probes and loopback exempt). Empty: no Front Door in front, no check.
    front_door_id: str = ""

    # Score verification (issue 11). required: POST /score needs the run token and ticks and
    # stores the server's replay of the run; off: the original {"player","score"} contract.
    score_verification: Literal["required", "off"] = "required"
    # HMAC key of run tokens (Key Vault in production). Unset: a random per-process key and a
    # warning; its tokens die with the process and are refused by other replicas.
    run_token_secret: SecretStr | None = None
    # Rotation: the old key still verifies until RUN_TOKEN_PREVIOUS_UNTIL (a UTC time).
    run_token_secret_previous: SecretStr | None = None
    run_token_previous_until: datetime | None = None
    # A token older than this is refused (covers the longest run plus the offline queue).
    run_token_ttl_s: int = Field(86_400, ge=60, le=7 * 86_400)

    # Exposes window.__draftyBird in the page so Playwright can read game state.
    game_test_hooks: bool = False

    # Observability. Off only for the overhead benchmark: metrics middleware and tracing.
    instrumentation_enabled: bool = True
    # Private Prometheus listener on 127.0.0.1 (0 = none). The collector sidecar scrapes it over
    # the replica's shared localhost, so production needs no /metrics on the public port.
    metrics_port: int = Field(0, ge=0, le=65535)
    # GET /metrics on the public port: on for local runs and the compose stack, off in production
    # (it shows versions, the revision, memory, CPU and socket counts).
    metrics_public: bool = True
    # /docs, /redoc and /openapi.json: off in production.
    docs_enabled: bool = True
    deployment_environment: str = Field("development", min_length=1, max_length=64)
    # Set by Azure Container Apps in every replica; labels metrics and traces.
    container_app_revision: str = ""
    container_app_replica_name: str = ""
    # Standard OTel variables: export only when an endpoint is set (or console asked for).
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    otel_traces_exporter: str = "otlp"

    # Chaos (staging drills): types, bounds and defaults are ChaosConfig's (config_types.py),
    # the same rules PUT /ops/chaos applies; the `chaos` property turns these into one.
    chaos_enabled: bool = _CHAOS.enabled
    chaos_error_rate: ErrorRate = _CHAOS.error_rate
    chaos_latency_ms_p50: LatencyMs = _CHAOS.latency_ms_p50
    chaos_latency_ms_p99: LatencyMs = _CHAOS.latency_ms_p99
    chaos_routes: str = ",".join(_CHAOS.routes)
    chaos_seed: int = _CHAOS.seed
    # When set, GET/PUT /ops/chaos exist and need "Authorization: Bearer <token>"; at least
    # 128 bits from a generator (token_strength_problem).
    chaos_admin_token: SecretStr | None = None
    # Wrong tokens per client (after TRUSTED_PROXIES) before /ops/chaos answers 429 to it.
    chaos_auth_failure_limit: str = "10/minute"

    @field_validator(
        "log_level",
        "storage_fallback",
        "sqlite_journal_mode",
        "otel_exporter_otlp_protocol",
        "database_auth",
        "score_verification",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = value.split("://", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):  # psycopg 3 is the only PostgreSQL driver installed
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if scheme not in ("postgresql+psycopg", "sqlite"):
            raise ValueError("must start with postgresql+psycopg:// or sqlite:///")
        return value

    @field_validator("chaos_latency_ms_p99")
    @classmethod
    def _p99_not_below_p50(cls, value: float, info: ValidationInfo) -> float:
        check_latency_order(info.data.get("chaos_latency_ms_p50", 0.0), value)
        return value

    @field_validator("chaos_admin_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        problem = token_strength_problem(value.get_secret_value()) if value is not None else None
        if problem:
            raise ValueError(f"{problem}; generate one with `openssl rand -hex 32`")
        return value

    @field_validator("run_token_secret", "run_token_secret_previous", "run_token_previous_until", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty value (e.g. an unset pipeline variable) means "not configured".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("run_token_secret", "run_token_secret_previous")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (use a random secret)")
        return value

    @model_validator(mode="after")
    def _previous_key_has_a_window(self) -> "Settings":
        if self.run_token_secret_previous is not None and self.run_token_previous_until is None:
            raise ValueError("RUN_TOKEN_SECRET_PREVIOUS needs RUN_TOKEN_PREVIOUS_UNTIL (when the old key stops)")
        if self.run_token_secret_previous is not None and self.run_token_secret is None:
            raise ValueError("RUN_TOKEN_SECRET_PREVIOUS needs RUN_TOKEN_SECRET (the new key)")
        return self

    @field_validator("metrics_port")
    @classmethod
    def _second_port(cls, value: int, info: ValidationInfo) -> int:
        if value and value == info.data.get("port"):
            raise ValueError("must differ from PORT: it is a second, loopback-only listener")
        return value

    @field_validator("chaos_routes")
    @classmethod
    def _routes(cls, value: str) -> str:
        return ",".join(parse_routes(value))

    @field_validator(
        "rate_limit_score", "rate_limit_game_start", "rate_limit_page", "chaos_auth_failure_limit", "log_flood_limit"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_limit(value)  # ValueError names the bad value
        return value

    @field_validator("database_auth")
    @classmethod
    def _entra_needs_postgresql(cls, value: str, info: ValidationInfo) -> str:
        if value == "entra" and not (info.data.get("database_url") or "").startswith("postgresql"):
            raise ValueError("entra needs DATABASE_URL=postgresql+psycopg://<identity>@<server>/<db>")
        return value

    @property
    def chaos(self) -> ChaosConfig:
        return ChaosConfig(
            enabled=self.chaos_enabled,
            error_rate=self.chaos_error_rate,
            latency_ms_p50=self.chaos_latency_ms_p50,
            latency_ms_p99=self.chaos_latency_ms_p99,
            routes=self.chaos_routes,
            seed=self.chaos_seed,
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.score_db_path}"


MIN_TOKEN_BITS = 128
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/-_")
# Longest stretch of steps of 0, +1 or -1 between neighbours ("aaaaaa", "012345", "fedcba")
# a generated token may hold: 6 has odds below 1e-4 in random hex.
_MAX_PATTERN_RUN = 6


def _longest_run(token: str) -> int:
    longest = run = 1
    step = None
    for before, after in itertools.pairwise(token):
        delta = ord(after) - ord(before)
        run = run + 1 if delta in (-1, 0, 1) and delta == step else (2 if delta in (-1, 0, 1) else 1)
        step = delta
        longest = max(longest, run)
    return longest


def token_strength_problem(token: str) -> str | None:
    """Why a secret is too weak to guard an endpoint on the internet, or None.

    Bits are estimated from the alphabet the token draws on (hex 4/char, base64 6/char,
    other printable ASCII log2(94)), then obvious patterns are refused outright.
    """
    body = token.strip().rstrip("=")
    chars = set(body)
    per_char = 4.0 if chars <= _HEX else 6.0 if chars <= _BASE64 else math.log2(94)
    bits = len(body) * per_char
    if bits < MIN_TOKEN_BITS:
        return f"too weak: about {bits:.0f} bits, at least {MIN_TOKEN_BITS} needed (32 hex or 22 base64 characters)"
    if len(chars) < 8:
        return "too weak: fewer than 8 distinct characters"
    if _longest_run(body) >= _MAX_PATTERN_RUN:
        return "too weak: contains a sequence or repeated run (not from a generator)"
    if any(body == (body[:period] * len(body))[: len(body)] for period in range(1, len(body) // 2 + 1)):
        return "too weak: a repeated block"
    return None


class SettingsError(Exception):
    """A configuration problem, worded as one line naming the variable."""


def _first_error_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    if not err["loc"]:  # a check across fields: its input is every setting, secrets included
        return f"invalid settings: {str(err['msg']).removeprefix('Value error, ')}"
    name = str(err["loc"][0]).upper()
    # A URL may carry a password.
    secret = name.endswith(("TOKEN", "SECRET", "SECRET_PREVIOUS")) or name == "DATABASE_URL"
    shown = "<redacted>" if secret else repr(err.get("input"))  # never echo a secret
    return f"invalid {name}={shown}: {str(err['msg']).removeprefix('Value error, ')}"


def _check_db_dir(settings: Settings) -> None:
    """Fail fast on a DB directory that can never work, unless falling back to memory."""
    if settings.database_url or settings.storage_fallback == "memory":
        return
    directory = settings.score_db_path.expanduser().resolve().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"invalid SCORE_DB_PATH={str(settings.score_db_path)!r}: cannot create {directory} ({exc.strerror})"
        ) from None
    if not os.access(directory, os.W_OK):
        raise SettingsError(f"invalid SCORE_DB_PATH={str(settings.score_db_path)!r}: {directory} is not writable")


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; raises SettingsError with one clear line."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_first_error_line(exc)) from None
    _check_db_dir(settings)
    return settings
