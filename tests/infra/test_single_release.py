"""Single revision mode release (infra/scripts/single.py) against the recording fake `az`.

Azure cannot be reached: the fake keeps revisions and weights and behaves like a Single-mode
app (a ready revision takes all traffic, the others are deactivated; one that never gets ready
never takes any). The smoke test runs for real against a local server, the gate is a fake
with scripted verdicts.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.fakes import FakeAzure
from tests.server import RunningServer, free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
APP, RG, SHA = "ca-drafty-prod", "rg-drafty-prod", "0123456789abcdef0123"
PREVIOUS, NEW, ROLLBACK = f"{APP}--oldsha", f"{APP}--{SHA[:12]}", f"{APP}--rb-{SHA[:12]}"
OLD_IMAGE, IMAGE = "crprod.azurecr.io/drafty-bird:oldsha", f"crprod.azurecr.io/drafty-bird:{SHA}"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("single")) as server:
        yield server


def fake_for(tmp_path: Path, **extra) -> FakeAzure:
    state = {
        "app": APP,
        "mode": "Single",
        "fqdn": f"{APP}.nicecoast-1.westeurope.azurecontainerapps.io",
        "revisions": {PREVIOUS: {"weight": 100, "active": True, "image": OLD_IMAGE}},
        "labels": {},
    }
    state.update(extra)
    return FakeAzure.create(tmp_path, state)


def release(fake: FakeAzure, url: str, gate_codes: list[int]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "infra.scripts.single",
        "--resource-group", RG, "--app", APP, "--image", IMAGE, "--sha", SHA,
        "--prometheus", "http://127.0.0.1:9", "--watch-seconds", "0", "--poll-interval", "0.2",
        "--smoke-timeout", "3", "--ready-timeout", "3", "--gate-cmd", str(fake.bin_dir / "gate"),
        "--url", url,
    ]  # fmt: skip
    return subprocess.run(cmd, env=fake.env(gate_codes), capture_output=True, text=True, timeout=180, cwd=ROOT)


def updates(fake: FakeAzure) -> list[tuple[str, str]]:
    """(image, revision suffix) of every `containerapp update`, in order."""
    return [
        (call[call.index("--image") + 1], call[call.index("--revision-suffix") + 1])
        for call in fake.calls()
        if call[:2] == ["containerapp", "update"]
    ]


def serving(fake: FakeAzure) -> list[str]:
    return [n for n, r in fake.state()["revisions"].items() if r["weight"] == 100]


def test_promote_new_revision_takes_all_traffic_and_no_label_is_touched(tmp_path: Path, healthy: RunningServer) -> None:
    fake = fake_for(tmp_path)
    result = release(fake, healthy.url, [0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert updates(fake) == [(IMAGE, SHA[:12])]
    assert serving(fake) == [NEW]
    assert not fake.state()["revisions"][PREVIOUS]["active"]
    # Labels and weights do not exist in Single mode: never set.
    assert not [
        c
        for c in fake.calls()
        if c[:3] in (["containerapp", "revision", "label"], ["containerapp", "ingress", "traffic"])
    ]
    assert fake.tool_calls("gate")[0][fake.tool_calls("gate")[0].index("--revision") + 1] == NEW


def test_gate_failure_after_the_switch_redeploys_the_previous_image(tmp_path: Path, healthy: RunningServer) -> None:
    fake = fake_for(tmp_path)
    result = release(fake, healthy.url, [1])
    assert result.returncode == 1, result.stdout + result.stderr
    assert updates(fake) == [(IMAGE, SHA[:12]), (OLD_IMAGE, f"rb-{SHA[:12]}")]
    assert serving(fake) == [ROLLBACK]
    assert fake.state()["revisions"][ROLLBACK]["image"] == OLD_IMAGE
    assert not fake.state()["revisions"][NEW]["active"]
    assert "ROLLING BACK" in result.stderr


def test_inconclusive_gate_rolls_back_after_its_rounds(tmp_path: Path, healthy: RunningServer) -> None:
    fake = fake_for(tmp_path)
    result = release(fake, healthy.url, [2, 2, 2])
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(fake.tool_calls("gate")) == 3
    assert serving(fake) == [ROLLBACK]


def test_smoke_failure_after_the_switch_rolls_back_without_asking_the_gate(tmp_path: Path) -> None:
    fake = fake_for(tmp_path)
    closed = f"http://127.0.0.1:{free_port()}"
    result = release(fake, closed, [0])
    # The rollback revision is smoke-tested against the same closed port: it fails too (exit 2),
    # but only after the previous image was redeployed and took the traffic.
    assert result.returncode == 2, result.stdout + result.stderr
    assert fake.tool_calls("gate") == []
    assert updates(fake)[-1] == (OLD_IMAGE, f"rb-{SHA[:12]}")
    assert serving(fake) == [ROLLBACK]


def test_a_revision_that_never_gets_ready_never_takes_traffic(tmp_path: Path, healthy: RunningServer) -> None:
    fake = fake_for(tmp_path, health_state={NEW: "Unhealthy"})
    result = release(fake, healthy.url, [0])
    assert result.returncode == 1, result.stdout + result.stderr
    assert serving(fake) == [PREVIOUS] and fake.state()["revisions"][PREVIOUS]["active"]
    assert updates(fake) == [(IMAGE, SHA[:12])], "nothing to roll back: ACA never switched"
    assert fake.tool_calls("gate") == []


def test_rerun_when_the_new_revision_already_serves_only_smokes(tmp_path: Path, healthy: RunningServer) -> None:
    fake = fake_for(tmp_path, revisions={NEW: {"weight": 100, "active": True, "image": IMAGE}})
    result = release(fake, healthy.url, [1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert updates(fake) == [] and fake.tool_calls("gate") == []


def test_every_az_line_of_a_rollback_parses_with_the_real_cli(tmp_path: Path, healthy: RunningServer) -> None:
    from tests.infra.test_az_command_lines import parse_with_real_cli

    fake = fake_for(tmp_path)
    assert release(fake, healthy.url, [1]).returncode == 1
    results = parse_with_real_cli(fake.calls())
    assert {r["command"] for r in results} >= {"containerapp update", "containerapp revision show"}
    assert [(r["argv"], r["error"]) for r in results if r["code"] != 0] == []


def test_production_runs_the_release_that_matches_the_profile() -> None:
    import shlex

    import yaml

    from infra.scripts import bluegreen, single
    from tests.infra.bicep import INFRA, Module
    from tests.infra.test_pipeline_yaml import PIPELINE, _steps, _text

    stages = {s["stage"]: s for s in yaml.safe_load(PIPELINE.read_text())["stages"]}
    releases = {}
    for step in _steps(stages["Production"]):
        for module in ("bluegreen", "single"):
            if f"-m infra.scripts.{module} " in _text(step):
                releases[module] = step
    assert set(releases) == {"bluegreen", "single"}
    profile = "variables['infra.SERVICE_WEB_DATABASE_PROFILE']"
    assert releases["single"]["condition"] == f"and(succeeded(), eq({profile}, 'postgres'))"
    assert releases["bluegreen"]["condition"] == f"and(succeeded(), ne({profile}, 'postgres'))"
    # The variable is the deployment output the provision step publishes as infra.<output>.
    assert Module(INFRA / "main.bicep").doc["outputs"]["SERVICE_WEB_DATABASE_PROFILE"]["value"] == "database"
    # Both command lines are accepted by their script's own parser, with the same gate thresholds.
    for module, parser in (("single", single.build_parser()), ("bluegreen", bluegreen.build_parser())):
        argv = shlex.split(_text(releases[module]).split(f"-m infra.scripts.{module} ", 1)[1])
        args = parser.parse_args(argv)
        assert (args.window, args.max_error_ratio, args.max_p99_ms) == ("5m", 0.01, 500)
