"""Production blue-green logic (infra/scripts/bluegreen.py) against a fake `az`.

Azure cannot be reached from here: `az` is a recording fake first on PATH that keeps the
revision/label/weight state (tests/infra/fakes.py), and the release gate is a fake that
exits with scripted verdicts, except in one test that runs the real gate module against a
Prometheus that does not answer. The smoke test of the green label URL runs for real
against a locally started server (or a closed port when smoke must fail).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.data.test_writer_handover import is_writer, lease_owner, writer_blocks
from tests.infra.fakes import FakeAzure
from tests.scoreload import ScoreLoad, assert_every_ack_stored_once, integrity
from tests.server import RunningServer, free_port, launch, start_server, wait_healthy, wait_until

ROOT = Path(__file__).resolve().parents[2]
APP, RG, SHA = "ca-drafty-prod", "rg-drafty-prod", "0123456789abcdef0123"
BLUE, GREEN = f"{APP}--oldsha", f"{APP}--{SHA[:12]}"
IMAGE = f"crprod.azurecr.io/drafty-bird:{SHA}"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("green")) as server:
        yield server


def initial_state(**extra) -> dict:
    state = {
        "app": APP,
        "fqdn": f"{APP}.nicecoast-1.westeurope.azurecontainerapps.io",
        "revisions": {BLUE: {"weight": 100, "active": True, "image": "crprod.azurecr.io/drafty-bird:oldsha"}},
        "labels": {},
    }
    state.update(extra)
    return state


def release(
    fake: FakeAzure,
    label_url: str,
    gate_codes: list[int],
    *extra: str,
    gate_cmd: str | None = None,
    blue_url: str | None = None,
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "infra.scripts.bluegreen",
        "--resource-group",
        RG,
        "--app",
        APP,
        "--image",
        IMAGE,
        "--sha",
        SHA,
        "--prometheus",
        "http://127.0.0.1:9",
        "--window",
        "5m",
        "--watch-seconds",
        "0",
        "--poll-interval",
        "0.2",
        "--smoke-timeout",
        "3",
        "--ready-timeout",
        "5",
        "--gate-cmd",
        gate_cmd or str(fake.bin_dir / "gate"),
        "--writer-timeout",
        "5",
        "--label-url",
        label_url,
        "--blue-label-url",
        blue_url or label_url,
        *extra,
    ]
    return subprocess.run(cmd, env=fake.env(gate_codes), capture_output=True, text=True, timeout=180, cwd=ROOT)


def label_weights(fake: FakeAzure) -> list[list[str]]:
    """The --label-weight values of every traffic change, in order."""
    out = []
    for call in fake.calls():
        if call[:4] == ["containerapp", "ingress", "traffic", "set"]:
            rest = call[call.index("--label-weight") + 1 :]
            out.append([w for w in rest if "=" in w and not w.startswith("-")])
    return out


def steps(fake: FakeAzure) -> list[str]:
    """The az calls that change Azure, in order, in short form ("traffic blue=0 green=100")."""
    out = []
    for call in fake.calls():
        if call[:4] == ["containerapp", "ingress", "traffic", "set"]:
            out.append("traffic " + " ".join(w for w in call[8:] if "=" in w))
        elif call[:3] in (["containerapp", "revision", "activate"], ["containerapp", "revision", "deactivate"]):
            out.append(f"{call[2]} {call[call.index('--revision') + 1]}")
        elif call[:3] == ["containerapp", "revision", "label"]:
            named = [call[call.index(o) + 1] for o in ("--label", "--revision", "--source", "--target") if o in call]
            out.append(f"label {call[3]} " + " ".join(named))
        elif call[:2] == ["containerapp", "update"]:
            out.append("update")
    return out


def active_after(fake: FakeAzure, step_prefix: list[str]) -> list[list[str]]:
    """Active revisions after each successful call that starts with step_prefix."""
    return [e["active"] for e in fake.entries() if e["argv"][: len(step_prefix)] == step_prefix and e["code"] == 0]


def assert_one_writer_candidate_while_judged(fake: FakeAzure) -> None:
    """While the gate judges green, green is the only active revision: the only one that can hold
    the writer lease, so it writes and every 5xx the gate counts is green's own."""
    gates = fake.tool_entries("gate")
    assert gates, "the gate never ran"
    for entry in gates:
        assert entry["active"] == [GREEN] and entry["weights"] == {GREEN: 100}, entry


def index_of(calls: list[list[str]], prefix: list[str], start: int = 0) -> int:
    for i, call in enumerate(calls[start:], start):
        if call[: len(prefix)] == prefix:
            return i
    raise AssertionError(f"no call {prefix} in {calls}")


def test_gate_pass_promotes_green_and_deactivates_blue(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    result = release(fake, healthy.url, [0])
    assert result.returncode == 0, result.stdout + result.stderr
    calls = fake.calls()
    update = index_of(calls, ["containerapp", "update"])
    assert calls[update][calls[update].index("--revision-suffix") + 1] == SHA[:12]
    assert calls[update][calls[update].index("--image") + 1] == IMAGE
    assert calls[update][calls[update].index("--container-name") + 1] == "web", "two containers: name the app's"
    # green is labelled and held at 0% before any traffic moves; then 0 -> 100, no fractions;
    # blue is deactivated right after the switch (it releases the writer lease), before the gate.
    assert steps(fake) == [
        f"label add blue {BLUE}",
        "traffic latest=0 blue=100",
        "update",
        f"label add green {GREEN}",
        "traffic blue=100 green=0",
        "traffic blue=0 green=100",
        f"deactivate {BLUE}",
        "label swap green blue",
        "label remove green",
    ]
    assert active_after(fake, ["containerapp", "revision", "deactivate"]) == [[GREEN]]
    assert_one_writer_candidate_while_judged(fake)
    state = fake.state()
    assert state["revisions"][GREEN]["weight"] == 100 and state["revisions"][BLUE]["active"] is False
    assert state["labels"]["blue"] == GREEN, "the winner carries the blue label into the next release"
    gate = fake.tool_calls("gate")
    assert len(gate) == 1 and gate[0][gate[0].index("--revision") + 1] == GREEN
    assert gate[0][gate[0].index("--max-error-ratio") + 1] == "0.01" and "--token-file" in gate[0]
    assert "smoke OK" in result.stdout
    assert result.stdout.index("writer OK") < result.stdout.index("gate round 1"), "judged before it could write"


def test_failing_gate_reactivates_blue_then_moves_traffic_then_deactivates_green(
    tmp_path: Path, healthy: RunningServer
) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    result = release(fake, healthy.url, [1])
    assert result.returncode == 1, result.stdout + result.stderr
    # Traffic never points at an inactive revision, and the lease goes back with the traffic:
    # blue runs again before it gets traffic; green releases the lease only once blue serves.
    assert steps(fake)[5:] == [
        "traffic blue=0 green=100",
        f"deactivate {BLUE}",
        f"activate {BLUE}",
        "traffic blue=100 green=0",
        f"deactivate {GREEN}",
    ]
    assert_one_writer_candidate_while_judged(fake)
    assert active_after(fake, ["containerapp", "revision", "activate"]) == [sorted([BLUE, GREEN])]
    assert active_after(fake, ["containerapp", "revision", "deactivate"]) == [[GREEN], [BLUE]]
    state = fake.state()
    assert state["revisions"][BLUE] == {"weight": 100, "active": True, "image": "crprod.azurecr.io/drafty-bird:oldsha"}
    assert state["revisions"][GREEN]["active"] is False
    assert not any(c[:4] == ["containerapp", "revision", "label", "swap"] for c in fake.calls())
    assert "ROLLING BACK" in result.stderr and "writer OK" in result.stdout.split("gate round 1")[1]


def test_rollback_that_cannot_bring_blue_back_leaves_green_serving_and_writing(
    tmp_path: Path, healthy: RunningServer
) -> None:
    # blue's image no longer starts (say its registry tag was purged): green must keep users.
    fake = FakeAzure.create(tmp_path, initial_state(running_state={BLUE: "Failed"}))
    result = release(fake, healthy.url, [1])
    assert result.returncode == 2, result.stdout + result.stderr
    assert steps(fake)[-2:] == [f"deactivate {BLUE}", f"activate {BLUE}"]
    revisions = fake.state()["revisions"]
    assert revisions[GREEN] == {"weight": 100, "active": True, "image": IMAGE}
    assert f"{GREEN} keeps serving and writing" in result.stderr


def test_green_that_never_takes_the_writer_lease_is_rolled_back(tmp_path: Path, healthy: RunningServer) -> None:
    # A second real server on the healthy server's DB: it serves reads (smoke passes) but the
    # healthy one keeps the lease, as a blue whose deactivation never reached its replica would.
    with start_server(tmp_path, db_path=healthy.db_path, name="non-writer") as reader:
        fake = FakeAzure.create(tmp_path, initial_state())
        result = release(fake, reader.url, [0], blue_url=healthy.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "smoke OK" in result.stdout, "a non-writer passes the read-only smoke"
    assert f"{GREEN} did not take the writer lease" in result.stderr
    assert fake.tool_calls("gate") == [], "never judged (nor promoted) while it could not write"
    assert fake.state()["revisions"][BLUE]["weight"] == 100


def test_smoke_failure_stops_before_any_traffic_reaches_green(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    dead = f"http://127.0.0.1:{free_port()}"
    result = release(fake, dead, [0])
    assert result.returncode == 1, result.stdout + result.stderr
    assert ["blue=0", "green=100"] not in label_weights(fake), "promotion must not start after a failed smoke"
    assert fake.tool_calls("gate") == [], "no gate without a passing smoke"
    assert fake.state()["revisions"][GREEN] == {"weight": 0, "active": False, "image": IMAGE}
    assert "smoke FAILED" in result.stderr


def test_revision_that_never_runs_is_not_smoked_nor_promoted(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state(running_state={GREEN: "Failed"}, health_state={GREEN: "Unhealthy"}))
    result = release(fake, healthy.url, [0])
    assert result.returncode == 1
    assert ["blue=0", "green=100"] not in label_weights(fake)
    assert fake.state()["revisions"][GREEN]["active"] is False
    assert fake.state()["revisions"][BLUE]["weight"] == 100


def test_inconclusive_gate_is_retried_then_rolled_back(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    result = release(fake, healthy.url, [2], "--gate-rounds", "3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(fake.tool_calls("gate")) == 3
    assert label_weights(fake)[-1] == ["blue=100", "green=0"]
    assert fake.state()["revisions"][BLUE]["active"] is True
    assert "never promote without evidence" in result.stdout


def test_inconclusive_then_pass_promotes(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    result = release(fake, healthy.url, [2, 0], "--gate-rounds", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(fake.tool_calls("gate")) == 2


def test_real_gate_with_unreachable_prometheus_leads_to_rollback(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state())
    gate = f"{sys.executable} -m drafty_bird.ops.gate --attempts 1"
    result = release(fake, healthy.url, [0], "--gate-rounds", "2", gate_cmd=gate)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate round 2: exit 2" in result.stdout
    assert label_weights(fake)[-1] == ["blue=100", "green=0"]


def test_gate_usage_error_rolls_back_at_once_without_retrying(tmp_path: Path, healthy: RunningServer) -> None:
    # The real gate with a misspelt option: retrying cannot help, so no second round.
    fake = FakeAzure.create(tmp_path, initial_state())
    gate = f"{sys.executable} -m drafty_bird.ops.gate --attempts 1 --max-p99-msec 500"
    result = release(fake, healthy.url, [0], "--gate-rounds", "3", gate_cmd=gate)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate round 1: exit 64" in result.stdout and "gate round 2" not in result.stdout
    assert "usage error" in result.stdout
    assert label_weights(fake)[-1] == ["blue=100", "green=0"]
    assert fake.state()["revisions"][GREEN]["active"] is False


def test_azure_failure_just_before_the_switch_leaves_blue_serving(tmp_path: Path, healthy: RunningServer) -> None:
    fake = FakeAzure.create(tmp_path, initial_state(fail=["account get-access-token"]))
    result = release(fake, healthy.url, [0])
    assert result.returncode == 1
    assert ["blue=0", "green=100"] not in label_weights(fake), "the failure comes before the switch"
    assert fake.state()["revisions"][BLUE]["weight"] == 100
    assert fake.state()["revisions"][GREEN]["active"] is False


def test_azure_failure_after_the_switch_rolls_traffic_back_to_blue(tmp_path: Path, healthy: RunningServer) -> None:
    # The 0 -> 100 switch is applied, then `az` fails: green serves everyone, unjudged.
    switch = f"containerapp ingress traffic set -n {APP} -g {RG} --label-weight blue=0 green=100"
    fake = FakeAzure.create(tmp_path, initial_state(fail_after=[switch]))
    result = release(fake, healthy.url, [0])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error while green took traffic" in result.stderr and "ROLLING BACK" in result.stderr
    assert label_weights(fake)[-2:] == [["blue=0", "green=100"], ["blue=100", "green=0"]]
    calls = fake.calls()
    assert calls[-1][:9] == ["containerapp", "revision", "deactivate", "-n", APP, "-g", RG, "--revision", GREEN]
    state = fake.state()
    assert state["revisions"][BLUE] == {**initial_state()["revisions"][BLUE], "weight": 100, "active": True}
    assert state["revisions"][GREEN]["weight"] == 0 and state["revisions"][GREEN]["active"] is False
    assert fake.tool_calls("gate") == [], "no verdict is asked for a switch that failed"
    assert not any(c[:4] == ["containerapp", "revision", "label", "swap"] for c in calls)


def test_first_deploy_only_smokes(tmp_path: Path, healthy: RunningServer) -> None:
    state = initial_state()
    state["revisions"] = {GREEN: {"weight": 100, "active": True, "image": IMAGE}}
    fake = FakeAzure.create(tmp_path, state)
    result = release(fake, healthy.url, [1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(c[:2] == ["containerapp", "update"] for c in fake.calls())
    assert fake.tool_calls("gate") == []


def test_promotion_deactivates_every_superseded_revision(tmp_path: Path, healthy: RunningServer) -> None:
    # A re-provision leaves a 0% revision active; an older one is already inactive.
    state = initial_state()
    state["revisions"].update(
        {
            f"{APP}--infra": {"weight": 0, "active": True, "image": "crprod.azurecr.io/drafty-bird:oldsha"},
            f"{APP}--older": {"weight": 0, "active": False, "image": "crprod.azurecr.io/drafty-bird:older"},
        }
    )
    fake = FakeAzure.create(tmp_path, state)
    result = release(fake, healthy.url, [0])
    assert result.returncode == 0, result.stdout + result.stderr
    revisions = fake.state()["revisions"]
    assert [n for n, r in revisions.items() if r["active"]] == [GREEN], revisions
    deactivated = [
        c[c.index("--revision") + 1] for c in fake.calls() if c[:3] == ["containerapp", "revision", "deactivate"]
    ]
    assert sorted(deactivated) == sorted([BLUE, f"{APP}--infra"]), "inactive ones are left alone"
    # Deactivated, not deleted: blue stays listed for a rollback by reactivation.
    assert BLUE in revisions


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_release_hands_the_writer_lease_from_blue_to_green_processes_under_score_load(tmp_path: Path) -> None:
    """Two real server processes on one SQLite file stand in for blue and green; the fake az
    sends blue's process SIGTERM when the script deactivates blue (as ACA does to its replica).
    Players keep posting scores to whichever revision has the traffic: during the handover they
    may get 503 + Retry-After, and every score is stored exactly once, by one writer at a time."""
    db = tmp_path / "share" / "db.sqlite"
    env = {"WRITER_LEASE_TTL_S": "3", "RATE_LIMIT_SCORE": "off", "SHUTDOWN_DELAY_S": "1"}
    blue = launch(tmp_path, env, db_path=db, name="blue")
    servers = [blue]
    try:
        wait_healthy(blue)
        wait_until(lambda: is_writer(blue), 10, message="blue becomes the writer")
        green = launch(tmp_path, env, db_path=db, name="green")
        servers.append(green)
        wait_healthy(green)
        assert not is_writer(green)
        owner_blue = lease_owner(blue)

        state = initial_state()
        state["revisions"][BLUE]["pid"] = blue.proc.pid
        fake = FakeAzure.create(tmp_path, state)
        url_of = {BLUE: blue.url, GREEN: green.url}

        def serving() -> list[str]:
            try:
                revisions = fake.state()["revisions"]
            except ValueError:  # the fake is rewriting its state file: ask again
                return []
            return [url_of[n] for n, r in revisions.items() if r["weight"] == 100]

        load = ScoreLoad(serving, threads=3).start()
        load.wait_for_acks(20, 30)
        result = release(fake, green.url, [0], "--writer-timeout", "20", blue_url=blue.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert blue.proc.wait(15) == 0, "blue shut down gracefully on its deactivation"
        assert is_writer(green)
        load.wait_for_acks(len(load.acked) + 20, 30)
        load.stop(finish_within=30)
        owner_green = lease_owner(green)
    finally:
        for server in servers:
            server.stop()

    assert_one_writer_candidate_while_judged(fake)
    print(f"score POSTs during the release: {dict(load.statuses)}")
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert not load.unacked, f"{len(load.unacked)} scores never acknowledged"
    assert integrity(db) == ["ok"]
    assert_every_ack_stored_once(load, db)
    assert writer_blocks(db) == [owner_blue, owner_green], "one writer at a time: blue, then green"
