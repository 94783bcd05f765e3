"""The live top-10 panel: rows replaced in place, one prop update per change."""

from nicegui import ui

from drafty_bird.data.models import ScoreRead

EntryKey = tuple[str, int, str]


def entry_key(player: str, score: int, created_at: str) -> EntryKey:
    return (player, score, created_at)


class Board(ui.element, component="board.js"):
    def __init__(self, top: list[ScoreRead]) -> None:
        super().__init__()
        self.mine: set[EntryKey] = set()
        self._top = top
        self._props["rankText"] = ""
        self._render()

    def show(self, top: list[ScoreRead]) -> None:
        self._top = top
        self._render()

    def mark_mine(self, saved: dict) -> None:
        """After this page stored a run: highlight it and show its rank."""
        self.mine.add(entry_key(saved["player"], saved["score"], saved["createdAt"]))
        self._props["rankText"] = f"Your run: #{saved['rank']:,} of {saved['total']:,}"
        self._render()

    def _render(self) -> None:
        rows = []
        for i, s in enumerate(self._top):
            created = s.model_dump(mode="json")["createdAt"]
            key = entry_key(s.player, s.score, created)
            rows.append({"key": f"{i}-{created}", "rank": i + 1, "player": s.player, "score": s.score, "mine": key in self.mine})
        self._props["rows"] = rows
        self.update()
