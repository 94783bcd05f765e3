"""infra/otel/collector.yaml against the collector image pinned in infra/main.bicep.

`otelcol-contrib validate` would do this, but no registry we reach ships the binary. Instead:
infra/otel/otelcol-contrib-manifest.yaml is a vetted, verbatim copy of the pinned release's build
manifest (source in its header); every component the config uses must be in it, the image tag
must be its version, and the azureauth extension may only use keys that version knows.
An unknown component or key makes the real sidecar exit at start-up, so no revision is healthy.
"""

from __future__ import annotations

import re

import yaml

from tests.infra.bicep import INFRA, Module, possible_items

CONFIG = INFRA / "otel" / "collector.yaml"
MANIFEST = INFRA / "otel" / "otelcol-contrib-manifest.yaml"
IMAGE_REPO = "otel/opentelemetry-collector-contrib"
KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "extensions": "extension"}
# extension/azureauthextension/config.go (Config, ManagedIdentity, WorkloadIdentity, ServicePrincipal)
# and its config.schema.yaml in opentelemetry-collector-contrib; `scopes` came with PR #41084 (2025-07).
AZUREAUTH_KEYS: dict[str, set[str] | None] = {
    "use_default": None,
    "scopes": None,
    "managed_identity": {"client_id"},
    "workload_identity": {"client_id", "tenant_id", "federated_token_file"},
    "service_principal": {"tenant_id", "client_id", "client_secret", "client_certificate_path"},
}
MONITOR_SCOPE = "https://monitor.azure.com/.default"
# Set by Azure Container Apps in every container (NOTES.md), not by our template.
ACA_ENV = {"CONTAINER_APP_REVISION", "CONTAINER_APP_REPLICA_NAME", "CONTAINER_APP_NAME"}


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def shipped_modules(kind: str) -> set[str]:
    """Last path segment of each `gomod:` line of one kind, e.g. healthcheckextension."""
    return {entry["gomod"].split()[0].rsplit("/", 1)[-1] for entry in manifest().get(kind) or []}


def missing_components(cfg: dict) -> list[str]:
    missing = []
    for section, kind in KINDS.items():
        shipped = shipped_modules(section)
        for name in cfg.get(section) or {}:
            component_type = name.split("/", 1)[0]  # `otlp/2` is a second otlp
            module = component_type.replace("_", "") + kind
            if module not in shipped:
                missing.append(f"{section}.{name}: no {module} in otelcol-contrib {manifest()['dist']['version']}")
    return missing


def unknown_azureauth_keys(cfg: dict) -> list[str]:
    unknown = []
    for key, value in (cfg.get("extensions", {}).get("azureauth") or {}).items():
        if key not in AZUREAUTH_KEYS:
            unknown.append(key)
            continue
        allowed = AZUREAUTH_KEYS[key]
        if allowed is not None:
            unknown.extend(f"{key}.{sub}" for sub in (value or {}) if sub not in allowed)
    return unknown


def sidecar_env() -> set[str]:
    app = Module(INFRA / "modules" / "app.bicep")
    _, res = app.resource("Microsoft.App/containerApps")
    (sidecar,) = [c for c in res["properties"]["template"]["containers"] if c["name"] == "otel-collector"]
    return {e["name"] for e in possible_items(app.resolve(sidecar["env"]))}


def collector_image() -> str:
    return Module(INFRA / "main.bicep").parameters["collectorImage"]["default"]


def test_the_image_is_the_vetted_manifest_version() -> None:
    version = manifest()["dist"]["version"]
    assert manifest()["dist"]["name"] == "otelcol-contrib"
    assert collector_image() == f"{IMAGE_REPO}:{version}", "pin the image and the vetted manifest together"


def test_the_pinned_version_ships_azureauth() -> None:
    version = tuple(int(p) for p in manifest()["dist"]["version"].split("."))
    assert version >= (0, 125, 0), "azureauth entered otelcol-contrib in 0.125.0"
    assert "azureauthextension" in shipped_modules("extensions")


def test_every_component_is_in_the_pinned_distribution() -> None:
    cfg = config()
    assert missing_components(cfg) == []
    assert cfg["exporters"]["prometheusremotewrite"]["auth"]["authenticator"] == "azureauth"


def test_azureauth_uses_known_keys_and_the_monitor_scope() -> None:
    cfg = config()
    assert unknown_azureauth_keys(cfg) == []
    auth = cfg["extensions"]["azureauth"]
    assert auth.get("scopes") == [MONITOR_SCOPE], "remote write needs a token for Azure Monitor ingestion"
    assert auth["managed_identity"]["client_id"] == "${env:AZURE_CLIENT_ID}", "the user-assigned identity"


def test_pipelines_reference_defined_components() -> None:
    cfg = config()
    service = cfg["service"]
    assert set(service["extensions"]) <= set(cfg["extensions"])
    for name, pipeline in service["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in cfg[section], f"pipeline {name}: {section} {component} is not defined"
    for exporter in cfg["exporters"].values():
        authenticator = ((exporter or {}).get("auth") or {}).get("authenticator")
        if authenticator:
            assert authenticator in service["extensions"], f"{authenticator} must be enabled in service.extensions"


def test_every_env_var_the_config_reads_is_set() -> None:
    wanted = set(re.findall(r"\$\{env:(\w+)\}", CONFIG.read_text()))
    assert wanted - sidecar_env() - ACA_ENV == set()


def test_the_checks_catch_the_old_pin_and_an_unknown_component() -> None:
    # issue 15 defect 3: 0.116.0 lacked azureauth; the seed config had no scopes.
    assert collector_image() != f"{IMAGE_REPO}:0.116.0"
    assert missing_components({"extensions": {"azureauthx": {}}}) == [
        f"extensions.azureauthx: no azureauthxextension in otelcol-contrib {manifest()['dist']['version']}"
    ]
    assert unknown_azureauth_keys({"extensions": {"azureauth": {"scope": [MONITOR_SCOPE]}}}) == ["scope"]
