"""Every GUID in infra/ is a vetted built-in role, used under its own name.

A wrong role definition id deploys nowhere: the role assignment fails and takes the whole
provision with it (issue 15, defect 1). The table below is the only place a role id may come
from; each entry cites the built-in roles page it was read from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, ROOT

BUILT_IN_ROLES = "https://learn.microsoft.com/azure/role-based-access-control/built-in-roles"

# name -> (role definition id, source page)
VETTED_ROLES: dict[str, tuple[str, str]] = {
    "AcrPull": ("7f951dda-4ed3-4680-a7ca-43fe172d538d", f"{BUILT_IN_ROLES}/containers#acrpull"),
    "Key Vault Secrets User": (
        "4633458b-17de-408a-b874-0445c86b69e6",
        f"{BUILT_IN_ROLES}/security#key-vault-secrets-user",
    ),
    "Key Vault Secrets Officer": (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        f"{BUILT_IN_ROLES}/security#key-vault-secrets-officer",
    ),
    "Monitoring Metrics Publisher": (
        "3913510d-42f4-4e42-8a64-420c390055eb",
        f"{BUILT_IN_ROLES}/monitor#monitoring-metrics-publisher",
    ),
    "Monitoring Data Reader": (
        "b0d8363b-8ddd-447d-831f-62ca05bff136",
        f"{BUILT_IN_ROLES}/monitor#monitoring-data-reader",
    ),
}
BY_ID = {guid: name for name, (guid, _) in VETTED_ROLES.items()}

GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
# `// AcrPull (built-in role)` then `var acrPullRoleId = '<guid>'`
ROLE_VAR = re.compile(
    r"^//\s*(?P<comment>[^\n(]+?)\s*\(built-in role\)[^\n]*\n(?:\s*//[^\n]*\n)*var (?P<var>\w+) = '(?P<guid>[^']+)'",
    re.M,
)
TEXT_SUFFIXES = {".bicep", ".json", ".yaml", ".yml", ".py", ".md", ".sh", ".txt"}


def _infra_text_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def unexplained_guids(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        for match in GUID.finditer(path.read_text()):
            if match.group(0).lower() not in BY_ID:
                problems.append(f"{path.relative_to(ROOT)}: {match.group(0)} is no vetted built-in role")
    return problems


def misnamed_role_vars(text: str, where: str) -> list[str]:
    problems = []
    for match in ROLE_VAR.finditer(text):
        guid, var, comment = match.group("guid").lower(), match.group("var"), match.group("comment").strip()
        name = BY_ID.get(guid)
        if name is None:
            problems.append(f"{where}: {var} = {guid} is no vetted built-in role")
            continue
        if comment != name:
            problems.append(f"{where}: {var} is commented as {comment!r} but {guid} is {name!r}")
        stem = _squash(var.removesuffix("RoleId").removesuffix("Id"))
        if not _squash(name).endswith(stem):
            problems.append(f"{where}: {var} holds {guid}, which is {name!r}")
    return problems


def test_vetted_table_is_well_formed() -> None:
    assert len(BY_ID) == len(VETTED_ROLES), "one id per role"
    for name, (guid, source) in VETTED_ROLES.items():
        assert GUID.fullmatch(guid) and guid == guid.lower(), name
        assert source.startswith(BUILT_IN_ROLES + "/"), f"{name}: cite the built-in roles page"


def test_every_guid_in_infra_is_a_vetted_role() -> None:
    files = _infra_text_files()
    assert any(p.suffix == ".bicep" for p in files)
    assert unexplained_guids(files) == []


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: str(p.relative_to(ROOT)))
def test_role_ids_are_declared_under_their_own_name(path: Path) -> None:
    text = path.read_text()
    declared = {m.group("guid").lower() for m in ROLE_VAR.finditer(text)}
    # A role id outside the `// <Role> (built-in role)` + `var xRoleId` form could not be name-checked.
    assert {g.lower() for g in GUID.findall(text)} <= declared, f"{path.name}: declare role ids as commented vars"
    assert misnamed_role_vars(text, path.name) == []


def test_every_vetted_role_is_assigned_somewhere() -> None:
    used = {m.group("guid").lower() for p in INFRA.rglob("*.bicep") for m in ROLE_VAR.finditer(p.read_text())}
    assert used == set(BY_ID), f"unused table entries: {set(BY_ID) - used}"


def test_the_checks_catch_a_wrong_or_swapped_id() -> None:
    # The seed's AcrPull id (issue 15 defect 1), and a real role under another role's name.
    wrong = "// AcrPull (built-in role)\nvar acrPullRoleId = '7f951dff-4ed8-4eb7-b5a4-9c2ae7f7b9ae'\n"
    assert misnamed_role_vars(wrong, "x") and "no vetted built-in role" in misnamed_role_vars(wrong, "x")[0]
    swapped = "// AcrPull (built-in role)\nvar acrPullRoleId = 'b0d8363b-8ddd-447d-831f-62ca05bff136'\n"
    assert len(misnamed_role_vars(swapped, "x")) == 2
