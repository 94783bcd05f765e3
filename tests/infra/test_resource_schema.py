"""Every property path a Bicep resource writes exists in its type's schema for that api-version.

What `az bicep build` reports as BCP037 ("property not allowed"), offline. The schemas are the
Azure SDK for Python's generated models (requirements-schemas.lock, installed by `make schemas`
into .azure-schemas and read with `ast`, never imported): one models folder per REST
api-version, generated from the same OpenAPI specs as Bicep's types.

What it cannot see: values (enums, ranges, formats, required properties: only property paths),
read-only properties written by the template, anything behind expressions it cannot resolve
(module outputs, `existing` resources, for-loops), and the resource types in UNCOVERED, for which
no PyPI package ships that api-version's models. docs/DECISIONS.md lists what to check by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.arm_schema import SCHEMAS, Schema
from tests.infra.bicep import INFRA, ROOT, Module, bicep_files

M = SCHEMAS / "azure" / "mgmt"
PG = M / "postgresqlflexibleservers/models/_models_py3.py"
CDN = M / "cdn/models/_models_py3.py"
# "type@api-version" -> (models file, model class used for a PUT of that resource)
COVERED: dict[str, tuple[Path, str]] = {
    "Microsoft.App/containerApps@2024-03-01": (M / "appcontainers/models/_models_py3.py", "ContainerApp"),
    "Microsoft.App/managedEnvironments@2024-03-01": (M / "appcontainers/models/_models_py3.py", "ManagedEnvironment"),
    "Microsoft.App/managedEnvironments/storages@2024-03-01": (
        M / "appcontainers/models/_models_py3.py",
        "ManagedEnvironmentStorage",
    ),
    "Microsoft.ContainerRegistry/registries@2023-07-01": (
        M / "containerregistry/v2023_07_01/models/_models_py3.py",
        "Registry",
    ),
    "Microsoft.KeyVault/vaults@2023-07-01": (
        M / "keyvault/v2023_07_01/models/_models_py3.py",
        "VaultCreateOrUpdateParameters",
    ),
    "Microsoft.KeyVault/vaults/secrets@2023-07-01": (
        M / "keyvault/v2023_07_01/models/_models_py3.py",
        "SecretCreateOrUpdateParameters",
    ),
    "Microsoft.Storage/storageAccounts@2023-05-01": (
        M / "storage/v2023_05_01/models/_models_py3.py",
        "StorageAccountCreateParameters",
    ),
    "Microsoft.Storage/storageAccounts/fileServices@2023-05-01": (
        M / "storage/v2023_05_01/models/_models_py3.py",
        "FileServiceProperties",
    ),
    "Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01": (
        M / "storage/v2023_05_01/models/_models_py3.py",
        "FileShare",
    ),
    "Microsoft.Authorization/roleAssignments@2022-04-01": (
        M / "authorization/v2022_04_01/models/_models_py3.py",
        "RoleAssignmentCreateParameters",
    ),
    "Microsoft.Insights/dataCollectionEndpoints@2022-06-01": (
        M / "monitor/v2022_06_01/models/_models_py3.py",
        "DataCollectionEndpointResource",
    ),
    "Microsoft.Insights/dataCollectionRules@2022-06-01": (
        M / "monitor/v2022_06_01/models/_models_py3.py",
        "DataCollectionRuleResource",
    ),
    "Microsoft.Insights/metricAlerts@2018-03-01": (
        M / "monitor/v2018_03_01/models/_models_py3.py",
        "MetricAlertResource",
    ),
    "Microsoft.Insights/components@2020-02-02": (
        M / "applicationinsights/v2020_02_02/models/_models_py3.py",
        "ApplicationInsightsComponent",
    ),
    "Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31": (
        M / "msi/v2023_01_31/models/_models_py3.py",
        "Identity",
    ),
    "Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01": (PG, "Server"),
    # The administrators PUT body; the resource model (ActiveDirectoryAdministrator) has read-only objectId.
    "Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01": (PG, "ActiveDirectoryAdministratorAdd"),
    "Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01": (PG, "Database"),
    "Microsoft.Network/virtualNetworks@2024-05-01": (M / "network/models/_models_py3.py", "VirtualNetwork"),
    "Microsoft.Network/privateDnsZones@2024-06-01": (M / "privatedns/models/_models_py3.py", "PrivateZone"),
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01": (
        M / "privatedns/models/_models_py3.py",
        "VirtualNetworkLink",
    ),
    "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01": (
        M / "frontdoor/models/_models_py3.py",
        "WebApplicationFirewallPolicy",
    ),
    "Microsoft.Cdn/profiles@2024-02-01": (CDN, "Profile"),
    "Microsoft.Cdn/profiles/afdEndpoints@2024-02-01": (CDN, "AFDEndpoint"),
    "Microsoft.Cdn/profiles/originGroups@2024-02-01": (CDN, "AFDOriginGroup"),
    "Microsoft.Cdn/profiles/originGroups/origins@2024-02-01": (CDN, "AFDOrigin"),
    "Microsoft.Cdn/profiles/ruleSets@2024-02-01": (CDN, "RuleSet"),
    "Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01": (CDN, "Rule"),
    "Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01": (CDN, "Route"),
    "Microsoft.Cdn/profiles/securityPolicies@2024-02-01": (CDN, "SecurityPolicy"),
}
# No PyPI package ships these api-versions' models (checked: azure-mgmt-resource 23.x/24.x,
# azure-mgmt-loganalytics 12-13.x, azure-mgmt-monitor 6.x, azure-mgmt-alertsmanagement 1.x).
UNCOVERED: dict[str, str] = {
    "Microsoft.Resources/resourceGroups@2024-03-01": "azure-mgmt-resource ships 2022-09-01, then 2024-07-01",
    "Microsoft.OperationalInsights/workspaces@2023-09-01": "azure-mgmt-loganalytics jumps to 2025-07-01",
    "Microsoft.Monitor/accounts@2023-04-03": "no azure-mgmt package for Azure Monitor workspaces",
    "Microsoft.AlertsManagement/prometheusRuleGroups@2023-03-01": "azure-mgmt-alertsmanagement has action groups only",
}
# Bicep's own keys on a resource body, not ARM properties.
BICEP_KEYS = {"name", "parent", "scope", "dependsOn"}


def declared_resources() -> list[tuple[Path, str, str, dict]]:
    """(file, symbolic name, type@api-version, body) of every resource the templates create."""
    found = []
    for path in bicep_files():
        module = Module(path)
        for symbol, res in (module.doc.get("resources") or {}).items():
            if res.get("existing"):
                continue
            config = res["config"]
            while "config" in config and ("condition" in config or "loop_type" in config):
                config = config["config"]
            found.append((path, symbol, f"{res['type']}@{res['api_version']}", config))
    return found


def schema_errors(path: Path, key: str, body: dict) -> list[str]:
    models_py, model = COVERED[key]
    resolved = Module(path).resolve({k: v for k, v in body.items() if k not in BICEP_KEYS})
    return Schema(models_py).check(model, resolved)


def test_the_schema_packages_are_installed() -> None:
    missing = sorted({str(p.relative_to(ROOT)) for p, _ in COVERED.values() if not p.is_file()})
    assert not missing, f"run `make schemas` (requirements-schemas.lock); missing {missing}"


def test_each_models_file_is_for_the_api_version_it_checks() -> None:
    for key, (models_py, _) in COVERED.items():
        api_version = key.split("@")[1]
        folder = models_py.parent.parent
        if folder.name.startswith("v20"):  # multi-api package: one folder per version
            assert folder.name == "v" + api_version.replace("-", "_"), key
        else:  # single-api package: its client's default api-version
            configuration = (folder / "_configuration.py").read_text()
            if "Default value is" not in configuration:  # network, frontdoor: each operation has its default
                operations = "".join(f.read_text() for f in (folder / "operations").glob("_*.py"))
                assert f'"api-version", "{api_version}"' in operations, f"{key}: {folder} is another api-version"
                continue
            assert f'Default value is "{api_version}"' in configuration, f"{key}: {folder} is another api-version"


def test_every_resource_type_and_version_is_covered_or_listed() -> None:
    keys = {key for _, _, key, _ in declared_resources()}
    unknown = keys - set(COVERED) - set(UNCOVERED)
    assert not unknown, (
        f"no schema for {sorted(unknown)}: pin an azure-mgmt-* version whose models folder matches the "
        "api-version in requirements-schemas.lock, or list it in UNCOVERED with the reason"
    )
    assert not (set(UNCOVERED) - keys), "UNCOVERED lists a type@version the templates no longer use"


@pytest.mark.parametrize(
    ("path", "symbol", "key", "body"),
    [pytest.param(*r, id=f"{r[0].name}:{r[1]}") for r in declared_resources() if r[2] in COVERED],
)
def test_property_paths_exist_in_the_schema(path: Path, symbol: str, key: str, body: dict) -> None:
    errors = schema_errors(path, key, body)
    assert errors == [], f"{path.relative_to(INFRA)}:{symbol} ({key}) writes properties its schema lacks: {errors}"


def test_the_check_sees_into_nested_and_flattened_properties() -> None:
    # issue 15 defect 8: anonymousPullEnabled is not in the 2023-07-01 registry schema.
    registry_models, registry = COVERED["Microsoft.ContainerRegistry/registries@2023-07-01"]
    schema = Schema(registry_models)
    assert schema.check(registry, {"properties": {"adminUserEnabled": False}}) == []
    assert schema.check(registry, {"properties": {"anonymousPullEnabled": False}}) == [
        "properties.anonymousPullEnabled (not in Registry)"
    ]
    app_models, app = COVERED["Microsoft.App/containerApps@2024-03-01"]
    typo = {"properties": {"template": {"containers": [{"name": "web", "probes": [{"httpGett": {}}]}]}}}
    assert Schema(app_models).check(app, typo) == [
        "properties.template.containers[0].probes[0].httpGett (not in ContainerAppProbe)"
    ]
    # Discriminated criteria (odata.type) resolve to the subclass, whose allOf items are checked.
    # MetricCriteria itself takes additional properties (any key), but its dimensions do not.
    alert_models, alert = COVERED["Microsoft.Insights/metricAlerts@2018-03-01"]
    criteria = {
        "odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
        "allOf": [{"criterionType": "StaticThresholdCriterion", "dimensions": [{"nme": "statusCodeCategory"}]}],
    }
    errors = Schema(alert_models).check(alert, {"properties": {"criteria": criteria}})
    assert errors == ["properties.criteria.allOf[0].dimensions[0].nme (not in MetricDimension)"]
