"""One source of truth for alerts: the Bicep prometheusRuleGroups come from the rule file
the observability stack and promtool use (infra/observability/prometheus/alerts.yml)."""

from __future__ import annotations

import importlib.util
import json

import yaml

from tests.infra.bicep import INFRA, Module
from tests.ops.prom_stack import ALERTS_YML

RULES_JSON = INFRA / "alerts/prometheus-rules.json"


def _renderer():
    spec = importlib.util.spec_from_file_location("render_alert_rules", INFRA / "scripts/render_alert_rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_json_matches_the_rule_file() -> None:
    assert ALERTS_YML.exists(), f"{ALERTS_YML} is missing: the observability rule file is the source of truth"
    expected = _renderer().dumps(_renderer().render(ALERTS_YML))
    assert RULES_JSON.read_text() == expected, "stale: run python infra/scripts/render_alert_rules.py"


def test_alert_and_record_sets_are_identical() -> None:
    source = yaml.safe_load(ALERTS_YML.read_text())
    rendered = json.loads(RULES_JSON.read_text())

    def names(groups, key_alert, key_record, key_expr):
        return {
            (g["name"], r.get(key_alert) or r.get(key_record), " ".join(r[key_expr].split()), r.get("for"))
            for g in groups
            for r in g["rules"]
        }

    src = {(g, n, e) for g, n, e, _ in names(source["groups"], "alert", "record", "expr")}
    out = {(g, n, e) for g, n, e, _ in names(rendered["groups"], "alert", "record", "expression")}
    assert src == out
    alerts = {r["alert"] for g in rendered["groups"] for r in g["rules"] if "alert" in r}
    assert {"DraftyBirdDown", "DraftyBirdHighErrorRate", "DraftyBirdHighLatencyP99", "DraftyBirdChaosActive"} <= alerts


def test_renderer_converts_durations_and_severities() -> None:
    r = _renderer()
    assert r.iso8601(r.prom_duration_seconds("2m")) == "PT2M"
    assert r.iso8601(r.prom_duration_seconds("1h30m")) == "PT1H30M"
    rule = r.convert_rule({"alert": "X", "expr": "up == 0", "for": "15m", "labels": {"severity": "critical"}})
    assert rule["for"] == "PT15M" and rule["severity"] == 0 and rule["expression"] == "up == 0"
    for group in json.loads(RULES_JSON.read_text())["groups"]:
        # prometheusRuleGroups accept 1 to 15 minute intervals only.
        assert r.prom_duration_seconds(group["interval"][2:].lower()) >= 60


def test_bicep_rule_groups_load_the_rendered_file() -> None:
    alerts = Module(INFRA / "modules/alerts.bicep")
    rule_file = alerts.doc["variables"]["ruleFile"]["value"]
    assert rule_file["function"]["type"] == "load_json_content"
    loaded = (alerts.path.parent / rule_file["function"]["parameters"]["file_path"]).resolve()
    assert loaded == RULES_JSON.resolve()
    groups = [
        r for r in alerts.doc["resources"].values() if r["type"] == "Microsoft.AlertsManagement/prometheusRuleGroups"
    ]
    assert len(groups) == 1 and groups[0]["api_version"] >= "2023-03-01"
    text = json.dumps(groups[0])
    assert "ruleFile" in text and "groups" in text, "rule groups must iterate over the loaded rule file"
