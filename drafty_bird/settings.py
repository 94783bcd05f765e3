"""Every environment variable the service reads, validated in one place.

Names follow the original Node service so existing deployments keep working.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    host: str = Field("0.0.0.0", description="Interface to bind (HOST).")
    port: int = Field(8080, ge=1, le=65535, description="TCP port (PORT).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    score_db_path: Path = Field(Path("/data/db.sqlite"), description="SQLite leaderboard file.")
    # Reserved for the PostgreSQL move: when set it wins over SCORE_DB_PATH.
    database_url: str | None = None
    # What to do when the DB file cannot be used: "fail" keeps the process up but not
    # ready, "memory" serves from an in-memory DB (the original app's behaviour).
    storage_fallback: Literal["fail", "memory"] = "fail"
    sqlite_journal_mode: Literal["delete", "wal"] = "delete"
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, le=60000)

    # Exposes window.__draftyBird in the page so Playwright can read game state.
    game_test_hooks: bool = False

    @field_validator("log_level", "storage_fallback", "sqlite_journal_mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.score_db_path}"


class SettingsError(Exception):
    """A configuration problem, worded as one line naming the variable."""


def _first_error_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = str(err["loc"][0]).upper() if err["loc"] else "settings"
    return f"invalid {name}={err.get('input')!r}: {err['msg']}"


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


def load_settings(**overrides: object) -> Settings:
    """Read and validate the environment; raises SettingsError with one clear line."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_first_error_line(exc)) from None
    _check_db_dir(settings)
    return settings


@lru_cache
def get_settings() -> Settings:
    return load_settings()
