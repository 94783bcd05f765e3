"""Pipeline steps that talk to Azure, kept out of azure-pipelines.yml so they are tested.

    python -m infra.scripts.pipeline provision --stage staging --location westeurope --sha SHA \
        [--image IMG] [--platform-only] [--chaos-token-file F] [--action-group-id ID]
    python -m infra.scripts.pipeline build-push --registry NAME --sha SHA
    python -m infra.scripts.pipeline import-image --source-registry A --target-registry B --sha SHA
    python -m infra.scripts.pipeline prometheus-token --out FILE
    python -m infra.scripts.pipeline deactivate-superseded --stage staging --revision REV
    python -m infra.scripts.pipeline run-token-secret --vault-name KV

`provision` on production keeps the serving revision's image and pins its traffic, so an
infra change never moves users: new images reach production only through bluegreen.py.
Outputs of the deployment are printed as Azure Pipelines variables (##vso[task.setvariable]).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.scripts.azcli import (
    AZ_NOT_FOUND,
    CommandError,
    ContainerApp,
    prometheus_token,
    run,
    serving_revision,
    web_image,
    write_private,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPO = "drafty-bird"
# Key Vault secret behind RUN_TOKEN_SECRET (infra/modules/keyvault.bicep, app.bicep).
RUN_TOKEN_SECRET_NAME = "run-token-secret"


class StepError(Exception):
    pass


def stage_parameters(stage: str) -> dict:
    return json.loads((ROOT / f"infra/params/{stage}.parameters.json").read_text())["parameters"]


def stage_app(stage: str, az: str) -> ContainerApp:
    env_name = stage_parameters(stage)["environmentName"]["value"]
    return ContainerApp(f"rg-{env_name}", f"ca-{env_name}", az)


def serving_app(app: ContainerApp) -> tuple[str, str] | None:
    """(revision at 100%, its web image) of an existing app, or None on first provision."""
    if not app.exists():
        return None
    live = serving_revision(app.revisions())
    return live["name"], web_image(live)


def set_variable(name: str, value: str, secret: bool = False) -> None:
    flags = ";isOutput=true" + (";issecret=true" if secret else "")
    print(f"##vso[task.setvariable variable={name}{flags}]{value}", flush=True)


GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def signed_in_principal(az: str) -> tuple[str, str]:
    """(object id, principalType) of the identity az is logged in as: it gets Monitoring Data
    Reader on the workspace (infra/main.bicep principalId) for the chaos drill and the gate.

    The object id is the `oid` claim of its own ARM token, which any identity can get: a
    service principal has no Microsoft Graph read by default, so `az ad sp show` would fail
    with "Insufficient privileges" (and `az ad signed-in-user show` works only for users).
    """
    kind = run([az, "account", "show", "--query", "user.type", "-o", "tsv"])
    token = run([az, "account", "get-access-token", "--query", "accessToken", "-o", "tsv"])
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        oid = str(claims["oid"]).lower()
    except (IndexError, KeyError, ValueError, TypeError, binascii.Error):
        raise CommandError("the az access token has no readable oid claim") from None
    if not GUID.match(oid):
        raise CommandError(f"the az access token's oid claim is not an object id: {oid!r}")
    # account show: "servicePrincipal" for service principals and managed identities, else "user".
    return oid, "ServicePrincipal" if kind == "servicePrincipal" else "User"


def ensure_run_token_secret(az: str, vault: str) -> bool:
    """Create RUN_TOKEN_SECRET in the vault once; True when it was created.

    An existing value is never replaced: a new one would void every run in flight (rotation
    is a deliberate RUNBOOK step). The platform-only provision runs first in each stage, so
    the secret exists before the app's Key Vault reference is resolved.
    """
    cmd = [az, "keyvault", "secret", "show", "--vault-name", vault, "--name", RUN_TOKEN_SECRET_NAME, "-o", "none"]
    print("+ " + shlex.join(cmd), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode == 0:
        return False
    # Only "not found" means create; forbidden or a network error must not overwrite anything.
    if result.returncode != AZ_NOT_FOUND:
        raise CommandError(f"{shlex.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    # The value goes in a 0600 file, never on a command line (run() echoes argv).
    fd, value_file = tempfile.mkstemp(prefix="drafty-secret-")
    os.close(fd)
    try:
        write_private(value_file, secrets.token_urlsafe(32))
        target = ["--vault-name", vault, "--name", RUN_TOKEN_SECRET_NAME]
        value = ["--file", value_file, "--encoding", "utf-8", "--content-type", "text/plain"]
        run([az, "keyvault", "secret", "set", *target, *value, "-o", "none"])
    finally:
        os.unlink(value_file)
    return True


def provision(args: argparse.Namespace) -> int:
    app = stage_app(args.stage, args.az)
    principal_id, principal_type = signed_in_principal(args.az)
    overrides: dict[str, object] = {
        "location": args.location,
        "deployApp": not args.platform_only,
        "principalId": principal_id,
        "principalType": principal_type,
    }
    if args.action_group_id:
        overrides["actionGroupId"] = args.action_group_id
    if args.platform_only:
        overrides["imageName"] = "unused-platform-only"
    elif args.stage == "production" and (serving := serving_app(app)):
        revision, image = serving
        # Infra changes must not shift users: keep blue's image and pin traffic to it.
        overrides.update(imageName=image, trafficRevisionName=revision)
    else:
        if not args.image:
            raise StepError("--image is required to deploy the app")
        overrides.update(imageName=args.image, revisionSuffix=args.sha[:12].lower())
        set_variable("REVISION", f"{app.app}--{args.sha[:12].lower()}")
    if args.chaos_token_file:
        if args.stage == "production":
            raise StepError("production never gets a chaos admin token")
        overrides["chaosAdminToken"] = Path(args.chaos_token_file).read_text().strip()

    # Secure values travel in a 0600 parameters file, never on a command line.
    fd, param_file = tempfile.mkstemp(prefix="drafty-params-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
                    "contentVersion": "1.0.0.0",
                    "parameters": {k: {"value": v} for k, v in overrides.items()},
                },
                handle,
            )
        outputs = (
            run(
                [
                    args.az,
                    "deployment",
                    "sub",
                    "create",
                    "--name",
                    f"drafty-{args.stage}-{args.sha[:12]}",
                    "--location",
                    args.location,
                    "--template-file",
                    str(ROOT / "infra/main.bicep"),
                    "--parameters",
                    f"@{ROOT / f'infra/params/{args.stage}.parameters.json'}",
                    "--parameters",
                    f"@{param_file}",
                    "--query",
                    "properties.outputs",
                    "-o",
                    "json",
                ],
                parse=True,
            )
            or {}
        )
    finally:
        os.unlink(param_file)
    for name, output in outputs.items():
        set_variable(name, str(output.get("value", "")))
    vault = (outputs.get("AZURE_KEY_VAULT_NAME") or {}).get("value")
    if not vault:
        raise StepError("the deployment has no AZURE_KEY_VAULT_NAME output: cannot check RUN_TOKEN_SECRET")
    ensure_run_token_secret(args.az, vault)
    return 0


def build_push(args: argparse.Namespace) -> int:
    login_server = run([args.az, "acr", "show", "-n", args.registry, "--query", "loginServer", "-o", "tsv"])
    image = f"{login_server}/{IMAGE_REPO}:{args.sha}"
    run([args.az, "acr", "login", "-n", args.registry])
    run(
        [
            args.docker,
            "build",
            "--pull",
            "-t",
            image,
            "--label",
            f"org.opencontainers.image.revision={args.sha}",
            str(ROOT),
        ]
    )
    run([args.docker, "push", image])
    set_variable("IMAGE", image)
    return 0


def import_image(args: argparse.Namespace) -> int:
    # Production runs the exact bytes staging tested: import, never rebuild.
    source = run([args.az, "acr", "show", "-n", args.source_registry, "--query", "loginServer", "-o", "tsv"])
    target = run([args.az, "acr", "show", "-n", args.target_registry, "--query", "loginServer", "-o", "tsv"])
    run(
        [
            args.az,
            "acr",
            "import",
            "-n",
            args.target_registry,
            "--source",
            f"{source}/{IMAGE_REPO}:{args.sha}",
            "--image",
            f"{IMAGE_REPO}:{args.sha}",
            "--force",
        ]
    )
    set_variable("IMAGE", f"{target}/{IMAGE_REPO}:{args.sha}")
    return 0


def prometheus_token_step(args: argparse.Namespace) -> int:
    write_private(args.out, prometheus_token(args.az))
    return 0


def deactivate_superseded(args: argparse.Namespace) -> int:
    # Run after the rollout passed its checks: until then the old revision is the way back.
    stage_app(args.stage, args.az).deactivate_superseded(args.revision)
    return 0


def run_token_secret_step(args: argparse.Namespace) -> int:
    created = ensure_run_token_secret(args.az, args.vault_name)
    print(f"{RUN_TOKEN_SECRET_NAME}: {'created' if created else 'exists, left unchanged'}", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--az", default="az")
    parser.add_argument("--docker", default="docker")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("provision")
    p.add_argument("--stage", choices=["staging", "production"], required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--sha", required=True)
    p.add_argument("--image")
    p.add_argument("--platform-only", action="store_true")
    p.add_argument("--chaos-token-file")
    p.add_argument("--action-group-id")
    p.set_defaults(func=provision)

    p = sub.add_parser("build-push")
    p.add_argument("--registry", required=True)
    p.add_argument("--sha", required=True)
    p.set_defaults(func=build_push)

    p = sub.add_parser("import-image")
    p.add_argument("--source-registry", required=True)
    p.add_argument("--target-registry", required=True)
    p.add_argument("--sha", required=True)
    p.set_defaults(func=import_image)

    p = sub.add_parser("prometheus-token")
    p.add_argument("--out", required=True)
    p.set_defaults(func=prometheus_token_step)

    p = sub.add_parser("deactivate-superseded", help="after a good rollout: deactivate every other active revision")
    p.add_argument("--stage", choices=["staging", "production"], required=True)
    p.add_argument("--revision", required=True, help="the revision that must serve 100%")
    p.set_defaults(func=deactivate_superseded)

    p = sub.add_parser("run-token-secret", help="create RUN_TOKEN_SECRET in the vault if missing (azd: RUNBOOK)")
    p.add_argument("--vault-name", required=True)
    p.set_defaults(func=run_token_secret_step)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (StepError, CommandError) as exc:
        print(f"step failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
