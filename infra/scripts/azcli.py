"""What the pipeline scripts share: one subprocess wrapper, one `az containerapp` helper,
one "which revision serves 100%" check, and the Azure constants.

The scripts run as modules from the repository root (`python -m infra.scripts.<name>`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Any

# Audience of Entra ID tokens for an Azure Monitor workspace's Prometheus query endpoint.
PROMETHEUS_RESOURCE = "https://prometheus.monitor.azure.com"
# The app's own container; the other one is the otel-collector sidecar (infra/modules/app.bicep).
WEB_CONTAINER = "web"
# Exit code of `az ... show` when the resource does not exist (azure-cli: azure/cli/core/util.py).
AZ_NOT_FOUND = 3


class CommandError(Exception):
    """A command the scripts ran failed, or Azure is not in the state they expect."""


def run(cmd: list[str], parse: bool = False) -> Any:
    """Run a command, echo it, raise CommandError on failure; stdout as text, or as JSON with parse."""
    print("+ " + shlex.join(cmd), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise CommandError(f"{shlex.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    out = result.stdout.strip()
    if parse:
        return json.loads(out) if out else None
    return out


def serving_revision(revisions: list[dict]) -> dict:
    """The one revision at 100% traffic; anything else means a release was left half done."""
    live = [r for r in revisions if (r.get("properties") or {}).get("trafficWeight", 0) == 100]
    if len(live) != 1:
        weights = {r.get("name"): (r.get("properties") or {}).get("trafficWeight") for r in revisions}
        raise CommandError(f"expected one revision at 100% traffic, found {weights}")
    return live[0]


def web_image(revision: dict) -> str:
    containers = revision["properties"]["template"]["containers"]
    return next(c["image"] for c in containers if c["name"] == WEB_CONTAINER)


def write_private(path: str, text: str) -> None:
    """Write a secret to a file only its owner can read (never on a command line)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def prometheus_token(az: str = "az") -> str:
    return run(
        [az, "account", "get-access-token", "--resource", PROMETHEUS_RESOURCE, "--query", "accessToken", "-o", "tsv"]
    )


class ContainerApp:
    """`az containerapp` calls on one app."""

    def __init__(self, resource_group: str, app: str, az: str = "az") -> None:
        self.rg, self.app, self.az = resource_group, app, az

    def cmd(self, command: str, *args: str) -> list[str]:
        return [self.az, "containerapp", *command.split(), "-n", self.app, "-g", self.rg, *args]

    def run(self, command: str, *args: str, parse: bool = True) -> Any:
        return run(self.cmd(command, *args), parse=parse)

    def exists(self) -> bool:
        cmd = self.cmd("show", "-o", "none")
        print("+ " + shlex.join(cmd), flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == AZ_NOT_FOUND:
            return False
        # Any other failure (login, network) must not pass for "first deployment".
        if result.returncode != 0:
            raise CommandError(f"{shlex.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return True

    def fqdn(self) -> str:
        return self.run("show", "--query", "properties.configuration.ingress.fqdn", "-o", "tsv", parse=False)

    def revisions(self) -> list[dict]:
        return self.run("revision list", "--all", "-o", "json") or []

    def revision_state(self, revision: str) -> dict:
        return self.run("revision show", "--revision", revision, "-o", "json") or {}

    def update_image(self, image: str, revision_suffix: str) -> None:
        # Two containers (web + collector sidecar): the CLI refuses --image without --container-name.
        args = ["--container-name", WEB_CONTAINER, "--image", image, "--revision-suffix", revision_suffix]
        self.run("update", *args, "-o", "none", parse=False)

    def label(self, label: str, revision: str) -> None:
        self.run("revision label add", "--label", label, "--revision", revision, "--yes", "-o", "none", parse=False)

    def swap_labels(self, source: str, target: str) -> None:
        self.run("revision label swap", "--source", source, "--target", target, "-o", "none", parse=False)

    def remove_label(self, label: str) -> None:
        self.run("revision label remove", "--label", label, "-o", "none", parse=False)

    def traffic(self, *weights: str, revision_weights: tuple[str, ...] = ()) -> None:
        args = ["--revision-weight", *revision_weights] if revision_weights else []
        self.run("ingress traffic set", *args, "--label-weight", *weights, "-o", "none", parse=False)

    def deactivate(self, revision: str) -> None:
        self.run("revision deactivate", "--revision", revision, "-o", "none", parse=False)

    def activate(self, revision: str) -> None:
        self.run("revision activate", "--revision", revision, "-o", "none", parse=False)

    def is_active(self, revision: str) -> bool:
        return any(r["name"] == revision and (r.get("properties") or {}).get("active") for r in self.revisions())

    def deactivate_superseded(self, serving: str) -> list[str]:
        """After a successful rollout: deactivate every active revision but the serving one.

        A superseded revision left active keeps a replica on the SQLite share, keeps the
        writer lease it took first (so the serving revision cannot write) and costs money.
        Deactivated revisions stay listed (`maxInactiveRevisions`), so the previous one can be
        reactivated for a rollback (docs/RUNBOOK.md, Rollback).
        """
        revisions = self.revisions()
        if serving_revision(revisions)["name"] != serving:
            raise CommandError(f"{serving} does not serve 100%: not deactivating anything")
        stale = [r["name"] for r in revisions if r["name"] != serving and (r.get("properties") or {}).get("active")]
        for name in stale:
            self.deactivate(name)
        print(
            f"serving {serving}; deactivated {stale or 'nothing'} (inactive revisions can be reactivated)", flush=True
        )
        return stale
