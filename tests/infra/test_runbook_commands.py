"""Every `az` line in RUNBOOK's scale-out section is accepted by the real azure-cli parser.

The lines are the ones an operator copies during an incident: a misspelt flag found then costs
minutes. Placeholders (<app>, <rg>, ...) are filled with plausible values first; Azure is not
reached (tests/infra/az_parser.py replaces the command handlers).
"""

from __future__ import annotations

import re
import shlex

from tests.infra.bicep import ROOT
from tests.infra.test_az_command_lines import parse_with_real_cli

RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
SECTION = "## Scale-out operations"
PLACEHOLDER = re.compile(r"<([a-z-]+)>")
# azure-cli 2.91's core has no `afd` group (no cdn command module in .azcli): these lines are
# not parser-checked, and RUNBOOK says so. Listed by prefix so a new afd line must be added here.
NOT_IN_CORE = ("az afd",)
VALUES = {"app": "ca-drafty-prod", "rg": "rg-drafty-prod", "srv": "psql-abc", "afd": "afd-drafty-prod"}


def section_az_lines() -> list[str]:
    text = RUNBOOK.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    body = text[start : end if end != -1 else len(text)]
    lines = [line.strip() for line in body.splitlines() if line.strip().startswith("az ")]
    # inline `az ...` commands in prose count too
    lines += [m.group(1) for m in re.finditer(r"`(az [^`]+)`", body)]
    return lines


def argv(line: str) -> list[str]:
    filled = PLACEHOLDER.sub(lambda m: VALUES.get(m.group(1), f"x-{m.group(1)}"), line)
    return shlex.split(filled)[1:]


def test_the_section_has_the_operations_the_issue_asks_for() -> None:
    lines = section_az_lines()
    joined = "\n".join(lines)
    for needed in ("containerapp update", "flexible-server restart", "afd endpoint purge", "access-restriction list"):
        assert needed in joined, needed
    assert len(lines) >= 12


def test_every_az_line_parses_with_the_real_cli() -> None:
    lines = [line for line in section_az_lines() if not line.startswith(NOT_IN_CORE)]
    assert len(lines) >= 10
    results = parse_with_real_cli([argv(line) for line in lines])
    bad = [(r["argv"], r["error"]) for r in results if r["code"] != 0 or not r["command"]]
    assert not bad, bad


def test_a_misspelt_flag_is_refused() -> None:
    (result,) = parse_with_real_cli([argv("az postgres flexible-server restart -n <srv> -g <rg> --failovr Planned")])
    assert result["code"] != 0 and "failovr" in result["error"]


def test_the_unchecked_afd_lines_are_named_in_the_runbook() -> None:
    unchecked = [line for line in section_az_lines() if line.startswith(NOT_IN_CORE)]
    assert unchecked, "no afd line left: drop NOT_IN_CORE"
    assert "`az afd` lines are not" in RUNBOOK.read_text()
