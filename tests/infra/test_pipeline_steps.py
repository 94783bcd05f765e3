"""infra/scripts/pipeline.py (provision, build-push, import-image) against fake `az`/`docker`.

Azure and a Docker engine cannot be reached here: both are recording fakes first on PATH
(tests/infra/fakes.py). The tests check the commands and the deployment parameters.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.infra.fakes import FakeAzure

ROOT = Path(__file__).resolve().parents[2]
SHA = "abcdef0123456789abcdef0123456789abcdef01"


def run(fake: FakeAzure, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.scripts.pipeline", *args],
        env=fake.env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def deployment_parameters(fake: FakeAzure) -> dict:
    deploys = [e for e in fake.entries() if e["argv"][:3] == ["deployment", "sub", "create"]]
    assert len(deploys) == 1, deploys
    files = deploys[0]["files"]
    merged = {}
    for _name, content in files.items():
        merged.update({k: v["value"] for k, v in content["parameters"].items()})
    return merged


def test_production_provision_keeps_blue_image_and_pins_traffic(tmp_path: Path) -> None:
    state = {
        "app": "ca-drafty-prod",
        "revisions": {
            "ca-drafty-prod--old": {"weight": 100, "active": True, "image": "crprod.azurecr.io/drafty-bird:old"}
        },
        "deployment_outputs": {"AZURE_RESOURCE_GROUP": {"type": "String", "value": "rg-drafty-prod"}},
    }
    fake = FakeAzure.create(tmp_path, state)
    result = run(
        fake,
        "provision",
        "--stage",
        "production",
        "--location",
        "westeurope",
        "--sha",
        SHA,
        "--image",
        "crprod.azurecr.io/drafty-bird:new",
    )
    assert result.returncode == 0, result.stderr
    params = deployment_parameters(fake)
    assert params["imageName"] == "crprod.azurecr.io/drafty-bird:old"
    assert params["trafficRevisionName"] == "ca-drafty-prod--old"
    assert params["stage"] == "production" and params["environmentName"] == "drafty-prod"
    assert "revisionSuffix" not in params and params.get("chaosAdminToken", "") == ""
    assert "##vso[task.setvariable variable=AZURE_RESOURCE_GROUP;isOutput=true]rg-drafty-prod" in result.stdout


def test_first_production_provision_deploys_the_new_image(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-prod", "app_exists": False})
    result = run(
        fake, "provision", "--stage", "production", "--location", "westeurope", "--sha", SHA, "--image", "img:new"
    )
    assert result.returncode == 0, result.stderr
    params = deployment_parameters(fake)
    assert params["imageName"] == "img:new" and params["revisionSuffix"] == SHA[:12]
    assert "trafficRevisionName" not in params


def test_production_refuses_a_chaos_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-value")
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-prod", "app_exists": False})
    result = run(
        fake,
        "provision",
        "--stage",
        "production",
        "--location",
        "x",
        "--sha",
        SHA,
        "--image",
        "i",
        "--chaos-token-file",
        str(token),
    )
    assert result.returncode == 1
    assert not any(c[:3] == ["deployment", "sub", "create"] for c in fake.calls())


def test_staging_token_goes_in_a_parameter_file_never_on_argv(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-value\n")
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging"})
    result = run(
        fake,
        "provision",
        "--stage",
        "staging",
        "--location",
        "x",
        "--sha",
        SHA,
        "--image",
        "img:sha",
        "--chaos-token-file",
        str(token),
    )
    assert result.returncode == 0, result.stderr
    assert deployment_parameters(fake)["chaosAdminToken"] == "s3cret-token-value"
    assert not any("s3cret" in arg for call in fake.calls() for arg in call)
    assert "s3cret" not in result.stdout + result.stderr
    assert f"variable=REVISION;isOutput=true]ca-drafty-staging--{SHA[:12]}" in result.stdout
    # The temp parameter file holding the token is gone afterwards.
    param_files = [f[1:] for e in fake.entries() for f in e.get("files", {}) if "drafty-params-" in f]
    assert param_files and not any(Path(f).exists() for f in param_files)


def test_platform_only_provision_skips_the_app(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging"})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--platform-only")
    assert result.returncode == 0, result.stderr
    assert deployment_parameters(fake)["deployApp"] is False


def test_build_push_tags_with_the_commit_sha(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {})
    result = run(fake, "build-push", "--registry", "crstaging", "--sha", SHA)
    assert result.returncode == 0, result.stderr
    image = f"crstaging.azurecr.io/drafty-bird:{SHA}"
    docker = fake.tool_calls("docker")
    assert docker[0][0] == "build" and docker[0][docker[0].index("-t") + 1] == image
    assert docker[1] == ["push", image]
    assert ["acr", "login", "-n", "crstaging"] in fake.calls()
    assert f"variable=IMAGE;isOutput=true]{image}" in result.stdout


def test_import_image_promotes_the_tested_bytes(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {})
    result = run(fake, "import-image", "--source-registry", "crstaging", "--target-registry", "crprod", "--sha", SHA)
    assert result.returncode == 0, result.stderr
    imports = [c for c in fake.calls() if c[:2] == ["acr", "import"]]
    assert imports == [
        [
            "acr",
            "import",
            "-n",
            "crprod",
            "--source",
            f"crstaging.azurecr.io/drafty-bird:{SHA}",
            "--image",
            f"drafty-bird:{SHA}",
            "--force",
        ]
    ]
    assert fake.tool_calls("docker") == [], "production never rebuilds the image"


def test_prometheus_token_file_is_private(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {})
    out = tmp_path / "prom-token"
    result = run(fake, "prometheus-token", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "fake-entra-token" and (out.stat().st_mode & 0o077) == 0


def staging_with_revisions(tmp_path: Path, serving: str) -> FakeAzure:
    revisions = {
        "ca-drafty-staging--a": {"weight": 0, "active": False, "image": "img:a"},
        "ca-drafty-staging--b": {"weight": 0, "active": True, "image": "img:b"},
        "ca-drafty-staging--c": {"weight": 0, "active": True, "image": "img:c"},
        "ca-drafty-staging--d": {"weight": 0, "active": True, "image": "img:d"},
    }
    revisions[serving]["weight"] = 100
    return FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "revisions": revisions})


def test_deactivate_superseded_keeps_only_the_serving_revision_active(tmp_path: Path) -> None:
    fake = staging_with_revisions(tmp_path, "ca-drafty-staging--d")
    result = run(fake, "deactivate-superseded", "--stage", "staging", "--revision", "ca-drafty-staging--d")
    assert result.returncode == 0, result.stderr
    revisions = fake.state()["revisions"]
    assert {n: r["active"] for n, r in revisions.items()} == {
        "ca-drafty-staging--a": False,
        "ca-drafty-staging--b": False,
        "ca-drafty-staging--c": False,
        "ca-drafty-staging--d": True,
    }
    deactivated = [c for c in fake.calls() if c[:3] == ["containerapp", "revision", "deactivate"]]
    assert [c[c.index("--revision") + 1] for c in deactivated] == ["ca-drafty-staging--b", "ca-drafty-staging--c"]
    assert all(c[c.index("-g") + 1] == "rg-drafty-staging" for c in deactivated)


def test_deactivate_superseded_refuses_when_the_revision_does_not_serve(tmp_path: Path) -> None:
    # The new revision is not at 100% (a rollback happened meanwhile): switch nothing off.
    fake = staging_with_revisions(tmp_path, "ca-drafty-staging--c")
    result = run(fake, "deactivate-superseded", "--stage", "staging", "--revision", "ca-drafty-staging--d")
    assert result.returncode == 1
    assert "does not serve 100%" in result.stderr
    assert not any(c[:3] == ["containerapp", "revision", "deactivate"] for c in fake.calls())


def test_production_provision_stops_when_az_fails_for_another_reason_than_not_found(tmp_path: Path) -> None:
    # Only "not found" (exit 3) means first deployment; a login failure must not deploy
    # the new image straight to production, past blue-green.
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-prod", "fail": ["containerapp show"]})
    result = run(fake, "provision", "--stage", "production", "--location", "x", "--sha", SHA, "--image", "img:new")
    assert result.returncode == 1
    assert not any(c[:3] == ["deployment", "sub", "create"] for c in fake.calls())


def _pipeline_commands() -> list[tuple[str, list[str]]]:
    """(module, argv) of every `$(python) -m infra.scripts.X ...` in azure-pipelines.yml."""
    text = (ROOT / "azure-pipelines.yml").read_text()
    found = []
    for line in text.splitlines():
        if "-m infra.scripts." not in line:
            continue
        words = shlex.split(line.split("-m ", 1)[1])
        # Pipeline macros stand for values only known on the agent.
        found.append((words[0], [re.sub(r"\$\([^)]*\)", "value", w) for w in words[1:]]))
    return found


def test_pipeline_yaml_calls_each_script_with_arguments_it_accepts() -> None:
    commands = _pipeline_commands()
    assert {m for m, _ in commands} == {
        "infra.scripts.pipeline",
        "infra.scripts.smoke",
        "infra.scripts.chaos_drill",
        "infra.scripts.bluegreen",
        "infra.scripts.single",
    }
    for module, argv in commands:
        parser = importlib.import_module(module).build_parser()
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"azure-pipelines.yml: {module} refuses {argv}") from exc


def test_provision_passes_the_pipeline_identity_as_principal_id(tmp_path: Path) -> None:
    # The pipeline's service principal gets Monitoring Data Reader on the workspace (the chaos
    # drill and the gate query it); its object id comes from its own token's oid claim.
    oid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "oid": oid, "user_type": "servicePrincipal"})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--platform-only")
    assert result.returncode == 0, result.stderr
    params = deployment_parameters(fake)
    assert params["principalId"] == oid and params["principalType"] == "ServicePrincipal"
    assert ["account", "show", "--query", "user.type", "-o", "tsv"] in fake.calls()
    assert not any(c[:2] == ["ad", "sp"] for c in fake.calls()), "a service principal cannot read Graph by default"
    assert "eyJ" not in result.stdout + result.stderr, "the token is never printed"


def test_provision_by_a_user_passes_user_type(tmp_path: Path) -> None:
    oid = "9a1b2c3d-0000-4000-8000-00000000beef"
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "oid": oid, "user_type": "user"})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--image", "img:sha")
    assert result.returncode == 0, result.stderr
    params = deployment_parameters(fake)
    assert (params["principalId"], params["principalType"]) == (oid, "User")


def test_provision_stops_when_the_token_has_no_object_id(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "oid": "not-a-guid"})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--platform-only")
    assert result.returncode != 0
    assert "oid claim is not an object id" in result.stderr
    assert not any(c[:3] == ["deployment", "sub", "create"] for c in fake.calls())


def _secret_calls(fake: FakeAzure) -> list[list[str]]:
    return [c for c in fake.calls() if c[:2] == ["keyvault", "secret"]]


def test_provision_creates_the_run_token_secret_once_when_missing(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "vault": "kv-abc"})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--platform-only")
    assert result.returncode == 0, result.stderr
    calls = _secret_calls(fake)
    assert [c[2] for c in calls] == ["show", "set"], calls
    assert all(c[c.index("--vault-name") + 1] == "kv-abc" and "run-token-secret" in c for c in calls)
    value = fake.state()["vault_secrets"]["kv-abc/run-token-secret"]
    assert len(value) >= 43, "secrets.token_urlsafe(32): 256 bits"
    # Never on a command line, never printed; the value file is gone.
    assert value not in json.dumps(fake.calls()) and value not in result.stdout + result.stderr
    value_file = calls[1][calls[1].index("--file") + 1]
    assert not Path(value_file).exists()
    # Deploy first (the vault is created there), then the secret.
    kinds = [c[:3] for c in fake.calls()]
    assert kinds.index(["deployment", "sub", "create"]) < kinds.index(["keyvault", "secret", "show"])


def test_provision_leaves_an_existing_run_token_secret_alone(tmp_path: Path) -> None:
    state = {"app": "ca-drafty-staging", "vault": "kv-abc", "vault_secrets": {"kv-abc/run-token-secret": "keep-me"}}
    fake = FakeAzure.create(tmp_path, state)
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--image", "img:sha")
    assert result.returncode == 0, result.stderr
    assert [c[2] for c in _secret_calls(fake)] == ["show"]
    assert fake.state()["vault_secrets"]["kv-abc/run-token-secret"] == "keep-me", "a redeploy must not rotate the key"


def test_provision_never_overwrites_the_secret_when_show_fails_otherwise(tmp_path: Path) -> None:
    # 403 (role not yet propagated) or a network error is not "missing": setting would rotate the key.
    fake = FakeAzure.create(tmp_path, {"app": "ca-drafty-staging", "fail": ["keyvault secret show"]})
    result = run(fake, "provision", "--stage", "staging", "--location", "x", "--sha", SHA, "--platform-only")
    assert result.returncode == 1
    assert [c[2] for c in _secret_calls(fake)] == ["show"]


def test_run_token_secret_step_for_azd_environments(tmp_path: Path) -> None:
    fake = FakeAzure.create(tmp_path, {})
    first = run(fake, "run-token-secret", "--vault-name", "kv-mine")
    again = run(fake, "run-token-secret", "--vault-name", "kv-mine")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "created" in first.stdout and "left unchanged" in again.stdout
    assert [c[2] for c in _secret_calls(fake)] == ["show", "set", "show"]
