"""The local observability stack (docker-compose.yml + infra/observability/), checked offline.

There is no Docker engine here, so the containers are never started. What IS checked:
the compose file against the Compose Specification schema (check-jsonschema's bundled
copy), every bind mount's source exists, Prometheus' config with the real promtool
(which also loads the rules), the mounts line up with the paths the configs expect,
the OTel collector pipelines only name components that are defined, and the Grafana
provisioning matches the dashboard. NOT checked (needs Docker): that the pinned images
start, that Grafana renders the panels (their queries are run against a real
Prometheus in test_prometheus_alerts.py), and that spans reach Jaeger.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from tests.ops.prom_stack import ALERTS_YML

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
OBS = ROOT / "infra" / "observability"
DASHBOARD = OBS / "grafana" / "dashboards" / "drafty-bird.json"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bind_mounts(service: dict) -> dict[str, Path]:
    """container path -> host path, for the relative (bind) mounts of a service."""
    mounts = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (ROOT / source).resolve()
    return mounts


def test_compose_file_matches_the_compose_spec() -> None:
    tool = Path(sys.executable).with_name("check-jsonschema")
    assert tool.exists(), "check-jsonschema missing from the venv: run make install"
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_observability_profile_holds_the_stack_and_images_are_pinned() -> None:
    services = compose()["services"]
    for name in ("jaeger", "prometheus", "grafana"):
        assert services[name].get("profiles") == ["observability"], name
    assert "profiles" not in services["app"], "the app must start without a profile"
    for name, service in services.items():
        if "image" in service and "build" not in service:
            tag = service["image"].rsplit(":", 1)
            assert len(tag) == 2 and tag[1] not in {"latest", ""}, f"{name}: pin the image tag"


def test_every_bind_mount_source_exists() -> None:
    for name, service in compose()["services"].items():
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_compose_prometheus_config_is_valid_and_loads_the_one_rules_file() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install Debian's `prometheus` package (make system-deps)"
    service = compose()["services"]["prometheus"]
    mounts = bind_mounts(service)
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    container_config = config_flag.split("=", 1)[1]
    host_config = mounts[container_config]
    result = subprocess.run(
        [promtool, "check", "config", str(host_config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "rules found" in result.stdout, result.stdout

    config = yaml.safe_load(host_config.read_text())
    container_dir = Path(container_config).parent
    for rule_file in config["rule_files"]:
        inside = str(container_dir / rule_file)
        assert inside in mounts, f"{rule_file} is not mounted at {inside}"
        assert mounts[inside] == ALERTS_YML.resolve()

    # The scrape target is the app service on its port, with the label contract of the rules.
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "drafty-bird")
    static = job["static_configs"][0]
    assert static["targets"] == ["app:8080"]
    # Another container scrapes the app's public port: the compose app must keep /metrics public.
    assert compose()["services"]["app"]["environment"]["METRICS_PUBLIC"] == "true"
    assert "revision" in static["labels"]
    assert any(p.split(":")[-1] == "8080" for p in compose()["services"]["app"]["ports"])


def test_otel_collector_pipelines_use_defined_components_and_reach_jaeger() -> None:
    services = compose()["services"]
    collector = services["otel-collector"]
    config_path = bind_mounts(collector)[collector["command"][0].split("=", 1)[1]]
    config = yaml.safe_load(config_path.read_text())
    for pipeline_name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{pipeline_name}: {kind[:-1]} {component} is not defined"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"], extension
    assert "otlp" in config["service"]["pipelines"]["traces"]["receivers"]

    # The app sends OTLP/HTTP to the collector's http receiver port.
    endpoint = urlparse(services["app"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector"
    http_port = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    assert str(endpoint.port) == http_port
    assert services["app"]["environment"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"

    # ...and the collector exports to Jaeger's OTLP gRPC port, which Jaeger has switched on.
    jaeger_exporters = [e for e in config["service"]["pipelines"]["traces"]["exporters"] if e.startswith("otlp")]
    assert jaeger_exporters, "traces pipeline has no OTLP exporter to Jaeger"
    assert config["exporters"][jaeger_exporters[0]]["endpoint"] == "jaeger:4317"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_grafana_provisioning_matches_the_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = bind_mounts(grafana)
    datasources = yaml.safe_load((mounts["/etc/grafana/provisioning/datasources"] / "datasources.yml").read_text())
    uids = {ds["uid"]: ds for ds in datasources["datasources"]}
    assert urlparse(uids["prometheus"]["url"]).hostname == "prometheus"

    providers = yaml.safe_load((mounts["/etc/grafana/provisioning/dashboards"] / "dashboards.yml").read_text())
    dashboard_dir = providers["providers"][0]["options"]["path"]
    assert mounts[dashboard_dir] == DASHBOARD.parent.resolve(), "dashboards mounted where the provider does not look"

    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for section in ("golden signals", "game funnel", "chaos", "storage", "latency", "traffic", "saturation"):
        assert section in titles, f"dashboard lacks {section!r}"
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, f"{panel['title']}: unknown datasource"
            assert target["expr"].strip(), panel["title"]


def test_compose_app_environment_uses_real_settings() -> None:
    """A misspelt variable would be ignored silently (Settings ignores unknown names)."""
    from drafty_bird.settings import Settings

    fields = {name.upper() for name in Settings.model_fields}
    for name in compose()["services"]["app"]["environment"]:
        assert name in fields, f"docker-compose.yml sets {name}, which no setting reads"
