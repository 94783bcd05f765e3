"""Render the Prometheus rule file into the JSON that infra/modules/alerts.bicep loads.

One source of truth: infra/observability/prometheus/alerts.yml (Prometheus rule-file format).
Bicep cannot read YAML with the parser our tests use, so this script writes
infra/alerts/prometheus-rules.json in the prometheusRuleGroups rule shape, and
tests/infra fails when the committed JSON no longer matches the YAML.

Usage: python infra/scripts/render_alert_rules.py [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "infra/observability/prometheus/alerts.yml"
TARGET = ROOT / "infra/alerts/prometheus-rules.json"

# Azure Monitor severities: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose.
SEVERITY = {"critical": 0, "error": 1, "warning": 2, "info": 3}
# prometheusRuleGroups accepts evaluation intervals of 1 to 15 minutes only.
MIN_INTERVAL_S = 60
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def prom_duration_seconds(text: str) -> int:
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"unsupported Prometheus duration {text!r} (use h/m/s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def iso8601(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return out if out != "PT" else "PT0S"


def convert_rule(rule: dict) -> dict:
    out: dict = {}
    if "record" in rule:
        out["record"] = rule["record"]
    else:
        out["alert"] = rule["alert"]
    out["expression"] = rule["expr"].strip()
    if "alert" in rule:
        if "for" in rule:
            out["for"] = iso8601(prom_duration_seconds(rule["for"]))
        severity = (rule.get("labels") or {}).get("severity", "warning")
        if severity not in SEVERITY:
            raise ValueError(f"alert {rule['alert']}: unknown severity {severity!r}")
        out["severity"] = SEVERITY[severity]
        out["resolveConfiguration"] = {"autoResolved": True, "timeToResolve": "PT10M"}
    if rule.get("labels"):
        out["labels"] = dict(rule["labels"])
    if rule.get("annotations"):
        out["annotations"] = dict(rule["annotations"])
    out["enabled"] = True
    return out


def render(source: Path = SOURCE) -> dict:
    doc = yaml.safe_load(source.read_text())
    groups = []
    for group in doc["groups"]:
        interval = max(prom_duration_seconds(group.get("interval", "1m")), MIN_INTERVAL_S)
        groups.append(
            {
                "name": group["name"],
                "interval": iso8601(interval),
                "rules": [convert_rule(rule) for rule in group["rules"]],
            }
        )
    return {
        "_generated_from": "infra/observability/prometheus/alerts.yml by infra/scripts/render_alert_rules.py",
        "groups": groups,
    }


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    args = parser.parse_args(argv)
    text = dumps(render())
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(
                f"{TARGET.relative_to(ROOT)} is stale: run python infra/scripts/render_alert_rules.py", file=sys.stderr
            )
            return 1
        print("alert rules in sync")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
