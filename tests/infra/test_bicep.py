"""Static verification of infra/*.bicep (no Azure here: nothing is deployed).

pycep-parser must parse every file, and policy tests check what checkov has no checks
for on Container Apps. Values are read from the parsed templates, compared with the app's
own defaults, the Dockerfile and the real server's route list.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

import httpx
import pytest
import yaml

from drafty_bird.settings import Settings
from tests.infra import dockerfile
from tests.infra.bicep import INFRA, ROOT, Either, Module, bicep_files, parse, possible_items
from tests.server import start_server

APP = INFRA / "modules" / "app.bicep"
# The sqlite profile without Front Door: today's deployment. The postgres profile and Front Door
# have their own policy tests (test_scale_out.py).
SQLITE = {"database": "sqlite", "frontDoorId": "", "frontDoorBackendRanges": [], "blockedClientRanges": []}
SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CONNECTION_STRING|CREDENTIAL", re.I)
# Names that match it but hold no secret: the end of the run-token rotation window, a UTC time.
NOT_SECRET = {"RUN_TOKEN_PREVIOUS_UNTIL"}


@pytest.fixture(scope="module")
def app_module() -> Module:
    return Module(APP, facts=SQLITE)


@pytest.fixture(scope="module")
def container_app(app_module: Module) -> dict:
    _, res = app_module.resource("Microsoft.App/containerApps")
    return res


@pytest.fixture(scope="module")
def web(app_module: Module, container_app: dict) -> dict:
    containers = container_app["properties"]["template"]["containers"]
    found = [c for c in containers if c["name"] == "web"]
    assert len(found) == 1, "exactly one container named web"
    return found[0]


@pytest.fixture(scope="module")
def probes(app_module: Module, web: dict) -> dict[str, dict]:
    return {p["type"]: p for p in app_module.resolve(web["probes"])}


@pytest.fixture(scope="module")
def web_env(app_module: Module, web: dict) -> dict[str, dict]:
    entries = possible_items(app_module.resolve(web["env"]))
    return {e["name"]: e for e in entries}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bicep_file_parses(path: Path) -> None:
    doc = parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path} parsed to nothing"


def test_bicep_files_exist_for_the_layout() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert {"main.bicep", "modules/app.bicep", "modules/alerts.bicep", "modules/environment.bicep"} <= names


def test_main_is_subscription_scoped_and_azd_parameters_match() -> None:
    main = Module(INFRA / "main.bicep")
    assert main.doc["globals"]["scope"]["value"] == "subscription"
    declared = set(main.parameters)
    # pycep gives a parameter without a default `"default": None`.
    required = {name for name, p in main.parameters.items() if p.get("default") is None}
    assert {"environmentName", "location", "stage"} <= required
    for file in [INFRA / "main.parameters.json", *sorted((INFRA / "params").glob("*.json"))]:
        given = set(json.loads(file.read_text())["parameters"])
        assert given <= declared, f"{file.name} sets unknown parameters {given - declared}"
    azd = set(json.loads((INFRA / "main.parameters.json").read_text())["parameters"])
    assert required <= azd, f"azd parameters miss required {required - azd}"
    assert "actionGroupId" in declared


def test_staging_and_production_parameter_sets() -> None:
    staging = json.loads((INFRA / "params/staging.parameters.json").read_text())["parameters"]
    production = json.loads((INFRA / "params/production.parameters.json").read_text())["parameters"]
    assert staging["stage"]["value"] == "staging" and production["stage"]["value"] == "production"
    assert production["chaosEnabled"]["value"] is False
    assert production["chaosAdminToken"]["value"] == "", "production must not get a chaos admin token"
    # The staging token is a pipeline secret, never a committed value.
    assert "chaosAdminToken" not in staging
    # Internals stay off the public ingress in production (and by default).
    assert production["publicMetrics"]["value"] is False and production["apiDocs"]["value"] is False
    main = Module(INFRA / "main.bicep")
    assert main.parameters["publicMetrics"]["default"] is False and main.parameters["apiDocs"]["default"] is False
    assert production["logDailyQuotaGb"]["value"] >= 1 and staging["logDailyQuotaGb"]["value"] >= 1


def test_exposure_settings_reach_the_web_container(web_env: dict) -> None:
    fields = Settings.model_fields
    for name in ("METRICS_PORT", "METRICS_PUBLIC", "DOCS_ENABLED"):
        assert name.lower() in fields, f"{name} is no setting"
    assert int(web_env["METRICS_PORT"]["value"]) > 0
    for name in ("METRICS_PUBLIC", "DOCS_ENABLED"):
        assert web_env[name]["value"] == Either(("true", "false")), "from the publicMetrics/apiDocs parameters"


def test_log_analytics_has_a_daily_ingestion_cap() -> None:
    """A log flood (issue 17: 45 MB/s of client-written ERROR lines) costs at most the cap a day.

    Microsoft.OperationalInsights/workspaces is not covered by test_resource_schema.py (no
    models package for 2023-09-01), so the property path is checked here by name.
    """
    monitoring = Module(INFRA / "modules/monitoring.bicep")
    _, workspace = monitoring.resource("Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["workspaceCapping"] == {"dailyQuotaGb": "logDailyQuotaGb"}
    param = monitoring.parameters["logDailyQuotaGb"]
    assert param["type"] == "int" and {"type": "min_value", "argument": 1} in param["decorators"]


def test_azure_yaml_points_azd_at_the_container_app() -> None:
    azd = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azd["infra"]["path"] == "infra" and azd["infra"]["module"] == "main"
    assert azd["services"]["web"]["host"] == "containerapp"
    assert "'azd-service-name'" in json.dumps(parse(APP)["resources"]["app"]["config"]["tags"])


def test_microsoft_app_api_versions_are_ga_and_recent() -> None:
    seen = 0
    for path in bicep_files():
        for name, res in (parse(path).get("resources") or {}).items():
            if res["type"].startswith("Microsoft.App/"):
                seen += 1
                version = res["api_version"]
                # 2024-03-01 is the first GA version with volume mountOptions.
                assert not version.endswith("-preview") and version >= "2024-03-01", f"{path.name}:{name} {version}"
    assert seen >= 3, "containerApps, managedEnvironments and its storage"


def test_multiple_revision_mode_and_single_replica(app_module: Module, container_app: dict) -> None:
    props = container_app["properties"]
    assert app_module.resolve(props["configuration"]["activeRevisionsMode"]) == "Multiple"
    scale = app_module.resolve(props["template"]["scale"])
    assert scale["maxReplicas"] == 1 and scale["minReplicas"] == 1, "SQLite on SMB: exactly one replica"
    assert props["template"]["revisionSuffix"] == "revisionSuffix" and "revisionSuffix" in app_module.parameters


def test_ingress_is_external_https_only_on_the_app_port(app_module: Module, container_app: dict) -> None:
    ingress = app_module.resolve(container_app["properties"]["configuration"]["ingress"])
    assert ingress["external"] is True
    assert ingress["allowInsecure"] is False
    app_port = Settings.model_fields["port"].default
    assert ingress["targetPort"] == app_port
    assert dockerfile.final_stage().all("EXPOSE") == [str(app_port)]


def test_traffic_never_uses_weights_without_multiple_mode(app_module: Module, container_app: dict) -> None:
    traffic = possible_items(app_module.resolve(container_app["properties"]["configuration"]["ingress"]["traffic"]))
    assert sum(t["weight"] for t in traffic if "latestRevision" in t) == 100
    assert any(t.get("label") == "blue" for t in traffic), "re-provision pins traffic to the blue label"


def test_first_provision_swaps_only_the_image(app_module: Module, container_app: dict, web: dict) -> None:
    # azd up on a fresh environment has no image yet: a public placeholder. `azd deploy` later
    # replaces only the image, so everything else (port, probes, env) must already be the app's.
    image = app_module.resolve(web["image"])
    assert isinstance(image, Either) and image.options == (
        "mcr.microsoft.com/azuredocs/containerapps-helloworld:latest",
        "imageName",
    )
    assert app_module.variables["usePlaceholder"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "imageName"}}
    }
    ingress = app_module.resolve(container_app["properties"]["configuration"]["ingress"])
    assert ingress["targetPort"] == Settings.model_fields["port"].default
    assert isinstance(app_module.resolve(web["probes"]), list), "probes must not depend on the image"
    assert container_app["properties"]["template"]["containers"][0]["name"] == "web", (
        "azd deploy and fetch-container-image.bicep read containers[0]"
    )


def test_probes_liveness_readiness_startup(probes: dict) -> None:
    assert set(probes) == {"Liveness", "Readiness", "Startup"}
    assert probes["Liveness"]["httpGet"]["path"] == "/healthz"
    assert probes["Readiness"]["httpGet"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["httpGet"]["port"] == Settings.model_fields["port"].default


def test_probe_paths_are_routes_of_the_real_app(probes: dict, tmp_path: Path) -> None:
    paths = {p["httpGet"]["path"] for p in probes.values()}
    with start_server(tmp_path) as server:
        spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
        for path in paths:
            assert path in spec["paths"], f"probe path {path} is not an app route: {sorted(spec['paths'])}"
            assert httpx.get(server.url + path, timeout=10).status_code == 200, path


def test_resources_half_cpu_one_gib(app_module: Module, web: dict) -> None:
    resources = app_module.resolve(web["resources"])
    assert resources == {"cpu": 0.5, "memory": "1Gi"}


def test_data_volume_is_score_db_dir_with_nobrl_and_the_image_uid(
    app_module: Module, container_app: dict, web: dict, web_env: dict
) -> None:
    mounts = app_module.resolve(web["volumeMounts"])
    volumes = {v["name"]: v for v in app_module.resolve(container_app["properties"]["template"]["volumes"])}
    db_dir = posixpath.dirname(web_env["SCORE_DB_PATH"]["value"])
    assert web_env["SCORE_DB_PATH"]["value"] == "/data/db.sqlite"
    data_mounts = [m for m in mounts if m["mountPath"] == db_dir]
    assert len(data_mounts) == 1, f"no volume mounted at {db_dir}: {mounts}"
    volume = volumes[data_mounts[0]["volumeName"]]
    assert volume["storageType"] == "AzureFile"
    options = volume["mountOptions"].split(",")
    uid, gid = dockerfile.final_stage().user()
    assert "nobrl" in options
    assert f"uid={uid}" in options and f"gid={gid}" in options, options


def test_required_environment(web_env: dict) -> None:
    assert web_env["STORAGE_FALLBACK"]["value"] == "fail"
    assert web_env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].startswith("http://localhost:")
    for name in ("OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        assert name in web_env
    assert "secretRef" in web_env["CHAOS_ADMIN_TOKEN"]
    # Behind ACA's ingress the peer is Envoy; without trusting it every player shares one rate-limit bucket.
    trusted = web_env["TRUSTED_PROXIES"]["value"].split(",")
    assert "10.0.0.0/8" in trusted and "100.64.0.0/10" in trusted


def test_production_keeps_one_api_request_in_ten(web_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's default keeps every request; the template's sampler, as the SDK reads it."""
    from opentelemetry.sdk.trace import TracerProvider

    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.setenv(name, web_env[name]["value"])
    description = TracerProvider().sampler.get_description()
    assert description.startswith("ParentBased{root:TraceIdRatioBased{0.1},"), description


def test_no_secret_is_a_plain_env_value(app_module: Module, container_app: dict) -> None:
    secure_params = {n for n, p in app_module.parameters.items() if "secure" in json.dumps(p.get("decorators", []))}
    for container in container_app["properties"]["template"]["containers"]:
        for entry in possible_items(app_module.resolve(container["env"])):
            raw = json.dumps(entry, default=repr)
            if SECRETISH.search(entry["name"]) and entry["name"] not in NOT_SECRET:
                assert "secretRef" in entry and "value" not in entry, (
                    f"{container['name']}: {entry['name']} must be a secretRef"
                )
            assert "listKeys" not in raw and "list_keys" not in raw, entry
            assert not any(p in raw for p in secure_params), entry


def test_secrets_are_key_vault_references_or_derived(app_module: Module, container_app: dict) -> None:
    secrets = possible_items(app_module.resolve(container_app["properties"]["configuration"]["secrets"]))
    by_name = {s["name"]: s for s in secrets}
    chaos = by_name["chaos-admin-token"]
    assert "keyVaultUrl" in chaos and "value" not in chaos and chaos["identity"] == "identityId"


def test_registry_pull_uses_the_user_assigned_identity(app_module: Module, container_app: dict) -> None:
    assert container_app["identity"]["type"] == "UserAssigned"
    registries = container_app["properties"]["configuration"]["registries"]
    assert registries and all(r.get("identity") == "identityId" and "passwordSecretRef" not in r for r in registries)


def test_platform_resources_are_locked_down() -> None:
    _, acr = Module(INFRA / "modules/registry.bicep").resource("Microsoft.ContainerRegistry/registries")
    assert acr["properties"]["adminUserEnabled"] is False
    storage_mod = Module(INFRA / "modules/storage.bicep")
    _, account = storage_mod.resource("Microsoft.Storage/storageAccounts")
    props = account["properties"]
    assert props["supportsHttpsTrafficOnly"] is True and props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    _, share = storage_mod.resource("Microsoft.Storage/storageAccounts/fileServices/shares")
    assert share["properties"]["shareQuota"] == "shareQuotaGiB"
    _, secret = Module(INFRA / "modules/keyvault.bicep").resource("Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["contentType"] and secret["properties"]["attributes"]["exp"]


def test_no_output_exposes_a_key() -> None:
    for path in bicep_files():
        for name, output in (parse(path).get("outputs") or {}).items():
            raw = json.dumps(output)
            assert "list_keys" not in raw and "listKeys" not in raw and "sharedKey" not in raw, (
                f"{path.name}: output {name}"
            )
            assert not SECRETISH.search(name) or name.endswith("_NAME"), f"{path.name}: output {name} looks secret"


def test_identity_roles_acr_pull_and_metrics_publisher() -> None:
    text = (INFRA / "modules/registry.bicep").read_text() + (INFRA / "modules/monitoring.bicep").read_text()
    assert "7f951dda-4ed3-4680-a7ca-43fe172d538d" in text, "AcrPull"
    assert "3913510d-42f4-4e42-8a64-420c390055eb" in text, "Monitoring Metrics Publisher"
    monitoring = Module(INFRA / "modules/monitoring.bicep")
    for kind in (
        "Microsoft.Monitor/accounts",
        "Microsoft.Insights/dataCollectionEndpoints",
        "Microsoft.Insights/dataCollectionRules",
        "Microsoft.Insights/components",
        "Microsoft.OperationalInsights/workspaces",
    ):
        monitoring.resource(kind)


def test_collector_sidecar_scrapes_the_app_and_ships_to_azure(
    app_module: Module, container_app: dict, web_env: dict
) -> None:
    sidecars = [c for c in container_app["properties"]["template"]["containers"] if c["name"] != "web"]
    assert len(sidecars) == 1
    env = {e["name"]: e for e in possible_items(app_module.resolve(sidecars[0]["env"]))}
    config = yaml.safe_load(env["OTELCOL_CONFIG"]["value"])
    assert config == yaml.safe_load((INFRA / "otel/collector.yaml").read_text())
    scrape = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    # The loopback-only listener the web container opens (METRICS_PORT), never the public port.
    assert scrape["static_configs"][0]["targets"] == [f"localhost:{web_env['METRICS_PORT']['value']}"]
    assert web_env["METRICS_PORT"]["value"] != web_env["PORT"]["value"]
    assert scrape["job_name"] == "drafty-bird", "alert rules select job=drafty-bird"
    assert "revision" in scrape["static_configs"][0]["labels"], "the release gate filters by revision"
    exporters = config["exporters"]
    assert exporters["prometheusremotewrite"]["auth"]["authenticator"] == "azureauth"
    assert "managed_identity" in config["extensions"]["azureauth"]
    pipelines = config["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
    assert pipelines["traces"]["exporters"] == ["azuremonitor"]
    assert "secretRef" in env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    # Sidecar + app must be a valid ACA consumption size (0.75 vCPU / 1.5Gi).
    cpu = sum(app_module.resolve(c["resources"])["cpu"] for c in container_app["properties"]["template"]["containers"])
    assert cpu == 0.75


def test_metric_alerts_on_5xx_requests_and_restarts() -> None:
    alerts = Module(INFRA / "modules/alerts.bicep")
    found = {}
    for name, res in alerts.doc["resources"].items():
        if res["type"] == "Microsoft.Insights/metricAlerts":
            criteria = res["config"]["properties"]["criteria"]["allOf"]
            found[name] = criteria[0]
    metrics = {c["metricName"]: c for c in found.values()}
    assert set(metrics) == {"Requests", "RestartCount"}
    assert metrics["Requests"]["dimensions"][0]["name"] == "statusCodeCategory"
    assert metrics["Requests"]["dimensions"][0]["values"] == ["5xx"]
    assert "actionGroupId" in alerts.parameters


def test_the_querying_identity_can_read_the_monitor_workspace() -> None:
    # issue 15 defect 4: the chaos drill and release gate query Prometheus with the pipeline's
    # identity; without Monitoring Data Reader on the workspace they get 403.
    monitoring = Module(INFRA / "modules/monitoring.bicep")
    bodies = [
        res["config"].get("config", res["config"])  # `= if (...)` wraps the body
        for res in monitoring.doc["resources"].values()
        if res["type"] == "Microsoft.Authorization/roleAssignments"
    ]
    readers = [body for body in bodies if body.get("scope") == "monitorWorkspace"]
    assert len(readers) == 1, "one role assignment scoped to the Azure Monitor workspace"
    role_var = readers[0]["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    assert monitoring.variables[role_var] == "b0d8363b-8ddd-447d-831f-62ca05bff136", "Monitoring Data Reader"
    main = Module(INFRA / "main.bicep")
    params = main.doc["modules"]["monitoring"]["config"]["params"]
    assert params["dataReaderPrincipalId"] == "principalId"
    # azd passes the signed-in user; the pipeline passes its service principal (pipeline.py).
    assert json.loads((INFRA / "main.parameters.json").read_text())["parameters"]["principalId"] == {
        "value": "${AZURE_PRINCIPAL_ID}"
    }


def test_key_vault_purge_protection_only_in_production() -> None:
    # issue 15 defect 7: purge protection holds the vault name after `azd down`; staging must come back.
    vault_mod = Module(INFRA / "modules/keyvault.bicep")
    _, vault = vault_mod.resource("Microsoft.KeyVault/vaults")
    purge = vault_mod.resolve(vault["properties"]["enablePurgeProtection"])
    assert isinstance(purge, Either) and purge.options == (True, None), "on, or omitted (false is refused)"
    params = Module(INFRA / "main.bicep").doc["modules"]["keyVault"]["config"]["params"]
    assert params["purgeProtection"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "stage", "operand_2": "production"}}
    }
