"""The pipeline in the postgres profile: `pipeline.py provision`, the staging deploy and the
production release path, against the recording fake `az` (tests/infra/fakes.py).

The profile is chosen the way an operator chooses it: `database: postgres` in the stage's
parameter file. Each test runs the scripts from a copy of infra/ whose two stage files say so
(the repository's still say sqlite, DECISIONS 13). The fake deploys like infra/main.bicep:
its outputs follow the parameters, and the deployment makes a revision that, in Single
revision mode, takes all traffic once it is ready.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.fakes import FakeAzure
from tests.server import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
SHA = "abcdef0123456789abcdef0123456789abcdef01"
PROD, STAGING = "ca-drafty-prod", "ca-drafty-staging"
OLD_IMAGE, NEW_IMAGE = "crprod.azurecr.io/drafty-bird:oldsha", f"crprod.azurecr.io/drafty-bird:{SHA}"


def postgres_checkout(tmp_path: Path) -> Path:
    """infra/ as it is after the cut-over: both stage files say `database: postgres`."""
    root = tmp_path / "repo"
    (root / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "infra/__init__.py", root / "infra/__init__.py")
    shutil.copy(ROOT / "infra/main.bicep", root / "infra/main.bicep")
    shutil.copytree(ROOT / "infra/scripts", root / "infra/scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "infra/params", root / "infra/params")
    for stage in ("staging", "production"):
        path = root / f"infra/params/{stage}.parameters.json"
        doc = json.loads(path.read_text())
        assert doc["parameters"]["database"]["value"] == "sqlite", "the repository's files changed: revisit this test"
        doc["parameters"]["database"]["value"] = "postgres"
        path.write_text(json.dumps(doc))
    return root


def script(fake: FakeAzure, root: Path, module: str, *args: str, gate: list[int] | None = None):
    return subprocess.run(
        [sys.executable, "-m", f"infra.scripts.{module}", *args],
        env=fake.env(gate),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
    )


def provision(fake: FakeAzure, root: Path, stage: str, *extra: str) -> subprocess.CompletedProcess:
    return script(fake, root, "pipeline", "provision", "--stage", stage, "--location", "x", "--sha", SHA, *extra)


def deployment_parameters(fake: FakeAzure) -> dict:
    (deploy,) = [e for e in fake.entries() if e["argv"][:3] == ["deployment", "sub", "create"]]
    return {k: v["value"] for f in deploy["files"].values() for k, v in f["parameters"].items()}


def published(stdout: str) -> dict[str, str]:
    """The ##vso output variables a step sets (the next steps read them as <step>.<name>)."""
    prefix = "##vso[task.setvariable variable="
    found = {}
    for line in stdout.splitlines():
        if line.startswith(prefix):
            spec, _, value = line[len(prefix) :].partition("]")
            found[spec.split(";")[0]] = value
    return found


def serving(fake: FakeAzure) -> list[tuple[str, str]]:
    return [(n, r["image"]) for n, r in fake.state()["revisions"].items() if r["weight"] == 100]


def prod_fake(tmp_path: Path, **extra) -> FakeAzure:
    state = {
        "app": PROD,
        "mode": "Single",
        "deploys_revisions": True,
        "fqdn": f"{PROD}.nicecoast-1.westeurope.azurecontainerapps.io",
        "revisions": {f"{PROD}--oldsha": {"weight": 100, "active": True, "image": OLD_IMAGE}},
    }
    return FakeAzure.create(tmp_path, {**state, **extra})


# --- provision -----------------------------------------------------------------------------------


def test_production_provision_publishes_the_postgres_profile_and_keeps_the_serving_image(tmp_path: Path) -> None:
    root = postgres_checkout(tmp_path)
    fake = prod_fake(tmp_path)
    result = provision(fake, root, "production", "--image", NEW_IMAGE)
    assert result.returncode == 0, result.stdout + result.stderr
    params = deployment_parameters(fake)
    assert params["database"] == "postgres", "the profile comes from the stage's parameter file"
    # An infra change never ships a new image: it reaches production only through the release.
    assert params["imageName"] == OLD_IMAGE and "revisionSuffix" not in params
    # The release step is chosen by this variable (azure-pipelines.yml, infra.SERVICE_WEB_DATABASE_PROFILE).
    variables = published(result.stdout)
    assert variables["SERVICE_WEB_DATABASE_PROFILE"] == "postgres"
    assert variables["AZURE_POSTGRES_SERVER_NAME"] == "psql-fake"
    # Single mode: the provision's revision (same image) took the traffic; no label, no weight was set.
    assert [image for _, image in serving(fake)] == [OLD_IMAGE]
    assert not [
        c
        for c in fake.calls()
        if c[:3] in (["containerapp", "ingress", "traffic"], ["containerapp", "revision", "label"])
    ]


def test_provision_sends_no_database_credential(tmp_path: Path) -> None:
    # Entra only: the app signs in as its identity (the server's Entra principal, made by the
    # template from identity.outputs); the pipeline's own principal only gets the monitor and vault roles.
    root = postgres_checkout(tmp_path)
    oid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    fake = FakeAzure.create(tmp_path, {"app": STAGING, "oid": oid})
    result = provision(fake, root, "staging", "--image", "img:new")
    assert result.returncode == 0, result.stdout + result.stderr
    params = deployment_parameters(fake)
    credentials = [
        k for k in params if any(w in k.lower() for w in ("password", "login", "database_url", "connection"))
    ]
    assert credentials == [], credentials
    stage_file = json.loads((root / "infra/params/staging.parameters.json").read_text())["parameters"]
    overrides = {k for k in params if k not in stage_file}
    assert overrides <= {"location", "deployApp", "principalId", "principalType", "imageName", "revisionSuffix"}, (
        overrides
    )
    assert params["principalId"] == oid


def test_postgres_provision_creates_the_run_token_secret_once(tmp_path: Path) -> None:
    root = postgres_checkout(tmp_path)
    fake = FakeAzure.create(tmp_path, {"app": STAGING, "vault": "kv-pg"})
    first = provision(fake, root, "staging", "--platform-only")
    again = provision(fake, root, "staging", "--image", "img:new")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    secret_calls = [c[2] for c in fake.calls() if c[:2] == ["keyvault", "secret"]]
    assert secret_calls == ["show", "set", "show"], "created when missing, then left alone"
    value = fake.state()["vault_secrets"]["kv-pg/run-token-secret"]
    assert len(value) >= 43 and value not in first.stdout + again.stdout + json.dumps(fake.calls())
    kinds = [c[:3] for c in fake.calls()]
    assert kinds.index(["deployment", "sub", "create"]) < kinds.index(["keyvault", "secret", "show"])


# --- staging: deploy, then retire what it superseded ------------------------------------------------


def staging_fake(tmp_path: Path, **extra) -> FakeAzure:
    state = {
        "app": STAGING,
        "mode": "Single",
        "deploys_revisions": True,
        "revisions": {f"{STAGING}--oldsha": {"weight": 100, "active": True, "image": "img:old"}},
    }
    return FakeAzure.create(tmp_path, {**state, **extra})


def test_staging_deploy_takes_traffic_when_ready_and_retiring_finds_nothing_left(tmp_path: Path) -> None:
    root = postgres_checkout(tmp_path)
    fake = staging_fake(tmp_path)
    deployed = provision(fake, root, "staging", "--image", "img:new")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    revision = published(deployed.stdout)["REVISION"]
    assert revision == f"{STAGING}--{SHA[:12]}" and serving(fake) == [(revision, "img:new")]
    retired = script(fake, root, "pipeline", "deactivate-superseded", "--stage", "staging", "--revision", revision)
    assert retired.returncode == 0, retired.stdout + retired.stderr
    # ACA already deactivated the old revision in Single mode: nothing to switch off.
    assert not [c for c in fake.calls() if c[:3] == ["containerapp", "revision", "deactivate"]]


def test_staging_revision_that_never_gets_ready_fails_the_stage_and_the_old_one_serves(tmp_path: Path) -> None:
    root = postgres_checkout(tmp_path)
    fake = staging_fake(tmp_path, health_state={f"{STAGING}--{SHA[:12]}": "Unhealthy"})
    deployed = provision(fake, root, "staging", "--image", "img:broken")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    revision = published(deployed.stdout)["REVISION"]
    retired = script(fake, root, "pipeline", "deactivate-superseded", "--stage", "staging", "--revision", revision)
    assert retired.returncode == 1 and "does not serve 100%" in retired.stderr
    assert serving(fake) == [(f"{STAGING}--oldsha", "img:old")]
    assert fake.state()["revisions"][f"{STAGING}--oldsha"]["active"]


# --- production: provision, then the Single-mode release ------------------------------------------


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("pg-release")) as server:
        yield server


def release(fake: FakeAzure, root: Path, url: str, gate: list[int]) -> subprocess.CompletedProcess:
    args = [
        "--resource-group", "rg-drafty-prod", "--app", PROD, "--image", NEW_IMAGE, "--sha", SHA,
        "--prometheus", "http://127.0.0.1:9", "--watch-seconds", "0", "--poll-interval", "0.2",
        "--smoke-timeout", "3", "--ready-timeout", "3", "--gate-cmd", str(fake.bin_dir / "gate"), "--url", url,
    ]  # fmt: skip
    return script(fake, root, "single", *args, gate=gate)


def images_served(fake: FakeAzure) -> list[str]:
    """The web image at 100% after each az call, in order, repeats dropped."""
    images = {name: rev["image"] for name, rev in fake.state()["revisions"].items()}
    out: list[str] = []
    for entry in fake.entries():
        for name, weight in entry["weights"].items():
            if weight == 100 and (not out or out[-1] != images[name]):
                out.append(images[name])
    return out


@pytest.mark.parametrize(
    ("gate", "code", "last"), [([0], 0, NEW_IMAGE), ([1], 1, OLD_IMAGE)], ids=["promote", "rollback"]
)
def test_production_provision_then_release(
    tmp_path: Path, healthy: RunningServer, gate: list[int], code: int, last: str
) -> None:
    root = postgres_checkout(tmp_path)
    fake = prod_fake(tmp_path)
    infra = provision(fake, root, "production", "--image", NEW_IMAGE)
    assert infra.returncode == 0, infra.stdout + infra.stderr
    assert published(infra.stdout)["SERVICE_WEB_DATABASE_PROFILE"] == "postgres"
    result = release(fake, root, healthy.url, gate)
    assert result.returncode == code, result.stdout + result.stderr
    # The new image serves only after the release deployed it; a rollback (gate failure after
    # the switch) redeploys the image that served before the release, never the provision's guess.
    assert images_served(fake) == [OLD_IMAGE, NEW_IMAGE] + ([OLD_IMAGE] if code else [])
    assert serving(fake)[0][1] == last
    updates = [c[c.index("--image") + 1] for c in fake.calls() if c[:2] == ["containerapp", "update"]]
    assert updates == [NEW_IMAGE] + ([OLD_IMAGE] if code else [])
