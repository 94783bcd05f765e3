"""Start the real server (python main.py) as a subprocess on a free port with a temp DB.

Tests talk to it over loopback exactly as a browser or ACA's probes would.
"""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEST_RUN_TOKEN_SECRET = "test-only-run-token-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(db_path: Path, port: int, env: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    # PYTEST_CURRENT_TEST would make NiceGUI believe it runs under its own test harness.
    base.update(
        HOST="127.0.0.1",
        PORT=str(port),
        SCORE_DB_PATH=str(db_path),
        LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
        NICEGUI_STORAGE_PATH=str(db_path.parent / ".nicegui"),
        # Every test client is 127.0.0.1: one shared rate-limit bucket would make busy
        # tests flaky. Rate-limit tests set RATE_LIMIT_* themselves.
        RATE_LIMIT_SCORE="off",
        RATE_LIMIT_GAME_START="off",
        RATE_LIMIT_PAGE="off",
        # Storage, metrics and chaos suites post bare scores: the original contract. Suites
        # about verification, and the browser games, set SCORE_VERIFICATION=required.
        SCORE_VERIFICATION="off",
        # A fixed key, as in production (Key Vault): tokens survive a test's server restart.
        RUN_TOKEN_SECRET=TEST_RUN_TOKEN_SECRET,
    )
    base.update(env or {})
    return base


@dataclass
class RunningServer:
    url: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    db_path: Path
    # Set when the server runs on PostgreSQL (DATABASE_URL); db_path is then unused.
    database_url: str | None = None

    def rows(self, sql: str) -> list[tuple]:
        """Query the server's database directly, whichever it is."""
        if self.database_url and self.database_url.startswith("postgresql"):
            from tests.pg import query

            return query(self.database_url, sql)
        with sqlite3.connect(self.db_path) as db:
            return db.execute(sql).fetchall()

    def logs(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(line))
        return lines

    def raw_log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition") -> None:
    """Poll with a deadline (never sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def launch(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    db_path: Path | None = None,
    port: int | None = None,
    name: str = "server",
    command: list[str] | None = None,
    cwd: Path = ROOT,
) -> RunningServer:
    """Start without waiting for readiness (for tests of start-up failures)."""
    port = port or free_port()
    db_path = db_path or tmp_path / "data" / "db.sqlite"
    log_path = tmp_path / f"{name}-{port}.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        command or [sys.executable, str(ROOT / "main.py")],
        cwd=cwd,
        env=server_env(db_path, port, env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = (env or {}).get("DATABASE_URL")
    return RunningServer(f"http://127.0.0.1:{port}", port, proc, log_path, db_path, url)


def wait_healthy(server: RunningServer, timeout: float = 30) -> None:
    def up() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(f"server exited with {server.proc.returncode}:\n{server.raw_log()[-3000:]}")
        try:
            return httpx.get(server.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, interval=0.1, message=f"{server.url}/healthz")


@contextlib.contextmanager
def start_server(tmp_path: Path, env: dict[str, str] | None = None, **kwargs) -> Iterator[RunningServer]:
    server = launch(tmp_path, env, **kwargs)
    try:
        wait_healthy(server)
        yield server
    finally:
        server.stop()
