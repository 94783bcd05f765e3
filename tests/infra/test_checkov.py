"""checkov (real binary, from its own tools venv: `make tools`) over infra/ and the Dockerfile.

Fails on any failed check, on any skip without a written reason, and on parse errors:
checkov exits 0 for files it cannot parse, so summary.parsing_errors is read from -o json.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "bin" / "checkov"


def run_checkov(*args: str) -> list[dict]:
    assert CHECKOV.exists(), f"{CHECKOV} missing: run `make tools` (make test does it)"
    result = subprocess.run(
        [str(CHECKOV), *args, "--skip-download", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def assert_clean(reports: list[dict], expect_resources: int) -> None:
    assert reports, "checkov returned no report"
    resources = 0
    for report in reports:
        summary = report["summary"]
        results = report["results"]
        assert summary["parsing_errors"] == 0, f"checkov could not parse: {results.get('parsing_errors')}"
        failed = [
            (c["check_id"], c["check_name"], c["file_path"], c["resource"]) for c in results.get("failed_checks", [])
        ]
        assert not failed, "failed checks:\n" + "\n".join(map(str, failed))
        for skipped in results.get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "").strip()
            assert len(reason) >= 15 and "No comment provided" not in reason, (
                f"skip without a reason: {skipped['check_id']} on {skipped['resource']}"
            )
        resources += summary["resource_count"]
    assert resources >= expect_resources, f"checkov saw only {resources} resources"


@pytest.mark.timeout(600)
def test_checkov_infra_bicep() -> None:
    bicep_files = list((ROOT / "infra").rglob("*.bicep"))
    assert_clean(run_checkov("-d", "infra", "--framework", "bicep"), expect_resources=len(bicep_files))


@pytest.mark.timeout(600)
def test_checkov_dockerfile() -> None:
    assert_clean(run_checkov("-f", "Dockerfile", "--framework", "dockerfile"), expect_resources=1)


@pytest.mark.timeout(600)
def test_checkov_reports_parse_errors(tmp_path: Path) -> None:
    # checkov exits 0 on unparsable Bicep; prove the JSON tells us, or the infra test could pass blind.
    bad = tmp_path / "bad.bicep"
    bad.write_text("resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'a'\n  properties: {\n")
    reports = run_checkov("-f", str(bad), "--framework", "bicep")
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 1
