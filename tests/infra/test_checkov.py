"""checkov (real binary, from its own tools venv: `make tools`) over the deployable repository.

One run from the repository root with every framework checkov has (none filtered out), so
the secrets scan sees what the Bicep, Dockerfile and Azure Pipelines checks see. Only the
application code, tests, docs and local venvs are skipped. Fails on any failed check, on any
skip without a written reason, on parse errors (checkov exits 0 for files it cannot parse, so
summary.parsing_errors is read from -o json), and when a framework that applies stops running.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "bin" / "checkov"
# Not deployed, or scanned by their own tools (ruff, the tests): regexes on the path.
SKIP_PATHS = [
    "drafty_bird",
    "tests",
    "docs",
    "bench",
    r"\.venv",
    r"\.tools",
    r"\.azcli",
    r"\.ci",
    r"\.git/",
    "egg-info",
]
# The frameworks that find files here: Bicep, Dockerfile, azure-pipelines.yml, and secrets in all of them.
EXPECTED_FRAMEWORKS = {"bicep", "dockerfile", "azure_pipelines", "secrets"}


def run_checkov(*args: str, cwd: Path = ROOT) -> list[dict]:
    assert CHECKOV.exists(), f"{CHECKOV} missing: run `make tools` (make test does it)"
    result = subprocess.run(
        [str(CHECKOV), *args, "--skip-download", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def failures(reports: list[dict]) -> list[tuple]:
    return [
        (r["check_type"], c["check_id"], c["file_path"], c.get("file_line_range"))
        for r in reports
        for c in r["results"].get("failed_checks", [])
    ]


def assert_clean(reports: list[dict], expect_bicep_resources: int) -> None:
    assert reports, "checkov returned no report"
    for report in reports:
        summary, results = report["summary"], report["results"]
        assert summary["parsing_errors"] == 0, f"checkov could not parse: {results.get('parsing_errors')}"
        for skipped in results.get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "").strip()
            assert len(reason) >= 15 and "No comment provided" not in reason, (
                f"skip without a reason: {skipped['check_id']} on {skipped['file_path']}"
            )
    assert not failures(reports), "failed checks:\n" + "\n".join(map(str, failures(reports)))
    frameworks = {r["check_type"] for r in reports}
    assert frameworks >= EXPECTED_FRAMEWORKS, f"frameworks that ran: {sorted(frameworks)}"
    bicep = sum(r["summary"]["resource_count"] for r in reports if r["check_type"] == "bicep")
    assert bicep >= expect_bicep_resources, f"checkov saw only {bicep} Bicep resources"


@pytest.mark.timeout(600)
def test_checkov_every_framework_over_the_repository() -> None:
    skips = [arg for path in SKIP_PATHS for arg in ("--skip-path", path)]
    bicep_files = list((ROOT / "infra").rglob("*.bicep"))
    assert_clean(run_checkov("-d", ".", *skips), expect_bicep_resources=len(bicep_files))


@pytest.mark.timeout(600)
def test_checkov_reports_parse_errors_and_planted_secrets(tmp_path: Path) -> None:
    # checkov exits 0 on unparsable Bicep; prove the JSON tells us, or the repo test could pass blind.
    (tmp_path / "bad.bicep").write_text(
        "resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'a'\n  properties: {\n"
    )
    # A compose file with a real-looking key (AWS's documented example): the secrets scan must see YAML.
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    environment:\n      AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n"
    )
    reports = run_checkov("-d", ".", cwd=tmp_path)
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 1
    assert ("secrets", "CKV_SECRET_2", "/docker-compose.yml", [4, 5]) in failures(reports), failures(reports)
