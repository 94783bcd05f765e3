"""A port already in use: one plain line and exit 3, before storage is touched (real processes)."""

import socket
import subprocess
import sys
from pathlib import Path

from drafty_bird.ops.listen import EXIT_CANNOT_LISTEN
from tests.server import ROOT, server_env


def run_main(db: Path, port: int, host: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    env = server_env(db, port, {"HOST": host})
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_port_in_use_prints_one_line_and_exits_3(tmp_path: Path) -> None:
    db = tmp_path / "data" / "db.sqlite"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_main(db, port)
    assert result.returncode == EXIT_CANNOT_LISTEN == 3
    lines = (result.stdout + result.stderr).splitlines()
    assert lines == [
        f"drafty-bird: port {port} is already in use (127.0.0.1:{port}): "
        "stop the other server or set PORT to a free port"
    ], lines
    # Checked before storage: no DB file, no writer lease taken by the process that cannot serve.
    assert not db.exists() and not (db.parent / "db.sqlite.writer-lease").exists()


def test_an_address_not_on_this_host_is_one_line_too(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to a local interface.
    result = run_main(tmp_path / "db.sqlite", 8080, host="192.0.2.1")
    assert result.returncode == EXIT_CANNOT_LISTEN
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("drafty-bird: cannot listen on 192.0.2.1:8080"), lines
