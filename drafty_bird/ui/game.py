"""The game element: a thin Python handle on game.js, which runs the game in the browser."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import ui

from drafty_bird.ui.palette import THEME

# NiceGUI serves each dependency at its own cache-busted URL and maps its file name
# (without .js) in the page's import map: the modules import each other by that bare name.
MODULES = ("physics.js", "player.js", "queue.js", "renderer.js", "saver.js", "test_hooks.js", "ticks.js")
GAME_CSS = Path(__file__).with_name("game.css").read_text(encoding="utf-8")


class Game(ui.element, component="game.js", dependencies=[*MODULES]):
    """Canvas game. Emits "score_saved" ({run_id, best}) after each stored run, "run_began"
    ({}) at a run's first flap, and "restore_mine" on load with this device's best and the
    run_ids of its recent saved runs ({best, run_ids}). Never a run's content: the server
    looks runs up by run_id (ui/page_events.py checks every argument).

    Never put it inside a ui.refreshable: a refresh would destroy a run in progress.
    Its styles (GAME_CSS) read the palette's CSS variables; the page adds both (ui/pages.py).
    """

    def __init__(
        self,
        *,
        on_score_saved: Callable[[Any], Any],
        on_run_began: Callable[[Any], Any],
        on_restore_mine: Callable[[Any], Any],
        test_hooks: bool = False,
    ) -> None:
        super().__init__()
        self._props["testHooks"] = test_hooks
        self._props["theme"] = THEME
        # Listeners must exist before the element reaches the browser: NiceGUI remounts an
        # element whose listeners change later, which would throw away a run in progress.
        self.on("score_saved", lambda e: on_score_saved(e.args))
        self.on("run_began", lambda e: on_run_began(e.args))
        self.on("restore_mine", lambda e: on_restore_mine(e.args))

    def show_place(self, text: str, run_id: str) -> None:
        """Where a saved run stands (board.place_text), shown on the result screen if it is that run's."""
        self.run_method("showPlace", text, run_id)
