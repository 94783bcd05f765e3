"""Resource schemas from the Azure SDK for Python's generated models, read without importing them.

Each `azure-mgmt-*` package generates one models file per REST api-version from the same OpenAPI
specs that Bicep's types come from. A model's `_attribute_map` maps each attribute to its JSON
path (`properties.adminUserEnabled`) and type (`bool`, `[Container]`, `{str}`, `NetworkRuleSet`);
`_subtype_map` names the subclasses behind a discriminator (`odata.type`). That is enough to
check that every property path a Bicep resource writes exists for its api-version.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tests.infra.bicep import ROOT, Either

SCHEMAS = ROOT / ".azure-schemas"
PRIMITIVES = {"str", "int", "long", "float", "bool", "object", "iso-8601", "duration", "date", "bytearray", "base64"}
_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")


@dataclass
class ModelInfo:
    bases: list[str]
    attributes: dict[str, dict]  # python name -> {"key": json path, "type": type}
    subtypes: dict[str, dict[str, str]] = field(default_factory=dict)


@lru_cache
def load_models(models_py: Path) -> dict[str, ModelInfo]:
    if not models_py.is_file():
        raise FileNotFoundError(f"{models_py} is missing: run `make schemas` (requirements-schemas.lock)")
    tree = ast.parse(models_py.read_text())
    models: dict[str, ModelInfo] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        info = ModelInfo(bases=[b.id for b in node.bases if isinstance(b, ast.Name)], attributes={})
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                if stmt.targets[0].id == "_attribute_map":
                    info.attributes = ast.literal_eval(stmt.value)
                elif stmt.targets[0].id == "_subtype_map":
                    info.subtypes = ast.literal_eval(stmt.value)
        models[node.name] = info
    for info in models.values():  # a subclass without its own map inherits its base's
        base = info.bases[0] if info.bases else None
        while not info.attributes and base in models:
            info.attributes = models[base].attributes
            base = models[base].bases[0] if models[base].bases else None
    return models


class Schema:
    """Property-path checks against one models file (one provider, one api-version)."""

    def __init__(self, models_py: Path) -> None:
        self.models = load_models(models_py)

    def tree(self, model: str) -> tuple[dict, bool]:
        """JSON key tree of a model: nested dicts ending in type names; bool: accepts any key."""
        root: dict = {}
        open_ = False
        for attr in self.models[model].attributes.values():
            if attr["key"] == "":  # additional_properties
                open_ = True
                continue
            parts = [p.replace("\\.", ".") for p in _UNESCAPED_DOT.split(attr["key"])]
            node = root
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = attr["type"]
        return root, open_

    def _discriminated(self, model: str, value: dict) -> str:
        info = self.models[model]
        for py_name, mapping in info.subtypes.items():
            key = info.attributes[py_name]["key"].replace("\\.", ".")
            chosen = value.get(key)
            if isinstance(chosen, str) and chosen in mapping:
                return self._discriminated(mapping[chosen], value)
        return model

    def check(self, model: str, value: Any, path: str = "") -> list[str]:
        """Property paths in `value` (a resolved Bicep object) that `model` does not have."""
        return self._check_type(model, value, path)

    def _check_type(self, type_name: str, value: Any, path: str) -> list[str]:
        if isinstance(value, Either):
            return [e for option in value.options for e in self._check_type(type_name, option, path)]
        if type_name.startswith("[") and type_name.endswith("]"):
            return self._check_items(type_name[1:-1], value, path)
        if type_name.startswith("{") and type_name.endswith("}"):
            if isinstance(value, dict) and not _is_expression(value):
                return [e for k, v in value.items() for e in self._check_type(type_name[1:-1], v, f"{path}.{k}")]
            return []
        if type_name in PRIMITIVES or not isinstance(value, dict) or _is_expression(value):
            return _expression_objects(value, lambda obj: self._check_type(type_name, obj, path))
        if type_name not in self.models:  # an enum or a type the generator inlines: values, not paths
            return []
        model = self._discriminated(type_name, value)
        tree, open_ = self.tree(model)
        return self._check_node(tree, open_, value, path, model)

    def _check_items(self, item_type: str, value: Any, path: str) -> list[str]:
        if isinstance(value, list):
            return [e for i, v in enumerate(value) for e in self._check_type(item_type, v, f"{path}[{i}]")]
        if isinstance(value, Either):  # concat(): options are elements; a conditional: whole lists
            return [e for option in value.options for e in self._check_items(item_type, option, path)]
        if isinstance(value, dict) and "loop_type" in value:  # [for x in xs: {...}]: the body is one item
            return self._check_type(item_type, value["config"], f"{path}[for]")
        if isinstance(value, dict) and not _is_expression(value):
            return self._check_type(item_type, value, path)
        return _expression_objects(value, lambda obj: self._check_items(item_type, obj, path))

    def _check_node(self, tree: dict, open_: bool, value: dict, path: str, model: str) -> list[str]:
        errors = []
        for key, sub in value.items():
            key = key.strip("'")
            where = f"{path}.{key}" if path else key
            if key not in tree:
                if not open_:
                    errors.append(f"{where} (not in {model})")
                continue
            expected = tree[key]
            if isinstance(expected, dict):
                if isinstance(sub, dict) and not _is_expression(sub):
                    errors.extend(self._check_node(expected, False, sub, where, model))
                else:
                    errors.extend(
                        _expression_objects(
                            sub, lambda obj, node=expected, at=where: self._check_node(node, False, obj, at, model)
                        )
                    )
            else:
                errors.extend(self._check_type(expected, sub, where))
        return errors


def _is_expression(value: dict) -> bool:
    return len(value) == 1 and next(iter(value)) in {"function", "operator"}


def _expression_objects(value: Any, check) -> list[str]:
    """Object literals inside an expression: both branches of `c ? a : b`, the literal args of union()."""
    if isinstance(value, Either):
        return [e for option in value.options for e in check(option)]
    if not isinstance(value, dict) or not _is_expression(value):
        return []
    if "operator" in value and value["operator"]["type"] == "conditional":
        ops = value["operator"]["operands"]
        branches = [ops["true_value"], ops["false_value"]]
        return [e for b in branches if isinstance(b, dict | list) for e in check(b)]
    if "function" in value and value["function"]["type"] == "union":
        args = (value["function"].get("parameters") or {}).values()
        return [e for a in args if isinstance(a, dict) and not _is_expression(a) for e in check(a)]
    return []
