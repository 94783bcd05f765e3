"""azd conventions, a fresh environment's `azd up`, and the names every environment name derives.

Conventions (Azure/azure-dev templates and its `azd init` scaffold): outputs are AZURE_* or
SERVICE_<NAME>_* for a service in azure.yaml; main.parameters.json maps AZURE_ENV_NAME,
AZURE_LOCATION, AZURE_PRINCIPAL_ID and SERVICE_<NAME>_RESOURCE_EXISTS; the host resource carries
`azd-service-name`. azd substitutes `${VAR}` / `${VAR=default}` from the environment, so the
fresh-environment test below feeds only what azd itself sets before the first provision.
"""

from __future__ import annotations

import json
import re

import yaml

from tests.infra.bicep import INFRA, ROOT, Either, Module

MAIN = Module(INFRA / "main.bicep")
PARAMETERS = INFRA / "main.parameters.json"
AZD_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:=(?P<default>[^}]*))?\}")
# What azd puts into a new environment before the first `azd provision` (azd env new / azd up).
AZD_SETS = {"AZURE_ENV_NAME": "drafty-dev", "AZURE_LOCATION": "westeurope", "AZURE_PRINCIPAL_ID": "0" * 8}
AZD_OWN = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID", "AZURE_PRINCIPAL_TYPE", "AZURE_SUBSCRIPTION_ID"}
# Outputs azd itself needs for `host: containerapp`: where to push the image, where to find the app.
AZD_NEEDS = {"AZURE_CONTAINER_REGISTRY_ENDPOINT", "AZURE_RESOURCE_GROUP"}

# Name limits (max length) from learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules.
# Types missing here have no checked limit (docs/DECISIONS.md lists them).
NAME_LIMITS = {
    "Microsoft.Resources/resourceGroups": 90,
    "Microsoft.ManagedIdentity/userAssignedIdentities": 128,
    "Microsoft.OperationalInsights/workspaces": 63,
    "Microsoft.Insights/components": 260,
    "Microsoft.ContainerRegistry/registries": 50,
    "Microsoft.Storage/storageAccounts": 24,
    "Microsoft.KeyVault/vaults": 24,
    "Microsoft.App/managedEnvironments": 60,
    "Microsoft.App/containerApps": 32,
}
UNIQUE_TOKEN_LENGTH = 13  # uniqueString() is always 13 characters
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def services() -> dict:
    return yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]


def parameter_values() -> dict[str, str]:
    return {name: entry["value"] for name, entry in json.loads(PARAMETERS.read_text())["parameters"].items()}


def azd_substitute(value: str, env: dict[str, str]) -> str:
    return AZD_VAR.sub(lambda m: env.get(m.group("name"), m.group("default") or ""), value)


def output_problems(outputs: list[str], service_names: list[str]) -> list[str]:
    prefixes = tuple(f"SERVICE_{s.upper().replace('-', '_')}_" for s in service_names)
    return [
        name
        for name in outputs
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or not (name.startswith("AZURE_") or name.startswith(prefixes))
    ]


def derived_names(env_name: str) -> list[tuple[str, str, str]]:
    """(resource type, symbolic name, name) of each resource, for environmentName = env_name."""
    token = "x" * UNIQUE_TOKEN_LENGTH
    main_values = {"environmentName": env_name, "token": token}

    def expand(text: str, values: dict[str, str]) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    found = [
        ("Microsoft.Resources/resourceGroups", "rg", expand(MAIN.doc["resources"]["rg"]["config"]["name"], main_values))
    ]
    for module_name, module in MAIN.doc["modules"].items():
        config = (
            module["config"].get("config", module["config"]) if "condition" in module["config"] else module["config"]
        )
        params = config.get("params") or {}
        values = {
            key: main_values.get(value, expand(value, main_values))
            for key, value in params.items()
            if isinstance(value, str)
        }
        child = Module(INFRA / module["detail"]["path"])
        for symbol, res in (child.doc.get("resources") or {}).items():
            body = res["config"]
            while "config" in body and ("condition" in body or "loop_type" in body):
                body = body["config"]
            if res.get("existing") or "parent" in body or not isinstance(body.get("name"), str):
                continue
            raw = body["name"]
            name = values.get(raw) if raw in values else expand(raw, values)
            if name and "$" not in name:
                found.append((res["type"], f"{module_name}.{symbol}", name))
    return found


def test_azure_yaml_service_matches_the_tagged_container_app() -> None:
    assert list(services()) == ["web"]
    assert services()["web"]["host"] == "containerapp"
    app = Module(INFRA / "modules" / "app.bicep")
    symbol, _ = app.resource("Microsoft.App/containerApps")
    tags = app.doc["resources"][symbol]["config"]["tags"]["function"]["parameters"]["arg_2"]
    assert tags == {"'azd-service-name'": "web"}, "azd finds the app to deploy by this tag"


def test_outputs_follow_the_azd_conventions() -> None:
    outputs = list(MAIN.doc["outputs"])
    assert output_problems(outputs, list(services())) == []
    assert set(outputs) >= AZD_NEEDS
    assert {"SERVICE_WEB_NAME", "SERVICE_WEB_URI"} <= set(outputs)


def test_pipeline_reads_only_outputs_that_exist() -> None:
    used = set(re.findall(r"\$\(\w+\.((?:AZURE|SERVICE)_[A-Z0-9_]+)\)", (ROOT / "azure-pipelines.yml").read_text()))
    used |= set(
        re.findall(r"outputs\['\w+\.((?:AZURE|SERVICE)_[A-Z0-9_]+)'\]", (ROOT / "azure-pipelines.yml").read_text())
    )
    assert used, "the pipeline reads deployment outputs"
    assert used - set(MAIN.doc["outputs"]) == set()


def test_parameters_use_azd_variables_or_defaults() -> None:
    service_vars = {f"SERVICE_{s.upper()}_{suffix}" for s in services() for suffix in ("RESOURCE_EXISTS", "IMAGE_NAME")}
    values = parameter_values()
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["principalId"] == "${AZURE_PRINCIPAL_ID}"
    assert values["webAppExists"] == "${SERVICE_WEB_RESOURCE_EXISTS=false}", "the templates' exists pattern"
    for param, value in values.items():
        for match in AZD_VAR.finditer(value):
            name = match.group("name")
            # Anything azd does not set itself needs a default, or a fresh `azd up` stops to ask.
            assert name in AZD_OWN or name in service_vars or match.group("default") is not None, (
                f"{param}: ${{{name}}} has no default"
            )


def test_a_fresh_environment_provisions_in_one_command() -> None:
    # azd up = provision (placeholder image) + deploy: nothing to set by hand, nothing refused.
    values = {name: azd_substitute(value, AZD_SETS) for name, value in parameter_values().items()}
    for name, value in values.items():
        declared = MAIN.parameters[name]
        decorators = {d["type"]: d.get("argument") for d in declared.get("decorators", [])}
        if declared["type"] == "bool":
            assert value in {"true", "false"}, f"{name}={value!r}"
        if "allowed" in decorators:
            assert value in decorators["allowed"], f"{name}={value!r} not in {decorators['allowed']}"
        if "max_length" in decorators:
            assert len(value) <= decorators["max_length"], name
        if "min_length" in decorators:
            assert len(value) >= decorators["min_length"], f"{name} is empty on a fresh environment"
    assert values["deployApp"] == "true" and values["imageName"] == "", "no image exists before the first deploy"
    # ACA refuses to create an app whose image is empty: app.bicep must swap in a placeholder.
    app = Module(INFRA / "modules" / "app.bicep")
    _, res = app.resource("Microsoft.App/containerApps")
    web = next(c for c in res["properties"]["template"]["containers"] if c["name"] == "web")
    image = app.resolve(web["image"])
    assert isinstance(image, Either) and image.options[1] == "imageName", "web image must fall back when empty"
    assert image.options[0].startswith("mcr.microsoft.com/"), "a public image the app can pull before ACR has ours"
    assert values.get("webAppExists") == "false", "first provision: no app to read the image from"
    # main.bicep: empty imageName -> the running image if the app exists, else '' -> placeholder.
    image = MAIN.doc["modules"]["app"]["config"]["config"]["params"]["imageName"]["operator"]
    assert image["type"] == "conditional" and image["operands"]["false_value"] == "imageName"
    fetch = MAIN.doc["modules"]["webImage"]["config"]["params"]
    assert fetch == {"exists": "webAppExists", "name": "ca-${environmentName}"}


def test_environment_name_max_length_keeps_every_derived_name_valid() -> None:
    decorators = {d["type"]: d.get("argument") for d in MAIN.parameters["environmentName"]["decorators"]}
    assert "max_length" in decorators, "an over-long name must fail at the parameter, not mid-deployment"
    names = derived_names("a" * decorators["max_length"])
    kinds = {kind for kind, _, _ in names}
    assert {"Microsoft.App/containerApps", "Microsoft.KeyVault/vaults", "Microsoft.Storage/storageAccounts"} <= kinds
    too_long = [(s, n, len(n), NAME_LIMITS[k]) for k, s, n in names if k in NAME_LIMITS and len(n) > NAME_LIMITS[k]]
    assert too_long == []


def test_committed_environment_names_are_valid() -> None:
    max_length = dict((d["type"], d.get("argument")) for d in MAIN.parameters["environmentName"]["decorators"])[
        "max_length"
    ]
    for file in sorted((INFRA / "params").glob("*.json")):
        name = json.loads(file.read_text())["parameters"]["environmentName"]["value"]
        assert ENV_NAME.match(name) and "--" not in name and len(name) <= max_length, f"{file.name}: {name}"


def test_the_checks_catch_the_old_limit_and_a_bad_output() -> None:
    # issue 15 defect 9: @maxLength(40) let `ca-<40 chars>` (43) through; the app allows 32.
    app_names = [n for k, _, n in derived_names("a" * 40) if k == "Microsoft.App/containerApps"]
    assert app_names == ["ca-" + "a" * 40] and len(app_names[0]) > NAME_LIMITS["Microsoft.App/containerApps"]
    assert output_problems(["PROMETHEUS_QUERY_ENDPOINT", "SERVICE_API_URI", "AZURE_X"], ["web"]) == [
        "PROMETHEUS_QUERY_ENDPOINT",
        "SERVICE_API_URI",
    ]
