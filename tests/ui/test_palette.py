"""The palette has one home (drafty_bird/ui/palette.py): the page's and the game's CSS read its
variables, and the canvas gets it as the game's `theme` prop (its colours on the canvas are
checked in real Chromium by test_game_e2e.py)."""

import re
from pathlib import Path

from drafty_bird.ui.game import GAME_CSS
from drafty_bird.ui.pages import PAGE_CSS
from drafty_bird.ui.palette import PALETTE, css_variables

UI = Path(__file__).resolve().parents[2] / "drafty_bird" / "ui"
COLOUR_LITERAL = re.compile(r"#[0-9A-Fa-f]{6}\b|#[0-9A-Fa-f]{3}\b|rgba?\(")


def _defined() -> dict[str, str]:
    return dict(re.findall(r"--(db-[\w-]+):([^;}]+)", css_variables()))


def test_every_css_variable_the_styles_use_is_defined() -> None:
    defined = _defined()
    for name, css in [("game.css", GAME_CSS), ("PAGE_CSS", PAGE_CSS)]:
        used = set(re.findall(r"var\(--(db-[\w-]+)\)", css))
        assert used, f"{name} uses no palette variable"
        assert used <= set(defined), f"{name} uses undefined variables: {sorted(used - set(defined))}"


def test_the_variables_carry_the_palette_and_navy_shades() -> None:
    defined = _defined()
    assert {k: v for k, v in defined.items() if k[3:] in PALETTE} == {f"db-{k}": v for k, v in PALETTE.items()}
    assert defined["db-shadow"] == "rgba(28,76,117,0.25)"  # navy #1C4C75 at 25 %
    assert defined["db-veil"] == "rgba(28,76,117,0.55)"


def test_no_colour_is_written_outside_palette_py() -> None:
    for path in sorted(UI.glob("*")):
        if path.suffix not in {".js", ".css", ".py"} or path.name == "palette.py":
            continue
        found = COLOUR_LITERAL.findall(path.read_text())
        assert not found, f"{path.name} writes colours {found}: use the palette (ui/palette.py)"
