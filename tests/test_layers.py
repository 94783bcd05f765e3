"""Imports only point down: read from each module's source, so a late import counts too."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "drafty_bird"

# module (or package folder) -> drafty_bird modules it must never import
FORBIDDEN = {
    "timing": ("drafty_bird.",),
    "config_types": ("drafty_bird.",),
    "settings": ("drafty_bird.ops", "drafty_bird.app", "drafty_bird.ui", "drafty_bird.leaderboard", "drafty_bird.data"),
    "data": ("drafty_bird.ops", "drafty_bird.app", "drafty_bird.ui", "drafty_bird.leaderboard", "drafty_bird.api"),
    "leaderboard": ("drafty_bird.ops", "drafty_bird.app", "drafty_bird.ui", "drafty_bird.api"),
    "ops": ("drafty_bird.app", "drafty_bird.ui", "drafty_bird.api", "drafty_bird.leaderboard"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]
    assert files and all(f.exists() for f in files)
    bad = [
        f"{f.relative_to(PACKAGE)} imports {name}"
        for f in files
        for name in sorted(imported(f))
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not bad, "\n".join(bad)
