"""azure-pipelines.yml: schema-valid (check-jsonschema's vendored Azure Pipelines schema) and
wired to the tested scripts in the required stage order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "azure-pipelines.yml"


def _check_jsonschema() -> str:
    exe = Path(sys.executable).parent / "check-jsonschema"
    assert exe.exists(), "check-jsonschema missing: install the test extra (make install)"
    return str(exe)


def test_pipeline_validates_against_the_azure_pipelines_schema() -> None:
    result = subprocess.run(
        [
            _check_jsonschema(),
            "--builtin-schema",
            "vendor.azure-pipelines",
            "--regex-variant",
            "nonunicode",
            str(PIPELINE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_pipeline(tmp_path: Path) -> None:
    bad = tmp_path / "azure-pipelines.yml"
    bad.write_text(
        "stages:\n  - stage: Test\n    jobs:\n      - job: t\n        steps:\n          - scrpt: make test\n"
    )
    result = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.azure-pipelines", "--regex-variant", "nonunicode", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0


def _steps(stage: dict) -> list[dict]:
    out = []
    for job in stage["jobs"]:
        if "steps" in job:
            out += job["steps"]
        else:
            out += job["strategy"]["runOnce"]["deploy"]["steps"]
    return out


def _text(step: dict) -> str:
    return step.get("script") or (step.get("inputs") or {}).get("inlineScript", "")


def test_stages_and_their_scripts() -> None:
    doc = yaml.safe_load(PIPELINE.read_text())
    stages = {s["stage"]: s for s in doc["stages"]}
    assert list(stages) == ["Test", "Build", "Staging", "Production"]
    assert any("make test" in _text(s) for s in _steps(stages["Test"]))
    build = " ".join(_text(s) for s in _steps(stages["Build"]))
    assert "-m infra.scripts.pipeline build-push" in build and "--sha $(sha)" in build
    staging = " ".join(_text(s) for s in _steps(stages["Staging"]))
    assert (
        staging.index("-m infra.scripts.pipeline provision --stage staging")
        < staging.index("-m infra.scripts.smoke")
        < staging.index("-m infra.scripts.chaos_drill")
        < staging.index("-m infra.scripts.pipeline deactivate-superseded --stage staging")
    )
    production = " ".join(_text(s) for s in _steps(stages["Production"]))
    assert (
        "-m infra.scripts.bluegreen" in production
        and "--max-error-ratio 0.01 --max-p99-ms 500" in production
        and "--window 5m" in production
    )
    for name in ("Staging", "Production"):
        job = stages[name]["jobs"][0]
        assert "deployment" in job and job["environment"], (
            f"{name} must be a deployment job on an environment (approvals)"
        )
    for script in ("smoke.py", "bluegreen.py", "chaos_drill.py", "pipeline.py"):
        assert (ROOT / "infra/scripts" / script).exists()


def test_no_sleep_as_verification_and_no_secret_on_command_lines() -> None:
    text = PIPELINE.read_text()
    assert "sleep " not in text
    assert "$(CHAOS_ADMIN_TOKEN)" not in " ".join(
        _text(s) for stage in yaml.safe_load(text)["stages"] for s in _steps(stage)
    ), "secrets go through env, not the script text"
