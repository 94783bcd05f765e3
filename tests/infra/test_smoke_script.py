"""infra/scripts/smoke.py for real: against a locally started server, a closed port, and a
stub that answers 200 everywhere with the wrong content (the checks look at content)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

from tests.server import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra/scripts/smoke.py"


def smoke(url: str, timeout: str = "60") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, "--timeout", timeout, "--interval", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_smoke_passes_on_a_real_server(tmp_path: Path) -> None:
    with start_server(tmp_path) as server:
        result = smoke(server.url)
    assert result.returncode == 0, result.stderr
    assert "/healthz, /readyz, /leaderboard, /" in result.stdout


def test_smoke_fails_on_a_closed_port() -> None:
    result = smoke(f"http://127.0.0.1:{free_port()}", timeout="2")
    assert result.returncode == 1
    assert "smoke FAILED" in result.stderr


class _AlwaysOk(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_smoke_checks_content_not_just_status() -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysOk)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        result = smoke(f"http://127.0.0.1:{httpd.server_port}", timeout="2")
    finally:
        httpd.shutdown()
    assert result.returncode == 1
    assert "/leaderboard: content-type" in result.stderr and "/: content-type" in result.stderr
