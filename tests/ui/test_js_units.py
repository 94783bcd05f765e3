"""Unit tests of the game's browser modules with logic (queue.js, saver.js), run by Node's own
test runner (tests/ui/js/*.test.mjs). Fetch, storage and clock are test doubles passed in as
parameters; the real-browser path is covered by test_game_e2e.py.

Also checks how the modules are wired: NiceGUI serves each dependency at its own URL and maps
its bare name in the import map, so every import between them must be one of those names.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drafty_bird.ui.game import MODULES, Game

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "drafty_bird" / "ui"
UNIT_FILES = sorted((Path(__file__).parent / "js").glob("*.test.mjs"))
IMPORT = re.compile(r"""^\s*import\b[^"']*["']([^"']+)["']""", re.MULTILINE)


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda p: p.name)
def test_node_unit_file(path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the game's JS unit tests: apt-get install nodejs (make test does)")
    proc = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"pass [1-9]", proc.stdout), proc.stdout


def test_there_are_unit_files_for_the_queue_and_the_saver() -> None:
    assert {p.name for p in UNIT_FILES} >= {"queue.test.mjs", "saver.test.mjs"}


def test_every_module_import_is_a_bare_name_the_game_registers() -> None:
    names = {Path(m).stem for m in MODULES}
    registered = {lib.path.name for lib in Game.exposed_libraries}
    assert registered == set(MODULES), "game.py's MODULES are what NiceGUI serves"
    served = set(MODULES) | {"game.js", "board.js"}
    assert {p.name for p in UI.glob("*.js")} == served, "every .js beside game.js is served"
    for path in UI.glob("*.js"):
        for spec in IMPORT.findall(path.read_text()):
            assert spec in names, f"{path.name} imports {spec!r}: use one of the import-map names {sorted(names)}"
