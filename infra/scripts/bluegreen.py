"""Production blue-green release on Azure Container Apps (Multiple revision mode).

    python -m infra.scripts.bluegreen --resource-group RG --app APP --image IMG:SHA --sha SHA \
        --prometheus https://<amw>.prometheus.monitor.azure.com [--window 5m] ...

Only the holder of the SQLite writer lease may write (drafty_bird/data/lease.py); a revision
without it answers POST /score with 503 + Retry-After and browsers keep the score queued.
So exactly one revision is active while the gate judges, and that is the one serving.

1. blue = the revision serving 100% now; pin traffic to the label "blue" (new revisions get 0%).
2. `az containerapp update --container-name web --image ... --revision-suffix <sha>`: the green
   revision starts at 0%, a non-writer (blue holds the lease).
3. label it green (weight 0), wait until it runs, smoke-test the green label URL (reads only:
   a non-writer passes it). Smoke failure: deactivate green, stop (traffic never moved).
4. shift 0% -> 100% (never a fractional split: it breaks NiceGUI sessions across revisions).
5. deactivate blue and every other superseded revision: SIGTERM makes blue release the lease
   and green takes it within one lease poll; wait until green's /readyz says "writer": true.
   Until then players' score saves get 503 + Retry-After and wait in their browsers.
6. watch through the release gate (python -m drafty_bird.ops.gate): 0 promote, 1 roll back,
   2 inconclusive (retried, then rolled back: never promote without evidence), 64 the gate's
   usage error (rolled back at once: a wrong command line does not fix itself). The watch
   starts once green writes, so a window no longer than --watch-seconds sees no handover 503s.
7. promote = the label swap (green becomes blue for the next release); blue stays listed,
   inactive, for a manual rollback.
   roll back = reactivate blue, wait until it runs, `--label-weight blue=100 green=0`, then
   deactivate green, which releases the lease to blue.
Exit 0 = promoted, 1 = rolled back or stopped before traffic moved, 2 = usage/Azure error
(including a rollback that could not bring blue back: green then keeps serving and writing).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from drafty_bird.ops.gate import PROMOTE, ROLL_BACK, USAGE
from infra.scripts import smoke
from infra.scripts.azcli import CommandError, ContainerApp, prometheus_token, serving_revision, write_private


def wait_running(app: ContainerApp, revision: str, timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        props = app.revision_state(revision).get("properties") or {}
        state, health = props.get("runningState", ""), props.get("healthState", "")
        print(f"revision {revision}: runningState={state} healthState={health}", flush=True)
        if state.startswith("Running") and health == "Healthy":
            return
        if state in {"Failed", "Degraded"} or health == "Unhealthy":
            raise CommandError(f"revision {revision} did not start: {state}/{health}")
        if time.monotonic() + interval > deadline:
            raise CommandError(f"revision {revision} not running after {timeout:g}s ({state}/{health})")
        time.sleep(interval)


def label_url(app: ContainerApp, label: str) -> str:
    name, _, domain = app.fqdn().partition(".")
    return f"https://{name}---{label}.{domain}"


def run_gate(args: argparse.Namespace, revision: str, token_file: str | None) -> int:
    cmd = [
        *shlex.split(args.gate_cmd),
        "--prometheus",
        args.prometheus,
        "--revision",
        revision,
        "--max-error-ratio",
        str(args.max_error_ratio),
        "--max-p99-ms",
        str(args.max_p99_ms),
        "--window",
        args.window,
    ]
    if token_file:
        cmd += ["--token-file", token_file]
    print("+ " + shlex.join(cmd), flush=True)
    return subprocess.run(cmd).returncode


def watch(args: argparse.Namespace, revision: str, token_file: str | None) -> int:
    """Gate verdict after the watch window; inconclusive rounds are retried, then count as roll back."""
    for round_no in range(1, args.gate_rounds + 1):
        if args.watch_seconds:
            print(f"watching {revision} for {args.watch_seconds:g}s before gate round {round_no}", flush=True)
            time.sleep(args.watch_seconds)
        verdict = run_gate(args, revision, token_file)
        print(f"gate round {round_no}: exit {verdict}", flush=True)
        if verdict in (PROMOTE, ROLL_BACK):
            return verdict
        if verdict == USAGE:
            print(
                "the gate refused its command line (usage error): rolling back; fix --gate-cmd or its arguments",
                flush=True,
            )
            return ROLL_BACK
    print("gate stayed inconclusive: rolling back (never promote without evidence)", flush=True)
    return ROLL_BACK


def prometheus_token_file(args: argparse.Namespace) -> str | None:
    if args.no_prometheus_token:
        return None
    fd, path = tempfile.mkstemp(prefix="prom-token-")
    os.close(fd)
    write_private(path, prometheus_token(args.az))
    return path


def watch_window_warning(args: argparse.Namespace) -> None:
    window = args.window
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    seconds = sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", window))
    if args.watch_seconds < seconds:
        print(
            f"note: --window {window} is longer than --watch-seconds {args.watch_seconds:g}: the gate also sees"
            " requests from before green took the writer lease (their 503s count as errors)",
            flush=True,
        )


def roll_back(args: argparse.Namespace, app: ContainerApp, blue: str, green: str) -> int:
    """Traffic back to blue, then green's lease back to blue (inverse order of the release)."""
    print(f"ROLLING BACK to {blue}", file=sys.stderr, flush=True)
    if not app.is_active(blue):
        # Traffic must never point at an inactive revision: bring blue back first.
        app.activate(blue)
    try:
        wait_running(app, blue, args.ready_timeout, args.poll_interval)
    except CommandError as exc:
        raise CommandError(f"{blue} did not come back ({exc}); {green} keeps serving and writing") from None
    app.traffic("blue=100", "green=0")
    # Green's SIGTERM releases the lease; blue (a non-writer until now) takes it.
    app.deactivate(green)
    blue_url = args.blue_label_url or label_url(app, "blue")
    if not smoke.wait_for_writer(blue_url, timeout=args.writer_timeout, interval=args.poll_interval):
        print(f"{blue} serves but is not the writer yet: see docs/RUNBOOK.md 'Stuck writer lease'", file=sys.stderr)
    return 1


def release(args: argparse.Namespace) -> int:
    app = ContainerApp(args.resource_group, args.app, args.az)
    blue = serving_revision(app.revisions())["name"]
    green = f"{args.app}--{args.sha}"
    if blue == green:
        # First production deploy (provision created it) or a re-run: nothing to switch, still verify.
        print(f"{green} already serves 100%: smoke-testing it, no switch", flush=True)
        url = args.label_url or "https://" + app.fqdn()
        if not smoke.smoke(url, timeout=args.smoke_timeout, interval=args.poll_interval):
            return 1
        app.deactivate_superseded(green)
        return 0
    print(f"blue={blue} green={green}", flush=True)
    watch_window_warning(args)
    # Pin traffic to the blue label so the new revision starts at 0%.
    app.label("blue", blue)
    app.traffic("blue=100", revision_weights=("latest=0",))

    app.update_image(args.image, args.sha)
    url = args.label_url or ""
    try:
        wait_running(app, green, args.ready_timeout, args.poll_interval)
        app.label("green", green)
        app.traffic("blue=100", "green=0")
        url = url or label_url(app, "green")
        # Green is not the writer yet: smoke checks only reads, which it serves.
        smoke_ok = smoke.smoke(url, timeout=args.smoke_timeout, interval=args.poll_interval)
    except CommandError as exc:
        print(f"green failed before taking traffic: {exc}", file=sys.stderr)
        smoke_ok = False
    if not smoke_ok:
        print("smoke test failed: green never received traffic; deactivating it", file=sys.stderr)
        app.deactivate(green)
        return 1

    token_file = None
    try:
        token_file = prometheus_token_file(args)
        app.traffic("blue=0", "green=100")
        # Blue (and anything else still active) would keep the lease: green could not write.
        app.deactivate_superseded(green)
        if not smoke.wait_for_writer(url, timeout=args.writer_timeout, interval=args.poll_interval):
            raise CommandError(f"{green} did not take the writer lease within {args.writer_timeout:g}s")
        verdict = watch(args, green, token_file)
    except CommandError as exc:
        # Whatever broke after the switch, users must not stay on an unjudged revision.
        print(f"error while green took traffic: {exc}", file=sys.stderr)
        verdict = ROLL_BACK
    finally:
        if token_file:
            os.unlink(token_file)

    if verdict == PROMOTE:
        print(f"PROMOTED {green}; {blue} stays listed, inactive, for a manual rollback", flush=True)
        # The winner carries the blue label for the next release.
        app.swap_labels("green", "blue")
        app.remove_label("green")
        return 0
    return roll_back(args, app, blue, green)


def add_release_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every release script takes (bluegreen here, single for Single revision mode)."""
    parser.add_argument("--resource-group", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--sha", required=True, help="commit sha: the revision suffix")
    parser.add_argument("--prometheus", required=True, help="Prometheus query endpoint (Azure Monitor workspace)")
    parser.add_argument("--window", default="5m")
    parser.add_argument("--max-error-ratio", type=float, default=0.01)
    parser.add_argument("--max-p99-ms", type=float, default=500)
    parser.add_argument("--watch-seconds", type=float, default=300, help="traffic soak before each gate round")
    parser.add_argument("--gate-rounds", type=int, default=3, help="gate attempts while inconclusive")
    parser.add_argument("--gate-cmd", default=f"{shlex.quote(sys.executable)} -m drafty_bird.ops.gate")
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.add_argument("--smoke-timeout", type=float, default=180)
    parser.add_argument("--poll-interval", type=float, default=5)
    parser.add_argument("--no-prometheus-token", action="store_true", help="plain Prometheus without Entra ID")
    parser.add_argument("--az", default="az")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_release_arguments(parser)
    parser.add_argument(
        "--writer-timeout", type=float, default=90, help="seconds for a revision to take the writer lease"
    )
    parser.add_argument("--label-url", help="override the green label URL (tests)")
    parser.add_argument("--blue-label-url", help="override the blue label URL (tests)")
    return parser


def run_release(
    parser: argparse.ArgumentParser, release: Callable[[argparse.Namespace], int], argv: list[str] | None
) -> int:
    """main() of every release script: the commit sha's first 12 characters name the revision
    (`<app>--<sha>`, as provision names it), and an Azure error that stops the release exits 2."""
    args = parser.parse_args(argv)
    args.sha = args.sha[:12].lower()
    try:
        return release(args)
    except CommandError as exc:
        print(f"release aborted: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    return run_release(build_parser(), release, argv)


if __name__ == "__main__":
    sys.exit(main())
