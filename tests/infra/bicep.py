"""Read our Bicep with pycep-parser and resolve the simple expressions policy tests need.

pycep renders identifiers and string literals alike (both are plain strings), so a string
that names a variable or parameter is resolved to it; interpolations of known variables
are substituted. Conditionals keep both branches (policies must hold for either).
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
    def __init__(self, path: Path) -> None:
        self.path = path
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
                return Either((self.resolve(ops["true_value"], depth + 1), self.resolve(ops["false_value"], depth + 1)))
            return {k: self.resolve(v, depth + 1) for k, v in value.items()}
        return value

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
        if kind == "load_text_content":
            return (self.path.parent / params["file_path"]).resolve().read_text()
        return {"function": fn}


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
