"""Browser tests: Debian's real Chromium driven by Playwright, against the real server.

The server runs as a subprocess (tests/server.py) with GAME_TEST_HOOKS=true, which
exposes window.__draftyBird so a test autopilot can read the game state and step time.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import RunningServer, start_server

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google (refused here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GAME_ENV = {"GAME_TEST_HOOKS": "true"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test runs scripts/system-deps.sh)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def game_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server and DB per test: row counts in one test never see another's runs."""
    with start_server(tmp_path, env=GAME_ENV) as running:
        yield running
