"""infra/scripts/chaos_drill.py end to end on loopback: a real server with CHAOS_ADMIN_TOKEN,
the real Prometheus binary scraping it (job drafty-bird, revision label, as the ACA
collector does), the real rule file's DraftyBirdHighErrorRate expression. Only Azure is
missing: the staging URL and the Azure Monitor query endpoint are local stand-ins."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from infra.scripts import chaos_drill
from tests.ops.prom_stack import ALERTS_YML, run_prometheus
from tests.server import start_server

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "4e8b1f6c2a9d7e305b8c1f4a6d2e9b07"  # openssl rand -hex 16


def _drill(server_url: str, prom_url: str, token_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.scripts.chaos_drill",
            "--url",
            server_url,
            "--chaos-token-file",
            str(token_file),
            "--prometheus",
            prom_url,
            "--revision",
            "drill-rev",
            "--interval",
            "1",
            "--batch",
            "20",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )


@contextmanager
def drill_stack(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(app URL, Prometheus URL, chaos token file) of a real server scraped by a real Prometheus."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with (
        start_server(tmp_path, env={"CHAOS_ADMIN_TOKEN": TOKEN}) as server,
        run_prometheus(tmp_path / "prom", {"drill-rev": f"127.0.0.1:{server.port}"}, ALERTS_YML) as prom,
    ):
        yield server.url, prom.url, token_file


def chaos_enabled(app_url: str) -> bool:
    return httpx.get(app_url + "/ops/chaos", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["enabled"]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_drill_sees_the_error_alert_expression_fire_and_turns_chaos_off(tmp_path: Path) -> None:
    with drill_stack(tmp_path) as (app_url, prom_url, token_file):
        result = _drill(app_url, prom_url, token_file, "--timeout", "150", "--max-requests", "4000")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "crossed its threshold" in result.stdout
        assert chaos_enabled(app_url) is False


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_drill_fails_when_the_expression_never_fires_and_still_turns_chaos_off(tmp_path: Path) -> None:
    with drill_stack(tmp_path) as (app_url, prom_url, token_file):
        # error rate 0: chaos is "on" but injects nothing, so the alert must not fire.
        result = _drill(app_url, prom_url, token_file, "--error-rate", "0", "--timeout", "20", "--max-requests", "400")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "never crossed" in result.stderr
        assert chaos_enabled(app_url) is False


def test_expression_comes_from_the_rule_file_with_records_expanded() -> None:
    expr = chaos_drill.alert_expression(ALERTS_YML)
    assert "job_revision:" not in expr, "recording rules must be expanded"
    assert "http_requests_total" in expr and "> 0.01" in expr
