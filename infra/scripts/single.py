"""Release in Single revision mode (postgres profile: sticky sessions, 2+ replicas).

    python -m infra.scripts.single --resource-group RG --app APP --image IMG:SHA --sha SHA \
        --prometheus https://<amw>.prometheus.monitor.azure.com [--window 5m] ...

Single mode has no labels and no weights: ACA keeps the old revision serving until the new
one is ready, then moves all traffic to it and deactivates the old one.
1. previous = the revision serving 100% now, and its web image.
2. `az containerapp update --container-name web --image ... --revision-suffix <sha>`.
3. wait until the new revision runs and serves 100%. If it never gets ready, ACA never
   switched: stop (exit 1), the previous revision still serves.
4. smoke-test the app URL, then watch through the release gate (0 promote, 1 roll back,
   2 inconclusive: retried, then rolled back).
5. roll back = redeploy the previous image as a new revision (suffix rb-<sha>); ACA switches
   again once it is ready. Players' pages reload at each switch (docs/RUNBOOK.md).
Exit 0 = promoted, 1 = rolled back or stopped before the switch, 2 = usage/Azure error.
"""

from __future__ import annotations

import argparse
import os
import sys

from drafty_bird.ops.gate import PROMOTE
from infra.scripts import smoke
from infra.scripts.azcli import CommandError, ContainerApp, serving_revision, web_image
from infra.scripts.bluegreen import add_release_arguments, prometheus_token_file, run_release, wait_running, watch


def wait_serving(app: ContainerApp, revision: str, args: argparse.Namespace) -> None:
    """Ready, then holding all traffic (ACA switches a Single-mode app by itself)."""
    wait_running(app, revision, args.ready_timeout, args.poll_interval)
    serving = serving_revision(app.revisions())["name"]
    if serving != revision:
        raise CommandError(f"{revision} is ready but {serving} still serves 100%")


def roll_back(args: argparse.Namespace, app: ContainerApp, previous_image: str, failed: str) -> int:
    suffix = f"rb-{args.sha}"
    print(f"ROLLING BACK {failed}: redeploying {previous_image} as {args.app}--{suffix}", file=sys.stderr, flush=True)
    app.update_image(previous_image, suffix)
    wait_serving(app, f"{args.app}--{suffix}", args)
    if not smoke.smoke(args.url or "https://" + app.fqdn(), timeout=args.smoke_timeout, interval=args.poll_interval):
        raise CommandError(f"the rollback revision {args.app}--{suffix} serves but fails its smoke test")
    return 1


def release(args: argparse.Namespace) -> int:
    app = ContainerApp(args.resource_group, args.app, args.az)
    previous = serving_revision(app.revisions())
    new = f"{args.app}--{args.sha}"
    url = args.url or "https://" + app.fqdn()
    if previous["name"] == new:
        print(f"{new} already serves 100%: smoke-testing it, no switch", flush=True)
        return 0 if smoke.smoke(url, timeout=args.smoke_timeout, interval=args.poll_interval) else 1
    previous_image = web_image(previous)
    print(f"previous={previous['name']} ({previous_image}) new={new}", flush=True)

    app.update_image(args.image, args.sha)
    try:
        wait_serving(app, new, args)
    except CommandError as exc:
        # Not ready means ACA never switched: players stay on the previous revision.
        print(f"{new} never took traffic: {exc}", file=sys.stderr)
        if serving_revision(app.revisions())["name"] != previous["name"]:
            return roll_back(args, app, previous_image, new)
        return 1

    # From here players are on the new revision: any failure must end in a rollback.
    token_file = None
    try:
        if not smoke.smoke(url, timeout=args.smoke_timeout, interval=args.poll_interval):
            raise CommandError(f"{new} serves but fails its smoke test")
        token_file = prometheus_token_file(args)
        verdict = watch(args, new, token_file)
    except CommandError as exc:
        print(f"error after {new} took traffic: {exc}", file=sys.stderr)
        verdict = -1
    finally:
        if token_file:
            os.unlink(token_file)
    if verdict == PROMOTE:
        print(f"PROMOTED {new}; {previous['name']} stays listed, inactive", flush=True)
        return 0
    return roll_back(args, app, previous_image, new)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_release_arguments(parser)
    parser.add_argument("--url", help="override the app URL that is smoke-tested (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_release(build_parser(), release, argv)


if __name__ == "__main__":
    sys.exit(main())
