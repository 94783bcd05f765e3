"""Staging chaos drill: chaos on through /ops/chaos, bounded load, prove the error alert's
expression crosses its threshold in Prometheus, chaos off (always, even on failure).

    python -m infra.scripts.chaos_drill --url https://<staging app> --chaos-token-file F \
        --prometheus https://<amw query endpoint> [--prometheus-token-file F] [--revision R]

The expression is DraftyBirdHighErrorRate's, read from infra/observability/prometheus/alerts.yml
with recording rules expanded inline (no wait for rule evaluation). Exit 0 = the alert
expression fired and chaos is off again; 1 = it did not (or chaos could not be turned off).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import httpx
import yaml

from drafty_bird.ops.gate import Prometheus, PrometheusError

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra/observability/prometheus/alerts.yml"
ALERT = "DraftyBirdHighErrorRate"


def alert_expression(rules_path: Path = RULES, alert: str = ALERT) -> str:
    doc = yaml.safe_load(rules_path.read_text())
    records = {r["record"]: r["expr"].strip() for g in doc["groups"] for r in g["rules"] if "record" in r}
    exprs = [r["expr"].strip() for g in doc["groups"] for r in g["rules"] if r.get("alert") == alert]
    if len(exprs) != 1:
        raise SystemExit(f"{alert} not found exactly once in {rules_path}")
    expr = exprs[0]
    # Longest names first so one record name never eats part of another.
    for name in sorted(records, key=len, reverse=True):
        expr = re.sub(rf"(?<![\w:]){re.escape(name)}(?![\w:])", f"({records[name]})", expr)
    return expr


def set_chaos(client: httpx.Client, **fields: bool | float) -> dict:
    response = client.put("/ops/chaos", json=fields)
    response.raise_for_status()
    return response.json()


def drill(args: argparse.Namespace) -> int:
    chaos_token = Path(args.chaos_token_file).read_text().strip()
    prom_token = None
    if args.prometheus_token_file:
        prom_token = Path(args.prometheus_token_file).read_text().strip()
    expr = alert_expression(Path(args.rules))
    app = httpx.Client(base_url=args.url.rstrip("/"), timeout=10, headers={"Authorization": f"Bearer {chaos_token}"})
    # The release gate's client: same auth, and retries on transport errors, 429 and 5xx.
    prom = Prometheus(args.prometheus, prom_token, timeout=15)
    load = httpx.Client(base_url=args.url.rstrip("/"), timeout=10)
    crossed = False
    sent = errors = 0
    try:
        print("chaos on:", set_chaos(app, enabled=True, error_rate=args.error_rate), flush=True)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and sent < args.max_requests:
            for _ in range(args.batch):
                status = load.get("/leaderboard").status_code
                sent += 1
                errors += status >= 500
            try:
                result = prom.vector(expr)
                if args.revision:  # the rules aggregate by (job, revision)
                    result = [r for r in result if r["metric"].get("revision") == args.revision]
            except PrometheusError as exc:
                print(f"query failed (retrying next round): {exc}", file=sys.stderr)
                result = []
            print(f"sent={sent} 5xx={errors} alert-expression series={len(result)}", flush=True)
            if result:
                crossed = True
                for series in result:
                    print(f"  {series['metric']} = {series['value'][1]}")
                break
            time.sleep(args.interval)
    finally:
        off_ok = False
        for _ in range(5):  # turning chaos off must not be lost to one network blip
            try:
                off = set_chaos(app, enabled=False, error_rate=0.0)
                off_ok = off.get("enabled") is False
                print("chaos off:", off, flush=True)
                break
            except httpx.HTTPError as exc:
                print(f"chaos off failed (retrying): {exc}", file=sys.stderr)
                time.sleep(2)
        app.close()
        prom.close()
        load.close()
    if not off_ok:
        print("FAILED to turn chaos off: do it by hand (docs/RUNBOOK.md, Chaos drills)", file=sys.stderr)
        return 1
    if not crossed:
        print(f"{ALERT} expression never crossed its threshold ({sent} requests, {errors} 5xx)", file=sys.stderr)
        return 1
    print(f"{ALERT} expression crossed its threshold ({sent} requests, {errors} 5xx)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--chaos-token-file", required=True)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--prometheus-token-file")
    parser.add_argument("--revision")
    parser.add_argument("--rules", default=str(RULES))
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=50, help="requests between two queries")
    parser.add_argument("--max-requests", type=int, default=5000, help="hard bound on the load")
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    return parser


def main(argv: list[str] | None = None) -> int:
    return drill(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
