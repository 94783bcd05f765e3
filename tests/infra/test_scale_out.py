"""Policy tests for the scale-out delivery (issue 14): the two storage profiles, PostgreSQL
Flexible Server, sticky multi-replica revisions, Azure Front Door and the origin lock.

Read with pycep per profile (`facts`: the parameter values that pick a branch). Values are
compared with the app itself where it has them: Settings validates the rendered DATABASE_URL,
the Front Door asset rule is matched against the asset URLs a real server's page loads.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import httpx
import pytest

from drafty_bird.ops.front_door import PROBE_PATHS
from drafty_bird.settings import Settings
from tests.infra.bicep import INFRA, Either, Module, possible_items
from tests.server import start_server

APP = INFRA / "modules" / "app.bicep"
FD_RANGES = ["147.243.0.0/16", "13.107.208.0/24"]
NONE_BLOCKED: dict[str, list[str]] = {"blockedClientRanges": []}
SQLITE = {"database": "sqlite", "frontDoorId": "", "frontDoorBackendRanges": [], **NONE_BLOCKED}
POSTGRES = {"database": "postgres", "frontDoorId": "", "frontDoorBackendRanges": [], **NONE_BLOCKED}
POSTGRES_FD = {"database": "postgres", "frontDoorId": "fdid", "frontDoorBackendRanges": FD_RANGES, **NONE_BLOCKED}
# Documentation addresses (RFC 5737): what an operator puts in blockedClientRanges.
BLOCKED = ["203.0.113.7/32", "198.51.100.0/24"]
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]


def accessor(expr: object) -> str:
    """`network.outputs.acaSubnetId` from pycep's nested property_accessor operators."""
    if isinstance(expr, str):
        return expr
    assert isinstance(expr, dict) and expr["operator"]["type"] == "property_accessor", expr
    ops = expr["operator"]["operands"]
    return f"{accessor(ops['operand_1'])}.{accessor(ops['operand_2'])}"


def app_for(facts: dict) -> tuple[Module, dict, dict]:
    module = Module(APP, facts=facts)
    _, res = module.resource("Microsoft.App/containerApps")
    resolved = module.resolve(res)
    web = next(c for c in resolved["properties"]["template"]["containers"] if c["name"] == "web")
    return module, resolved, web


def env_of(web: dict) -> dict[str, dict]:
    return {e["name"]: e for e in possible_items(web["env"])}


def params(name: str) -> dict:
    return {
        k: v["value"]
        for k, v in json.loads((INFRA / f"params/{name}.parameters.json").read_text())["parameters"].items()
    }


def main_module_config(name: str) -> dict:
    config = Module(INFRA / "main.bicep").doc["modules"][name]["config"]
    return config


# --- 1. two profiles ---------------------------------------------------------------------------


def test_database_parameter_chooses_the_profile_and_defaults_to_sqlite() -> None:
    main = Module(INFRA / "main.bicep")
    param = main.parameters["database"]
    assert param["default"] == "sqlite"
    allowed = next(d["argument"] for d in param["decorators"] if d["type"] == "allowed")
    assert allowed == ["sqlite", "postgres"]
    for name in ("network", "postgres"):
        assert main_module_config(name)["condition"] == "isPostgres", f"{name} only in the postgres profile"
    assert main.variables["isPostgres"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "database", "operand_2": "postgres"}}
    }


def test_sqlite_profile_is_unchanged_multiple_mode_one_replica_smb() -> None:
    _, app, web = app_for(SQLITE)
    config = app["properties"]["configuration"]
    assert config["activeRevisionsMode"] == "Multiple"
    assert config["ingress"]["stickySessions"] is None, "ACA refuses stickiness outside Single mode"
    assert app["properties"]["template"]["scale"] == {"minReplicas": 1, "maxReplicas": 1}
    assert [v["storageType"] for v in app["properties"]["template"]["volumes"]] == ["AzureFile"]
    env = env_of(web)
    assert env["SCORE_DB_PATH"]["value"] == "/data/db.sqlite" and "DATABASE_URL" not in env


def test_postgres_profile_single_mode_sticky_two_to_max_replicas() -> None:
    _, app, _ = app_for(POSTGRES)
    config = app["properties"]["configuration"]
    assert config["activeRevisionsMode"] == "Single"
    assert config["ingress"]["stickySessions"] == {"affinity": "sticky"}
    assert possible_items(config["ingress"]["traffic"]) == [{"latestRevision": True, "weight": 100}], (
        "Single mode: no labels or weights, the latest ready revision takes it all"
    )
    scale = app["properties"]["template"]["scale"]
    assert scale["minReplicas"] == 2 and scale["maxReplicas"] == "maxReplicas"


def test_postgres_scale_rule_scales_on_cpu_not_on_a_rule_blind_to_websockets() -> None:
    # DECISIONS 13: ACA's tcp rule counts only with TCP ingress (ours is HTTP: stickiness, Host
    # routing), its http rule counts requests started per second (a page's socket once, at its
    # handshake). Neither counts open pages, so the rule is CPU, which busy pages exhaust.
    _, app, _ = app_for(POSTGRES)
    (rule,) = app["properties"]["template"]["scale"]["rules"]
    assert set(rule) == {"name", "custom"}, "no tcp or http rule: they do not see open WebSockets"
    assert rule["custom"]["type"] == "cpu"
    assert rule["custom"]["metadata"]["type"] == "Utilization"
    assert rule["custom"]["metadata"]["value"] == "scaleOutCpuPercent" or rule["custom"]["metadata"]["value"] == {
        "function": {"type": "string", "parameters": {"arg_1": "scaleOutCpuPercent"}}
    }
    main = Module(INFRA / "main.bicep")
    assert main.parameters["scaleOutCpuPercent"]["default"] == 60
    assert main_module_config("app")["config"]["params"]["scaleOutCpuPercent"] == "scaleOutCpuPercent"
    # Utilization is relative to the requested CPU: DECISIONS 11 wants a whole vCPU per replica.
    _, _, web = app_for(POSTGRES)
    assert web["resources"] == {"cpu": 1.0, "memory": "2Gi"}, "DECISIONS 11: its own vCPU per replica"


def test_postgres_profile_has_no_smb_volume_and_a_passwordless_entra_url() -> None:
    _, app, web = app_for(POSTGRES)
    assert app["properties"]["template"]["volumes"] == [] and web["volumeMounts"] == []
    env = env_of(web)
    assert "SCORE_DB_PATH" not in env
    url = env["DATABASE_URL"]["value"]
    assert url == "postgresql+psycopg://${identityName}@${postgresFqdn}/${postgresDatabaseName}?sslmode=require"
    assert ":" not in url.split("://", 1)[1].split("@", 1)[0], "no password in the URL"
    assert env["DATABASE_AUTH"]["value"] == "entra"
    assert env["AZURE_CLIENT_ID"]["value"] == "identityClientId", "azure-identity must pick the user-assigned identity"
    # The app's own settings accept what the template renders.
    rendered = url.replace("${identityName}", "id-drafty-staging").replace(
        "${postgresFqdn}", "psql-x.postgres.database.azure.com"
    )
    settings = Settings(database_url=rendered.replace("${postgresDatabaseName}", "drafty"), database_auth="entra")
    assert settings.database_auth == "entra"
    assert settings.database_url is not None and settings.database_url.startswith("postgresql+psycopg://id-")


def test_main_wires_the_app_identity_and_server_into_the_app() -> None:
    app_params = main_module_config("app")["config"]["params"]
    assert accessor(app_params["identityName"]) == "identity.outputs.name"
    fqdn = app_params["postgresFqdn"]["operator"]["operands"]
    assert fqdn["condition"] == "isPostgres" and accessor(fqdn["true_value"]) == "postgres.outputs.fqdn"
    env_params = main_module_config("environment")["params"]
    subnet = env_params["infrastructureSubnetId"]["operator"]["operands"]
    assert subnet["condition"] == "isPostgres" and accessor(subnet["true_value"]) == "network.outputs.acaSubnetId"


# --- PostgreSQL Flexible Server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> tuple[Module, dict]:
    module = Module(INFRA / "modules/postgres.bicep")
    _, res = module.resource("Microsoft.DBforPostgreSQL/flexibleServers")
    return module, res


def test_flexible_server_is_ga_entra_only_and_private(server: tuple[Module, dict]) -> None:
    module, res = server
    assert not res["api_version"].endswith("-preview") and res["api_version"] >= "2024-08-01"
    props = module.resolve(res["properties"])
    assert props["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert props["authConfig"]["passwordAuth"] == "Disabled"
    assert "administratorLogin" not in props and "administratorLoginPassword" not in props
    network = props["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"] == "delegatedSubnetId"
    assert network["privateDnsZoneArmResourceId"] == "privateDnsZoneId"


def test_the_app_identity_is_the_database_principal(server: tuple[Module, dict]) -> None:
    module, _ = server
    _, admin = module.resource("Microsoft.DBforPostgreSQL/flexibleServers/administrators")
    assert admin["name"] == "appPrincipalId"
    assert admin["properties"]["principalType"] == "ServicePrincipal"
    assert admin["properties"]["principalName"] == "appPrincipalName"
    pg_params = main_module_config("postgres")["config"]["params"]
    assert accessor(pg_params["appPrincipalId"]) == "identity.outputs.principalId"
    assert accessor(pg_params["appPrincipalName"]) == "identity.outputs.name"


def test_backup_and_ha_come_from_the_parameter_files(server: tuple[Module, dict]) -> None:
    module, res = server
    props = module.resolve(res["properties"])
    assert props["backup"]["backupRetentionDays"] == "backupRetentionDays"
    assert props["highAvailability"]["mode"] == "highAvailability"
    staging, production = params("staging"), params("production")
    for p in (staging, production):
        assert p["database"] in {"sqlite", "postgres"}
        assert 7 <= p["postgresBackupRetentionDays"] <= 35
        # Burstable servers cannot be highly available.
        if p["postgresHighAvailability"] != "Disabled":
            assert p["postgresSkuTier"] != "Burstable"
    assert production["postgresHighAvailability"] == "ZoneRedundant"
    assert production["postgresBackupRetentionDays"] > staging["postgresBackupRetentionDays"]
    assert production["maxReplicas"] >= 2


def test_network_delegates_subnets_and_links_the_private_dns_zone() -> None:
    module = Module(INFRA / "modules/network.bicep")
    _, vnet = module.resource("Microsoft.Network/virtualNetworks")
    subnets = {s["name"]: s["properties"] for s in module.resolve(vnet["properties"]["subnets"])}
    delegated = {n: [d["properties"]["serviceName"] for d in s["delegations"]] for n, s in subnets.items()}
    assert delegated == {
        "aca": ["Microsoft.App/environments"],
        "postgres": ["Microsoft.DBforPostgreSQL/flexibleServers"],
    }
    _, link = module.resource("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert accessor(link["properties"]["virtualNetwork"]["id"]) == "vnet.id"
    zone = main_module_config("network")["config"]["params"]["postgresDnsZoneName"]
    assert zone.endswith(".postgres.database.azure.com")
    # The VNet sits inside TRUSTED_PROXIES' private ranges (Envoy connects from it).
    assert module.variables["addressSpace"].startswith("10.")


# --- 4. the origin answers only Front Door -----------------------------------------------------


def test_front_door_locks_ingress_to_its_backend_ranges_and_sets_the_id() -> None:
    _, app, web = app_for(POSTGRES_FD)
    rules = app["properties"]["configuration"]["ingress"]["ipSecurityRestrictions"]
    assert [r["ipAddressRange"] for r in rules] == FD_RANGES
    assert {r["action"] for r in rules} == {"Allow"}, "all Allow: ACA denies every other peer"
    assert len({r["name"] for r in rules}) == len(rules)
    env = env_of(web)
    assert env["FRONT_DOOR_ID"]["value"] == POSTGRES_FD["frontDoorId"]
    trusted = env["TRUSTED_PROXIES"]["value"].split(",")
    assert trusted == PRIVATE_RANGES + FD_RANGES, "Front Door's hop must be trusted or every player shares its IP"
    app_params = main_module_config("app")["config"]["params"]
    fdid = app_params["frontDoorId"]["operator"]["operands"]
    assert fdid["condition"] == "frontDoorEnabled" and accessor(fdid["true_value"]) == "frontDoor.outputs.frontDoorId"


def test_without_front_door_the_origin_stays_open_and_unchecked() -> None:
    _, app, web = app_for(POSTGRES)
    assert app["properties"]["configuration"]["ingress"]["ipSecurityRestrictions"] == []
    env = env_of(web)
    assert "FRONT_DOOR_ID" not in env and env["TRUSTED_PROXIES"]["value"].split(",") == PRIVATE_RANGES


def test_front_door_ranges_parameter_is_ipv4_cidrs_only() -> None:
    # ACA takes IPv4 CIDRs, no service tags: the parameter is the tag's IPv4 list.
    main = Module(INFRA / "main.bicep")
    assert main.parameters["frontDoorBackendRanges"]["type"] == "array"
    for cidr in FD_RANGES:
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", cidr)


def test_probes_are_exempt_from_the_front_door_check() -> None:
    _, _, web = app_for(POSTGRES_FD)
    probe_paths = {p["httpGet"]["path"] for p in web["probes"]}
    assert probe_paths <= PROBE_PATHS, "ACA probes the container directly, without X-Azure-FDID"


# --- 3. Azure Front Door Standard --------------------------------------------------------------


@pytest.fixture(scope="module")
def fd() -> Module:
    return Module(INFRA / "modules/frontdoor.bicep")


def test_front_door_standard_profile_endpoint_and_origin(fd: Module) -> None:
    _, profile = fd.resource("Microsoft.Cdn/profiles")
    assert profile["sku"]["name"] == "Standard_AzureFrontDoor" and profile["location"] == "global"
    _, origin = fd.resource("Microsoft.Cdn/profiles/originGroups/origins")
    assert origin["properties"]["hostName"] == origin["properties"]["originHostHeader"] == "originHostName"
    assert origin["properties"]["enforceCertificateNameCheck"] is True
    _, group = fd.resource("Microsoft.Cdn/profiles/originGroups")
    probe = group["properties"]["healthProbeSettings"]
    assert probe["probePath"] == "/healthz" and probe["probePath"] in PROBE_PATHS
    assert probe["probeProtocol"] == "Https"
    host = main_module_config("frontDoor")["config"]["params"]["originHostName"]
    assert host == "${appName}.${environment.outputs.defaultDomain}"
    assert Module(INFRA / "main.bicep").variables["appName"] == "ca-${environmentName}"


def _routes(fd: Module) -> dict[str, dict]:
    return {
        res["config"]["name"]: res["config"]["properties"]
        for res in fd.doc["resources"].values()
        if res["type"] == "Microsoft.Cdn/profiles/afdEndpoints/routes"
    }


def test_routes_cache_only_assets_and_never_the_socket_or_pages(fd: Module) -> None:
    routes = _routes(fd)
    assert {n: r["patternsToMatch"] for n, r in routes.items()} == {"assets": ["/_nicegui/*"], "app": ["/*"]}
    # No cacheConfiguration = caching off: WebSocket upgrades pass only on uncached routes.
    for route in routes.values():
        assert "cacheConfiguration" not in route
        assert route["forwardingProtocol"] == "HttpsOnly"
    assert "ruleSets" not in routes["app"]
    _, rule = fd.resource("Microsoft.Cdn/profiles/ruleSets/rules")
    cache = rule["properties"]["actions"][0]["parameters"]["cacheConfiguration"]
    assert cache["cacheBehavior"] == "OverrideAlways"
    days = int(cache["cacheDuration"].split(".")[0])
    assert days >= 30, "immutable assets: a long TTL"


@pytest.fixture(scope="module")
def page_asset_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    with start_server(tmp_path_factory.mktemp("assets")) as running:
        html = httpx.get(running.url + "/", timeout=15).text
    paths = sorted(set(re.findall(r"""["'](/_nicegui/[^"'?#]+)""", html)))
    assert len(paths) >= 3, paths
    return paths


def test_the_long_cache_rule_matches_every_asset_a_page_loads_and_nothing_dynamic(
    fd: Module, page_asset_paths: list[str]
) -> None:
    _, rule = fd.resource("Microsoft.Cdn/profiles/ruleSets/rules")
    condition = rule["properties"]["conditions"][0]["parameters"]
    assert condition["operator"] == "RegEx"
    pattern = re.compile(fd.resolve(condition["matchValues"][0]))
    immutable = [p for p in page_asset_paths if "/dynamic_resources/" not in p]
    assert immutable and all(pattern.search(p) for p in immutable), [p for p in immutable if not pattern.search(p)]
    for dynamic in (
        "/_nicegui/3.18.0/dynamic_resources/x",
        "/_nicegui/client/abc/upload/1",
        "/_nicegui/auto/media/t/x.mp4",
        "/_nicegui_ws/socket.io/",
        "/",
        "/leaderboard",
    ):
        assert not pattern.search(dynamic), dynamic


def _waf_rules(fd: Module, blocked: list[str] | None = None) -> dict[str, dict]:
    """The policy's custom rules as deployed with blockedClientRanges = blocked (default none)."""
    module = Module(fd.path, facts={"blockedClientRanges": blocked or []})
    _, waf = module.resource("Microsoft.Network/FrontDoorWebApplicationFirewallPolicies")
    assert waf["sku"]["name"] == "Standard_AzureFrontDoor"
    assert waf["properties"]["policySettings"] == {"enabledState": "Enabled", "mode": "Prevention"}
    rules = possible_items(module.resolve(waf["properties"]["customRules"]["rules"]))
    assert len({r["name"] for r in rules}) == len(rules) and len({r["priority"] for r in rules}) == len(rules)
    return {r["name"]: r for r in rules}


@pytest.mark.parametrize(
    ("rule", "path", "threshold"),
    [("scorepostrate", "/score", "scoreRatePerMinute"), ("gamestartpostrate", "/game-start", "gameStartRatePerMinute")],
)
def test_waf_rate_limits_the_two_write_endpoints(fd: Module, rule: str, path: str, threshold: str) -> None:
    found = _waf_rules(fd)[rule]
    assert found["ruleType"] == "RateLimitRule" and found["action"] == "Block" and found["enabledState"] == "Enabled"
    assert found["rateLimitThreshold"] == threshold and found["rateLimitDurationInMinutes"] == 1
    conditions = {c["matchVariable"]: c for c in found["matchConditions"]}
    assert conditions["RequestMethod"]["matchValue"] == ["POST"]
    uri = conditions["RequestUri"]
    assert uri["operator"] == "RegEx" and "Lowercase" in uri["transforms"]
    # pycep keeps Bicep's escapes; '\\' in Bicep is one backslash in the deployed regex.
    pattern = re.compile(uri["matchValue"][0].replace("\\\\", "\\"))
    for hit in (path, path + "?x=1", path + "/", "https://drafty.example" + path):
        assert pattern.search(hit), hit
    for miss in (path + "board", "/leaderboard", "/x" + path, "/"):
        assert not pattern.search(miss), miss
    assert found["priority"] in {10, 20}


def test_waf_policy_guards_every_path_of_the_endpoint(fd: Module) -> None:
    _, security = fd.resource("Microsoft.Cdn/profiles/securityPolicies")
    parameters = security["properties"]["parameters"]
    assert parameters["type"] == "WebApplicationFirewall"
    assert accessor(parameters["wafPolicy"]["id"]) == "waf.id"
    (association,) = parameters["associations"]
    assert [accessor(d["id"]) for d in association["domains"]] == ["endpoint.id"]
    assert association["patternsToMatch"] == ["/*"]


# --- blocking one client: one durable knob in both profiles (RUNBOOK "One client is flooding us") --


def ingress_rules(facts: dict) -> list[dict]:
    _, app, _ = app_for(facts)
    rules = app["properties"]["configuration"]["ingress"]["ipSecurityRestrictions"]
    return possible_items(rules)  # a concat() resolves to every element it can hold


def test_nothing_is_blocked_by_default(fd: Module) -> None:
    assert Module(INFRA / "main.bicep").parameters["blockedClientRanges"]["default"] == []
    for stage in ("staging", "production"):
        assert params(stage)["blockedClientRanges"] == [], stage
    assert set(_waf_rules(fd)) == {"scorepostrate", "gamestartpostrate"}, "no block rule without addresses"
    assert ingress_rules(SQLITE) == [] and ingress_rules(POSTGRES) == []
    assert {r["action"] for r in ingress_rules(POSTGRES_FD)} == {"Allow"}


def test_behind_front_door_the_waf_blocks_the_address_front_door_sees(fd: Module) -> None:
    rules = _waf_rules(fd, BLOCKED)
    block = rules["blockedclients"]
    assert block["ruleType"] == "MatchRule" and block["action"] == "Block" and block["enabledState"] == "Enabled"
    assert block["priority"] < min(r["priority"] for n, r in rules.items() if n != "blockedclients")
    (condition,) = block["matchConditions"]
    # SocketAddr is the TCP peer; RemoteAddr comes from X-Forwarded-For, which the client writes.
    assert condition["matchVariable"] == "SocketAddr" and condition["operator"] == "IPMatch"
    assert condition.get("negateCondition", False) is False and condition["matchValue"] == BLOCKED
    # The origin keeps admitting Front Door only: a Deny rule there could never match a client
    # (the peer is Front Door) and ACA refuses Allow and Deny rules together.
    rules_fd = ingress_rules({**POSTGRES_FD, "blockedClientRanges": BLOCKED})
    assert [(r["action"], r["ipAddressRange"]) for r in rules_fd] == [("Allow", c) for c in FD_RANGES]


@pytest.mark.parametrize("facts", [SQLITE, POSTGRES], ids=["sqlite", "postgres"])
def test_without_front_door_blocked_clients_are_ingress_deny_rules(facts: dict) -> None:
    rules = ingress_rules({**facts, "blockedClientRanges": BLOCKED})
    assert [(r["action"], r["ipAddressRange"]) for r in rules] == [("Deny", c) for c in BLOCKED]
    assert len({r["name"] for r in rules}) == len(rules)


@pytest.mark.parametrize("blocked", [[], BLOCKED], ids=["none-blocked", "blocked"])
@pytest.mark.parametrize("facts", [SQLITE, POSTGRES, POSTGRES_FD], ids=["sqlite", "postgres", "postgres-fd"])
def test_ingress_rules_are_never_a_mix_of_allow_and_deny(facts: dict, blocked: list[str]) -> None:
    # "All rules must be the same type" (learn.microsoft.com/azure/container-apps/ip-restrictions).
    assert len({r["action"] for r in ingress_rules({**facts, "blockedClientRanges": blocked})}) <= 1


def test_one_parameter_feeds_the_waf_and_the_ingress() -> None:
    main = Module(INFRA / "main.bicep")
    assert main.parameters["blockedClientRanges"]["type"] == "array"
    for module in ("frontDoor", "app"):
        assert main_module_config(module)["config"]["params"]["blockedClientRanges"] == "blockedClientRanges", module
    # IPv4 CIDRs only: ACA's ipAddressRange takes nothing else (the WAF would take IPv6 too).
    for stage in ("staging", "production"):
        for cidr in params(stage)["blockedClientRanges"]:
            assert "/" in cidr, cidr
            ipaddress.IPv4Network(cidr, strict=True)  # raises on IPv6, host bits or a name


def test_front_door_is_optional_and_off_by_default() -> None:
    main = Module(INFRA / "main.bicep")
    assert main.parameters["frontDoorEnabled"]["default"] is False
    assert main_module_config("frontDoor")["condition"] == "frontDoorEnabled"
    # the resolved Either keeps the no-Front-Door branch for the unconditioned reader
    assert isinstance(Module(APP).resolve(Module(APP).variables["frontDoorEnv"]), Either)


def test_app_module_parses_for_every_profile() -> None:
    for facts in (SQLITE, POSTGRES, POSTGRES_FD):
        _, app, web = app_for(facts)
        assert web["name"] == "web" and app["properties"]["template"]["containers"][0]["name"] == "web"
    assert Path(APP).is_file()


# --- one run-token key for every replica and revision (issue 11) --------------------------------


@pytest.mark.parametrize("facts", [SQLITE, POSTGRES, POSTGRES_FD], ids=["sqlite", "postgres", "postgres-fd"])
def test_run_token_secret_comes_from_key_vault_in_every_profile(facts: dict) -> None:
    # Without it each replica signs with its own random key: a run issued by one revision and
    # posted to another (every blue-green switch, every Single-mode replica pair) is refused.
    module, app, web = app_for(facts)
    entry = env_of(web).get("RUN_TOKEN_SECRET")
    assert entry is not None, "RUN_TOKEN_SECRET must reach the web container"
    assert entry.get("secretRef") == "run-token-secret" and "value" not in entry, entry
    secrets = {s["name"]: s for s in possible_items(module.resolve(app["properties"]["configuration"]["secrets"]))}
    ref = secrets["run-token-secret"]
    assert ref["keyVaultUrl"] == "runTokenSecretUri" and ref["identity"] == "identityId" and "value" not in ref


def test_run_token_secret_uri_names_the_secret_the_pipeline_creates() -> None:
    from infra.scripts.pipeline import RUN_TOKEN_SECRET_NAME

    uri = json.dumps(main_module_config("app")["config"]["params"]["runTokenSecretUri"])
    assert "keyVault.outputs.vaultUri" in uri and uri.endswith(f'secrets/{RUN_TOKEN_SECRET_NAME}"'), uri
    vault = Module(INFRA / "modules/keyvault.bicep")
    # Bicep never holds the value: a deploy must not rotate the key under runs in flight.
    assert not any(
        r["type"] == "Microsoft.KeyVault/vaults/secrets" and RUN_TOKEN_SECRET_NAME in json.dumps(r)
        for r in vault.doc["resources"].values()
    )


def test_the_deploying_principal_may_create_the_run_token_secret() -> None:
    vault = Module(INFRA / "modules/keyvault.bicep")
    bodies = [
        res["config"].get("config", res["config"])
        for res in vault.doc["resources"].values()
        if res["type"] == "Microsoft.Authorization/roleAssignments"
    ]
    roles = {json.dumps(b["properties"]["principalId"]): b["properties"]["roleDefinitionId"] for b in bodies}
    officer = roles['"writerPrincipalId"']["function"]["parameters"]["resource_name_1"]
    assert vault.variables[officer] == "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer"
    params = main_module_config("keyVault")["params"]
    assert params["writerPrincipalId"] == "principalId" and params["writerPrincipalType"] == "principalType"


# --- the previous run-token key during a rotation (issue 11, RUNBOOK) ---------------------------

PREVIOUS_URI = "https://kv-x.vault.azure.net/secrets/run-token-secret-previous"
NO_WINDOW = {"runTokenSecretPreviousUri": "", "runTokenPreviousUntil": ""}
WINDOW = {"runTokenSecretPreviousUri": PREVIOUS_URI, "runTokenPreviousUntil": "2026-12-01T12:00:00Z"}


def secrets_of(module: Module, app: dict) -> dict[str, dict]:
    return {s["name"]: s for s in possible_items(module.resolve(app["properties"]["configuration"]["secrets"]))}


@pytest.mark.parametrize("facts", [SQLITE, POSTGRES, POSTGRES_FD], ids=["sqlite", "postgres", "postgres-fd"])
def test_previous_run_token_key_is_an_optional_key_vault_reference(facts: dict) -> None:
    # Outside a rotation window there is no previous key at all (not even an empty one).
    module, app, web = app_for({**facts, **NO_WINDOW})
    assert not {"RUN_TOKEN_SECRET_PREVIOUS", "RUN_TOKEN_PREVIOUS_UNTIL"} & set(env_of(web))
    assert "run-token-secret-previous" not in secrets_of(module, app)
    # In one, the old key comes from Key Vault with the app's identity, never as a value.
    module, app, web = app_for({**facts, **WINDOW})
    env = env_of(web)
    assert env["RUN_TOKEN_SECRET_PREVIOUS"] == {
        "name": "RUN_TOKEN_SECRET_PREVIOUS",
        "secretRef": "run-token-secret-previous",
    }
    assert env["RUN_TOKEN_PREVIOUS_UNTIL"]["value"] == WINDOW["runTokenPreviousUntil"]
    ref = secrets_of(module, app)["run-token-secret-previous"]
    assert ref == {"name": "run-token-secret-previous", "keyVaultUrl": PREVIOUS_URI, "identity": "identityId"}
    # What the app makes of that environment: both keys verify until the window's end.
    settings = Settings(
        run_token_secret="n" * 43,
        run_token_secret_previous="p" * 43,
        run_token_previous_until=env["RUN_TOKEN_PREVIOUS_UNTIL"]["value"],
    )
    assert settings.run_token_previous_until is not None and settings.run_token_previous_until.tzinfo is not None


def test_the_window_parameter_names_the_previous_secret_and_defaults_to_none() -> None:
    main = Module(INFRA / "main.bicep")
    assert main.parameters["runTokenPreviousUntil"]["default"] == ""
    app_params = main_module_config("app")["config"]["params"]
    assert app_params["runTokenPreviousUntil"] == "runTokenPreviousUntil"
    uri = app_params["runTokenSecretPreviousUri"]["operator"]["operands"]
    # No window, no reference: Key Vault would refuse a revision whose secret does not exist.
    condition = uri["condition"]["function"]
    assert condition["type"] == "empty" and list(condition["parameters"].values()) == ["runTokenPreviousUntil"]
    assert uri["true_value"] == ""
    assert json.dumps(uri["false_value"]).endswith('secrets/run-token-secret-previous"')
    # Every way to deploy can open a window: the stage files and azd's environment.
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["runTokenPreviousUntil"]["value"] == "${RUN_TOKEN_PREVIOUS_UNTIL=}"
    for stage in ("staging", "production"):
        until = params(stage)["runTokenPreviousUntil"]
        # Empty, or a time the app parses (an unparsable one would stop every replica at start-up).
        if until:
            settings = Settings(
                run_token_secret="n" * 43, run_token_secret_previous="p" * 43, run_token_previous_until=until
            )
            assert settings.run_token_previous_until is not None
