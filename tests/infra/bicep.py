"""Read our Bicep with pycep-parser and resolve the simple expressions policy tests need.

pycep renders identifiers and string literals alike (both are plain strings), so a string
that names a variable or parameter is resolved to it; interpolations of known variables
are substituted. Conditionals keep both branches (policies must hold for either), unless the
module is read for one profile: `facts` give parameter values, and a condition that they decide
(`isPostgres`, `!empty(frontDoorId)`, `a || b`) picks its branch; for-loops over a known array expand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
_INTERP = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class Either:
    """Both branches of a `cond ? a : b`."""

    options: tuple


@lru_cache
def parse(path: Path) -> dict[str, Any]:
    # pycep types its result as a TypedDict; the policy tests walk it as plain JSON.
    return cast("dict[str, Any]", BicepParser().parse(file_path=path))


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


class Module:
    def __init__(self, path: Path, facts: dict[str, Any] | None = None) -> None:
        self.path = path
        self.facts = facts or {}
        self.doc = parse(path)
        self.variables = {k: v["value"] for k, v in (self.doc.get("variables") or {}).items()}
        self.parameters = self.doc.get("parameters") or {}

    def resource(self, type_prefix: str) -> tuple[str, dict]:
        found = [(name, res) for name, res in self.doc["resources"].items() if res["type"] == type_prefix]
        assert len(found) == 1, f"expected one {type_prefix} in {self.path.name}, found {[n for n, _ in found]}"
        name, res = found[0]
        config = res["config"]
        if "condition" in config:  # `= if (...) {...}`
            config = config["config"]
        return name, {"api_version": res["api_version"], **config}

    def resolve(self, value: Any, depth: int = 0) -> Any:
        if depth > 20:
            raise RecursionError(value)
        if isinstance(value, str):
            if value in self.facts:
                return self.facts[value]
            if value in self.variables:
                return self.resolve(self.variables[value], depth + 1)
            return _INTERP.sub(lambda m: self._interp(m, depth), value)
        if isinstance(value, list):
            return [self.resolve(v, depth + 1) for v in value]
        if isinstance(value, dict):
            if "function" in value and len(value) == 1:
                return self._function(value["function"], depth)
            if "operator" in value and len(value) == 1 and value["operator"]["type"] == "conditional":
                ops = value["operator"]["operands"]
                decided = self.truth(ops["condition"])
                if decided is not None:
                    return self.resolve(ops["true_value" if decided else "false_value"], depth + 1)
                return Either((self.resolve(ops["true_value"], depth + 1), self.resolve(ops["false_value"], depth + 1)))
            if "loop_type" in value and value.get("condition") is None:
                expanded = self._loop(value, depth)
                if expanded is not None:
                    return expanded
            return {k: self.resolve(v, depth + 1) for k, v in value.items()}
        return value

    def value_of(self, expr: Any) -> Any:
        """A literal, or what the facts make of a name or a simple expression; _UNKNOWN otherwise."""
        if isinstance(expr, bool | int | list):
            return expr
        if isinstance(expr, str):
            if expr in self.facts:
                return self.facts[expr]
            if expr in self.variables:
                return self.value_of(self.variables[expr])
            if expr in self.parameters:
                return _UNKNOWN
            return expr  # a string literal
        if isinstance(expr, dict) and "function" in expr and expr["function"]["type"] == "empty":
            item = self.value_of(next(iter((expr["function"].get("parameters") or {}).values())))
            return _UNKNOWN if item is _UNKNOWN else not item
        if isinstance(expr, dict) and "operator" in expr:
            decided = self.truth(expr)
            return _UNKNOWN if decided is None else decided
        return _UNKNOWN

    def truth(self, expr: Any) -> bool | None:
        """True/False when the facts decide `expr`, None when they do not."""
        if isinstance(expr, dict) and "operator" in expr:
            kind, ops = expr["operator"]["type"], expr["operator"]["operands"]
            if kind in ("equals", "not_equals"):
                a, b = self.value_of(ops["operand_1"]), self.value_of(ops["operand_2"])
                if a is _UNKNOWN or b is _UNKNOWN:
                    return None
                return (a == b) == (kind == "equals")
            if kind in ("or", "and"):
                a, b = self.truth(ops["operand_1"]), self.truth(ops["operand_2"])
                if kind == "or":
                    return True if True in (a, b) else (None if None in (a, b) else False)
                return False if False in (a, b) else (None if None in (a, b) else True)
            if kind in ("logical_not", "not"):
                inner = self.truth(next(iter(ops.values())))
                return None if inner is None else not inner
            return None
        value = self.value_of(expr)
        return None if value is _UNKNOWN or value is expr else bool(value)

    def _loop(self, loop: dict, depth: int) -> list | None:
        detail = loop["loop_type"]["detail"]
        items = self.value_of(detail.get("array_name"))
        if not isinstance(items, list):
            return None
        out = []
        for i, item in enumerate(items):
            bound = {detail.get("item_name"): item, detail.get("index_name"): i}
            out.append(_bind(self.resolve(loop["config"], depth + 1), bound))
        return out

    def _interp(self, match: re.Match, depth: int) -> str:
        name = match.group(1)
        if name in self.variables:
            resolved = self.resolve(self.variables[name], depth + 1)
            if isinstance(resolved, (str, int)):
                return str(resolved)
        return match.group(0)

    def _function(self, fn: dict, depth: int) -> Any:
        kind, params = fn["type"], fn.get("parameters") or {}
        args = [self.resolve(v, depth + 1) for v in params.values()]
        if kind == "string" and isinstance(args[0], (int, str)):
            return str(args[0])
        if kind == "json" and isinstance(args[0], str):
            return float(args[0])
        if kind == "concat":
            return Either(tuple(_flatten_lists(args)))
        if kind == "join" and all(isinstance(a, str) for a in _flatten_lists(args[:1])):
            return args[1].join(_flatten_lists(args[:1]))
        if kind == "load_text_content":
            return (self.path.parent / params["file_path"]).resolve().read_text()
        return {"function": fn}


_UNKNOWN = object()


def _bind(value: Any, names: dict) -> Any:
    """Substitute a loop's item and index names (whole strings and ${...})."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        return _INTERP.sub(lambda m: str(names[m.group(1)]) if m.group(1) in names else m.group(0), value)
    if isinstance(value, list):
        return [_bind(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _bind(v, names) for k, v in value.items()}
    return value


def _flatten_lists(args: list) -> list:
    """concat() of lists whose parts may be conditionals: every element that can appear."""
    out: list = []
    for arg in args:
        if isinstance(arg, Either):
            for option in arg.options:
                out.extend(_flatten_lists([option]))
        elif isinstance(arg, list):
            out.extend(arg)
        else:
            out.append(arg)
    return out


def possible_items(value: Any) -> list:
    """Every list element that any branch can produce."""
    if isinstance(value, Either):
        return _flatten_lists(list(value.options))
    if isinstance(value, list):
        return value
    raise TypeError(f"not a list expression: {value!r}")
