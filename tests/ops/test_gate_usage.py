"""The release gate's command line: a usage error has its own exit code, --help shows the limits.

No Prometheus is needed: a usage error must stop before any query is made (the URL
below is a closed port, so a query would end as "inconclusive", exit 2).
"""

import subprocess
import sys

from drafty_bird.ops import gate
from tests.server import ROOT


def run_gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drafty_bird.ops.gate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_codes_are_distinct() -> None:
    codes = [gate.PROMOTE, gate.ROLL_BACK, gate.INCONCLUSIVE, gate.USAGE]
    assert len(set(codes)) == 4 and gate.USAGE == 64


def test_a_typo_in_an_argument_exits_64_not_inconclusive() -> None:
    result = run_gate("--prometheus", "http://127.0.0.1:9", "--revision", "r1", "--max-error-ration", "0.01")
    assert result.returncode == gate.USAGE, result.stdout + result.stderr
    assert "unrecognized arguments: --max-error-ration" in result.stderr
    assert "release gate:" not in result.stdout, "no query may run after a usage error"


def test_a_bad_value_and_a_missing_argument_exit_64() -> None:
    bad_value = run_gate("--prometheus", "http://127.0.0.1:9", "--revision", "r1", "--max-error-ratio", "5")
    assert bad_value.returncode == gate.USAGE and "must be between 0 and 1" in bad_value.stderr
    missing = run_gate("--prometheus", "http://127.0.0.1:9")
    assert missing.returncode == gate.USAGE and "--revision" in missing.stderr


def test_unreachable_prometheus_stays_inconclusive() -> None:
    result = run_gate("--prometheus", "http://127.0.0.1:9", "--revision", "r1", "--attempts", "1")
    assert result.returncode == gate.INCONCLUSIVE, result.stdout + result.stderr


def test_help_shows_the_default_limits() -> None:
    result = run_gate("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    assert "highest 5xx ratio that promotes (default 0.01)" in text
    assert "highest p99 latency in ms that promotes (default 500)" in text
