"""The game element: a thin Python handle on game.js, which runs the game in the browser."""

from collections.abc import Callable
from typing import Any

from nicegui import ui


class Game(ui.element, component="game.js", dependencies=["physics.js", "player.js"]):
    """Canvas game. Emits "score_saved" (the POST /score result) after each stored run.

    Never put it inside a ui.refreshable: a refresh would destroy a run in progress.
    """

    def __init__(self, *, test_hooks: bool = False) -> None:
        super().__init__()
        self._props["testHooks"] = test_hooks

    def on_score_saved(self, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.on("score_saved", lambda e: handler(e.args))
