"""Pipeline steps that talk to Azure, kept out of azure-pipelines.yml so they are tested.

    python infra/scripts/pipeline.py provision --stage staging --location westeurope --sha SHA \
        [--image IMG] [--platform-only] [--chaos-token-file F] [--action-group-id ID]
    python infra/scripts/pipeline.py build-push --registry NAME --sha SHA
    python infra/scripts/pipeline.py import-image --source-registry A --target-registry B --sha SHA
    python infra/scripts/pipeline.py prometheus-token --out FILE

`provision` on production keeps the serving revision's image and pins its traffic, so an
infra change never moves users: new images reach production only through bluegreen.py.
Outputs of the deployment are printed as Azure Pipelines variables (##vso[task.setvariable]).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPO = "drafty-bird"
PROMETHEUS_RESOURCE = "https://prometheus.monitor.azure.com"


class StepError(Exception):
    pass


def run(cmd: list[str], parse: bool = False) -> Any:  # raw stdout, or parsed az JSON
    print("+ " + shlex.join(cmd), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StepError(f"{shlex.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    out = result.stdout.strip()
    if parse:
        return json.loads(out) if out else None
    return out


def stage_parameters(stage: str) -> dict:
    return json.loads((ROOT / f"infra/params/{stage}.parameters.json").read_text())["parameters"]


def serving_app(az: str, resource_group: str, app: str) -> tuple[str, str] | None:
    """(revision at 100%, its image) of an existing app, or None on first provision."""
    exists = subprocess.run(
        [az, "containerapp", "show", "-n", app, "-g", resource_group, "-o", "none"], capture_output=True
    )
    if exists.returncode != 0:
        return None
    revisions = (
        run([az, "containerapp", "revision", "list", "-n", app, "-g", resource_group, "-o", "json"], parse=True) or []
    )
    live = [r for r in revisions if (r.get("properties") or {}).get("trafficWeight", 0) == 100]
    if len(live) != 1:
        raise StepError(f"{app}: expected one revision at 100%, found {[r.get('name') for r in live]}")
    containers = live[0]["properties"]["template"]["containers"]
    image = next(c["image"] for c in containers if c["name"] == "web")
    return live[0]["name"], image


def set_variable(name: str, value: str, secret: bool = False) -> None:
    flags = ";isOutput=true" + (";issecret=true" if secret else "")
    print(f"##vso[task.setvariable variable={name}{flags}]{value}", flush=True)


def provision(args: argparse.Namespace) -> int:
    params = stage_parameters(args.stage)
    env_name = params["environmentName"]["value"]
    resource_group, app = f"rg-{env_name}", f"ca-{env_name}"
    overrides: dict[str, object] = {"location": args.location, "deployApp": not args.platform_only}
    if args.action_group_id:
        overrides["actionGroupId"] = args.action_group_id
    if args.platform_only:
        overrides["imageName"] = "unused-platform-only"
    elif args.stage == "production" and (serving := serving_app(args.az, resource_group, app)):
        revision, image = serving
        # Infra changes must not shift users: keep blue's image and pin traffic to it.
        overrides.update(imageName=image, trafficRevisionName=revision)
    else:
        if not args.image:
            raise StepError("--image is required to deploy the app")
        overrides.update(imageName=args.image, revisionSuffix=args.sha[:12].lower())
        set_variable("REVISION", f"{app}--{args.sha[:12].lower()}")
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


def prometheus_token(args: argparse.Namespace) -> int:
    token = run(
        [
            args.az,
            "account",
            "get-access-token",
            "--resource",
            PROMETHEUS_RESOURCE,
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ]
    )
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return 0


def main(argv: list[str] | None = None) -> int:
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
    p.set_defaults(func=prometheus_token)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StepError as exc:
        print(f"step failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
