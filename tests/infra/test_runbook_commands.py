"""Every `az` line in RUNBOOK's scale-out section is accepted by the real azure-cli parser.

The lines are the ones an operator copies during an incident: a misspelt flag found then costs
minutes. Placeholders (<app>, <rg>, ...) are filled with plausible values first; Azure is not
reached (tests/infra/az_parser.py replaces the command handlers).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.infra.bicep import ROOT
from tests.infra.test_az_command_lines import parse_with_real_cli

RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
SECTION = "## Scale-out operations"
KEYS = "## Score verification and run-token keys"
FLOOD = "## One client is flooding us"
PLACEHOLDER = re.compile(r"<([a-z-]+)>")
# azure-cli 2.88.0 moved `az afd` (with `az cdn`) out of its core into the `cdn` extension
# (Azure/azure-cli#33336), which installs from Microsoft's extension index, not PyPI. So the
# .azcli venv (2.91) has no `afd` group, and these lines go through azure-cli 2.87.0 instead,
# the last core that had it (.azcli-afd, `make tools`).
AFD = ("az afd",)
VALUES = {"app": "ca-drafty-prod", "rg": "rg-drafty-prod", "srv": "psql-abc", "afd": "afd-drafty-prod", "kv": "kv-abc"}


def section_az_lines(section: str = SECTION) -> list[str]:
    text = RUNBOOK.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
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
    lines = [line for line in section_az_lines() if not line.startswith(AFD)]
    assert len(lines) >= 10
    results = parse_with_real_cli([argv(line) for line in lines])
    bad = [(r["argv"], r["error"]) for r in results if r["code"] != 0 or not r["command"]]
    assert not bad, bad


def test_every_az_afd_line_parses_with_the_last_cli_that_has_afd() -> None:
    lines = [argv(line) for line in section_az_lines() if line.startswith(AFD)]
    assert len(lines) >= 2
    results = parse_with_real_cli(lines, afd=True)
    bad = [(r["argv"], r["error"]) for r in results if r["code"] != 0 or not r["command"]]
    assert not bad, bad
    misspelt = argv("az afd endpoint purge -g <rg> --profile-name <afd> --contnt-paths /x")
    (refused,) = parse_with_real_cli([misspelt], afd=True)
    assert refused["code"] != 0 and "content-paths" in refused["error"], refused


def test_the_pinned_cli_has_no_afd_so_the_older_one_is_needed() -> None:
    # When .azcli's azure-cli has `az afd` again (or the extension becomes installable here),
    # this fails: then parse the afd lines with .azcli and drop .azcli-afd.
    results = parse_with_real_cli([argv(line) for line in section_az_lines() if line.startswith(AFD)])
    assert results and all(r["code"] != 0 and "'afd' is misspelled or not recognized" in r["error"] for r in results)
    assert "azure-cli 2.87.0" in RUNBOOK.read_text(), "RUNBOOK says which CLI checks its afd lines"


def test_a_misspelt_flag_is_refused() -> None:
    (result,) = parse_with_real_cli([argv("az postgres flexible-server restart -n <srv> -g <rg> --failovr Planned")])
    assert result["code"] != 0 and "failovr" in result["error"]


def test_every_az_line_of_the_run_token_keys_parses_with_the_real_cli(tmp_path: Path) -> None:
    lines = section_az_lines(KEYS)
    joined = "\n".join(lines)
    # The rotation: copy the old key, set a new one, both through files (never --value on argv).
    for needed in (
        "keyvault secret download",
        "--name run-token-secret-previous --file",
        "--name run-token-secret --file",
    ):
        assert needed in joined, needed
    assert "--value" not in joined
    # `secret set --file` is read while parsing: a stand-in for the key file the steps write.
    stand_in = tmp_path / "key"
    stand_in.write_text("x" * 64)
    commands = [argv(line) for line in lines]
    for cmd in commands:
        if cmd[:3] == ["keyvault", "secret", "set"]:
            cmd[cmd.index("--file") + 1] = str(stand_in)
    results = parse_with_real_cli(commands)
    bad = [(r["argv"], r["error"]) for r in results if r["code"] != 0 or not r["command"]]
    assert not bad, bad
    assert {r["command"] for r in results} >= {"keyvault secret download", "keyvault secret set", "containerapp show"}


def test_blocking_a_client_is_the_durable_parameter_and_its_az_lines_parse() -> None:
    lines = section_az_lines(FLOOD)
    joined = "\n".join(lines)
    text = RUNBOOK.read_text()
    body = text[text.index(FLOOD) : text.index("\n## ", text.index(FLOOD) + len(FLOOD))]
    # A CLI Deny rule cannot sit beside the Front Door Allow rules, and a provision resets it.
    assert "blockedClientRanges" in body and "pipeline provision --stage production" in body
    assert not any("access-restriction set" in line for line in lines), "the CLI block is the wrong knob"
    assert "access-restriction list" in joined
    results = parse_with_real_cli([argv(line) for line in lines])
    bad = [(r["argv"], r["error"]) for r in results if r["code"] != 0 or not r["command"]]
    assert not bad, bad
    # The by-hand provision it names is one the pipeline script accepts.
    from infra.scripts.pipeline import build_parser

    (provision,) = re.findall(r"`python -m infra\.scripts\.pipeline (provision [^`]+)`", body)
    parsed = build_parser().parse_args(argv("x " + provision))
    assert parsed.stage == "production" and not parsed.image, "production re-provision keeps the serving image"
