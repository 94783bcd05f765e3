"""A small reader for our Dockerfile: stages, ENV, USER, COPY, CMD, HEALTHCHECK.

Tests derive the runtime contract from the Dockerfile itself so the two cannot drift.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, sep, value = token.partition("=")
                if not sep:
                    raise ValueError(f"use ENV key=value form, got {args!r}")
                out[key] = value
        return out

    def user(self) -> tuple[int, int]:
        user = self.last("USER")
        if user is None:
            raise AssertionError("final stage has no USER")
        uid, _, gid = user.partition(":")
        return int(uid), int(gid or uid)

    def cmd(self) -> list[str]:
        raw = self.last("CMD")
        if raw is None:
            raise AssertionError("final stage has no CMD")
        value = json.loads(raw)  # exec form is a JSON array; shell form fails here
        if not isinstance(value, list):
            raise AssertionError(f"CMD is not exec form: {raw}")
        return value

    def healthcheck_cmd(self) -> list[str]:
        raw = self.last("HEALTHCHECK")
        if raw is None:
            raise AssertionError("final stage has no HEALTHCHECK")
        _, _, exec_part = raw.partition("CMD")
        return json.loads(exec_part.strip())

    def copies(self) -> list[tuple[list[str], str, list[str]]]:
        """(sources, destination, flags) per COPY."""
        out = []
        for args in self.all("COPY"):
            parts = shlex.split(args)
            flags = [p for p in parts if p.startswith("--")]
            rest = [p for p in parts if not p.startswith("--")]
            out.append((rest[:-1], rest[-1], flags))
        return out


def logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(path: Path = DOCKERFILE) -> list[Stage]:
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


def final_stage(path: Path = DOCKERFILE) -> Stage:
    return parse(path)[-1]
