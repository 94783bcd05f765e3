"""`python -m drafty_bird`: a bare call prints usage; serving needs `serve` (or main.py)."""

import subprocess
import sys
from pathlib import Path

import httpx

from drafty_bird.usage import EX_USAGE
from tests.server import ROOT, free_port, server_env, start_server


def test_no_command_prints_usage_and_serves_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    port = free_port()
    # Before the fix this served until the timeout; the test then fails on TimeoutExpired.
    result = subprocess.run(
        [sys.executable, "-m", "drafty_bird"],
        cwd=ROOT,
        env=server_env(db, port),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == EX_USAGE == 64, result.stderr
    assert "usage: python -m drafty_bird" in result.stderr
    for command in ("serve", "backup", "restore"):
        assert command in result.stderr
    assert not db.exists(), "a usage message must not open or create the database"


def test_serve_subcommand_serves(tmp_path: Path) -> None:
    with start_server(tmp_path, command=[sys.executable, "-m", "drafty_bird", "serve"]) as server:
        assert httpx.get(server.url + "/readyz", timeout=10).json()["status"] == "ready"


def test_a_wrong_subcommand_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drafty_bird", "backup", "--db", str(tmp_path / "x.sqlite")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == EX_USAGE and "--to" in result.stderr
