"""Settings: one class, and a bad value stops start-up with one clear line."""

import subprocess
import sys

import pytest

from drafty_bird.config_types import ChaosConfig
from drafty_bird.settings import Settings, SettingsError, load_settings
from tests.server import launch


def test_defaults_match_the_original_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "HOST", "SCORE_DB_PATH", "LOG_LEVEL", "STORAGE_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.port, settings.host, str(settings.score_db_path)) == (8080, "0.0.0.0", "/data/db.sqlite")
    assert settings.log_level == "info"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"STORAGE_FALLBACK": "disk"}, "STORAGE_FALLBACK"),
    ],
)
def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict, needle: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_unwritable_db_dir_is_a_settings_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a directory should be: cannot be created, even as root
    monkeypatch.setenv("SCORE_DB_PATH", str(blocker / "sub" / "db.sqlite"))
    monkeypatch.setenv("STORAGE_FALLBACK", "fail")
    with pytest.raises(SettingsError, match="SCORE_DB_PATH"):
        load_settings()


@pytest.mark.parametrize(
    "env",
    [{"PORT": "abc"}, {"SCORE_DB_PATH": "/proc/no-such-dir/db.sqlite", "STORAGE_FALLBACK": "fail"}],
    ids=["bad-port", "unwritable-db-path"],
)
def test_server_refuses_to_start_with_one_clear_line(tmp_path, env: dict) -> None:
    server = launch(tmp_path, env)
    assert server.proc.wait(30) == 2
    output = server.raw_log().strip().splitlines()
    assert len(output) == 1, output
    name = next(iter(env))
    assert output[0].startswith("drafty-bird: invalid ") and name in output[0]
    assert "Traceback" not in server.raw_log()


def test_settings_import_nothing_from_ops() -> None:
    """settings.py sits below ops/: importing it must not pull in metrics or OpenTelemetry."""
    above = ("drafty_bird.ops", "opentelemetry", "prometheus_client")
    probe = f"import sys, drafty_bird.settings; print(sorted(m for m in sys.modules if m.startswith({above!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_chaos_defaults_are_the_control_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHAOS_* unset gives exactly what PUT /ops/chaos starts from: one definition."""
    for name in ("ENABLED", "ERROR_RATE", "LATENCY_MS_P50", "LATENCY_MS_P99", "ROUTES", "SEED"):
        monkeypatch.delenv(f"CHAOS_{name}", raising=False)
    assert Settings().chaos == ChaosConfig()
    assert ChaosConfig().routes == ("/score", "/leaderboard") and ChaosConfig().seed == 42


def test_database_url_selects_postgresql_and_a_bad_one_is_named_but_never_echoed() -> None:
    assert load_settings(database_url="postgres://u@h/d").db_url == "postgresql+psycopg://u@h/d"
    assert load_settings(database_url="postgresql+psycopg://u@h/d").db_url == "postgresql+psycopg://u@h/d"
    with pytest.raises(SettingsError) as err:
        load_settings(database_url="mysql://u:hunter2@h/d")
    assert "DATABASE_URL" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(SettingsError, match="DB_POOL_SIZE"):
        load_settings(database_url="postgresql://u@h/d", db_pool_size=0)
