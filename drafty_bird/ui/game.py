"""The game element: a thin Python handle on game.js, which runs the game in the browser."""

from collections.abc import Callable
from typing import Any

from nicegui import ui


class Game(ui.element, component="game.js", dependencies=["physics.js", "player.js"]):
    """Canvas game. Emits "score_saved" (the POST /score result) after each stored run.

    Never put it inside a ui.refreshable: a refresh would destroy a run in progress.
    """

    def __init__(self, *, on_score_saved: Callable[[dict[str, Any]], Any], test_hooks: bool = False) -> None:
        super().__init__()
        self._props["testHooks"] = test_hooks
        # Listeners must exist before the element reaches the browser: NiceGUI remounts an
        # element whose listeners change later, which would throw away a run in progress.
        self.on("score_saved", lambda e: on_score_saved(e.args))
