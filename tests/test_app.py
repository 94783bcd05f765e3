"""drafty_bird.app in-process: configuration errors exit 2, and build() wires the lifecycle.

build() configures NiceGUI's global app (routes, middleware, handlers), so it runs once
here; the real server (tests/server.py) covers serving.
"""

import logging
from pathlib import Path

import pytest
from nicegui import app as nicegui_app

from drafty_bird import app as app_module
from drafty_bird.data.lease import lease_path
from drafty_bird.ops.lifecycle import Lifecycle
from drafty_bird.settings import load_settings
from tests.aio import run_async


@pytest.fixture
def keep_root_logging():
    """build() installs the JSON log handler on the root logger; give pytest its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_configuration_error_exits_2_with_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(SystemExit) as exited:
        app_module.serve()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("drafty-bird: invalid PORT=") and "\n" not in err


def test_build_opens_storage_and_hands_start_and_stop_to_nicegui(tmp_path: Path, keep_root_logging) -> None:
    settings = load_settings(score_db_path=tmp_path / "db.sqlite", instrumentation_enabled=False)
    life = app_module.build(settings)

    assert isinstance(life, Lifecycle)
    assert nicegui_app.state.readiness is life.readiness
    assert life.start in nicegui_app._startup_handlers  # private: NiceGUI exposes no getter
    assert life.stop in nicegui_app._shutdown_handlers
    assert "/metrics" in {getattr(route, "path", None) for route in nicegui_app.routes}
    assert {"/healthz", "/readyz", "/score", "/leaderboard"} <= set(nicegui_app.openapi()["paths"])

    async def run() -> tuple[bool, dict]:
        await life.start(handle_sigterm=False)
        ready = await life.readiness.probe()
        await life.stop()
        return ready

    ready, body = run_async(run())
    assert ready and body["storage_mode"] == "sqlite" and body["writer"] is True
    assert not lease_path(settings.score_db_path).exists(), "stop() did not release the writer lease"
