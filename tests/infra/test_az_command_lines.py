"""Every `az` command line that infra/scripts build is accepted by the real Azure CLI.

The scripts run their paths against the recording fake `az` (tests/infra/fakes.py), and the
recorded command lines then go through azure-cli's own parser and validators, offline, in
the .azcli venv (`make tools`; tests/infra/az_parser.py). Azure is not reached: only the
command handlers are replaced. What handlers check after parsing (such as --container-name
on a two-container app) the fake enforces, citing the CLI source.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.fakes import FakeAzure
from tests.infra.test_bluegreen import APP, BLUE, GREEN, IMAGE, initial_state, release
from tests.infra.test_pipeline_steps import SHA
from tests.infra.test_pipeline_steps import run as pipeline
from tests.server import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
AZ_PYTHON = ROOT / ".azcli" / "bin" / "python"
# azure-cli 2.87.0's core and cdn module (`make tools`, requirements-azcli-afd.lock): `az afd` left
# the core in 2.88.0 for the `cdn` extension, which is not on PyPI.
AZ_AFD = ROOT / ".azcli-afd"

# Every az command the scripts use; a path that stops building one fails the coverage check.
EXPECTED_COMMANDS = {
    "account get-access-token",
    "account show",
    "acr import",
    "acr login",
    "acr show",
    "containerapp ingress traffic set",
    "containerapp revision activate",
    "containerapp revision deactivate",
    "containerapp revision label add",
    "containerapp revision label remove",
    "containerapp revision label swap",
    "containerapp revision list",
    "containerapp revision show",
    "containerapp show",
    "containerapp update",
    "deployment sub create",
    "keyvault secret set",
    "keyvault secret show",
}
# Lines the real parser must refuse, so this test can be seen to fail.
KNOWN_BAD = [
    ["containerapp", "update", "-n", APP, "-g", "rg", "--image", IMAGE, "--revision-sufix", "abc"],
    ["containerapp", "revision", "deactivate", "-n", APP, "-g", "rg"],
    ["containerapp", "ingress", "traffic", "set", "-n", APP, "-g", "rg", "--label-weight", "blue=100", "-o", "nope"],
    ["account", "get-access-token", "--query", "accessToken[", "-o", "tsv"],
    ["keyvault", "secret", "set", "--vault-name", "kv", "--name", "run-token-secret", "--encoding", "utf-8"],
]


def parse_with_real_cli(lines: list[list[str]], afd: bool = False) -> list[dict]:
    """Each line through the real CLI's parser; afd=True: azure-cli 2.87.0, the last with `az afd`."""
    assert AZ_PYTHON.exists(), f"{AZ_PYTHON} missing: run `make tools` (make test does it)"
    env = dict(os.environ)
    if afd:
        assert (AZ_AFD / ".installed").exists(), f"{AZ_AFD} missing: run `make tools` (make test does it)"
        env["PYTHONPATH"] = str(AZ_AFD)  # its azure.cli ahead of .azcli's; every other package from .azcli
    result = subprocess.run(
        [str(AZ_PYTHON), str(ROOT / "tests/infra/az_parser.py")],
        input=json.dumps(lines),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("green")) as server:
        yield server


def script_paths(tmp_path: Path, healthy: RunningServer) -> list[list[str]]:
    """Run every path of the scripts against the fake az; return the az lines they built."""
    lines: list[list[str]] = []

    def fake(name: str, state: dict) -> FakeAzure:
        (tmp_path / name).mkdir()
        return FakeAzure.create(tmp_path / name, state)

    token = tmp_path / "chaos-token"
    token.write_text("token-0123456789")
    prod = {
        "app": "ca-drafty-prod",
        "revisions": {"ca-drafty-prod--old": {"weight": 100, "active": True, "image": "cr/drafty-bird:old"}},
    }
    staging = {
        "app": "ca-drafty-staging",
        "revisions": {
            "ca-drafty-staging--old": {"weight": 0, "active": True, "image": "img:old"},
            f"ca-drafty-staging--{SHA[:12]}": {"weight": 100, "active": True, "image": "img:new"},
        },
    }
    common = ["--location", "westeurope", "--sha", SHA]
    runs: list[tuple[str, dict, list[str]]] = [
        ("stg", {"app": "ca-drafty-staging"}, ["provision", "--stage", "staging", *common, "--platform-only"]),
        (
            "stg-app",
            {"app": "ca-drafty-staging"},
            ["provision", "--stage", "staging", *common, "--image", "img:new", "--chaos-token-file", str(token)],
        ),
        ("prod", prod, ["provision", "--stage", "production", *common, "--image", "img:new", "--action-group-id", "x"]),
        (
            "prod-first",
            {"app": "ca-drafty-prod", "app_exists": False},
            ["provision", "--stage", "production", *common, "--image", "i"],
        ),
        ("push", {}, ["build-push", "--registry", "crstaging", "--sha", SHA]),
        (
            "import",
            {},
            ["import-image", "--source-registry", "crstaging", "--target-registry", "crproduction", "--sha", SHA],
        ),
        ("token", {}, ["prometheus-token", "--out", str(tmp_path / "prom-token")]),
        ("kv", {}, ["run-token-secret", "--vault-name", "kv-drafty-staging"]),
        (
            "retire",
            staging,
            ["deactivate-superseded", "--stage", "staging", "--revision", f"ca-drafty-staging--{SHA[:12]}"],
        ),
    ]
    # The CLI's validator reads `secret set --file` while parsing; the script deletes the value
    # file right after the call, so the parser gets a stand-in with the same shape.
    stand_in = tmp_path / "secret-value"
    stand_in.write_text("x" * 43)
    for name, state, args in runs:
        az = fake(name, state)
        result = pipeline(az, *args)
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        for call in az.calls():
            if call[:3] == ["keyvault", "secret", "set"]:
                call[call.index("--file") + 1] = str(stand_in)
            lines.append(call)

    for name, codes in (("promote", [0]), ("rollback", [1])):
        az = fake(name, initial_state())
        result = release(az, healthy.url, codes)
        assert result.returncode == codes[0], result.stdout + result.stderr
        lines += az.calls()
    first = initial_state(revisions={GREEN: {"weight": 100, "active": True, "image": IMAGE}})
    az = fake("first", first)
    result = release(az, healthy.url, [0])
    assert result.returncode == 0, result.stdout + result.stderr
    lines += az.calls()
    # Without --label-url the script asks az for the FQDN (the fake domain does not resolve: smoke fails).
    az = fake("fqdn", initial_state())
    result = release(az, "", [0], "--smoke-timeout", "0.5")
    assert result.returncode == 1 and BLUE in result.stdout, result.stdout + result.stderr
    lines += az.calls()
    return lines


@pytest.mark.timeout(600)
def test_every_az_line_the_scripts_build_is_accepted_by_the_real_cli(tmp_path: Path, healthy: RunningServer) -> None:
    lines = script_paths(tmp_path, healthy)
    unique = list({json.dumps(line): line for line in lines}.values())
    checked = parse_with_real_cli(unique + KNOWN_BAD)
    assert len(checked) == len(unique) + len(KNOWN_BAD)
    refused = [f"az {' '.join(c['argv'])}\n    {c['error']}" for c in checked[: len(unique)] if c["code"] != 0]
    assert not refused, "the Azure CLI refuses:\n" + "\n".join(refused)
    assert {c["command"] for c in checked[: len(unique)]} == EXPECTED_COMMANDS
    for bad in checked[len(unique) :]:
        assert bad["code"] != 0, f"the real parser accepted a bad line: {bad['argv']}"
    update = next(c for c in checked if c["command"] == "containerapp update")
    assert "container_name" in update["params"], "update must name the container (two containers in the app)"
