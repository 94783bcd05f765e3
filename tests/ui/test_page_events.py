"""The page's event arguments: exactly the shapes game.js sends, nothing else (issue 17, item 1).

Plain checks of the models in ui/page_events.py, and of the constants game.js mirrors; the
real-server tests are tests/ops/test_page_socket.py."""

import re
from pathlib import Path

import pytest

from drafty_bird.data.models import MAX_SCORE, RUN_ID_PATTERN
from drafty_bird.ui.board import MINE_KEEP
from drafty_bird.ui.page_events import RestoreMine, RunBegan, ScoreSaved, parse

GAME_JS = (Path(__file__).parents[2] / "drafty_bird" / "ui" / "game.js").read_text()


@pytest.mark.parametrize(
    "args",
    [
        {"run_id": "0123456789abcdef0123456789abcdef", "best": 12},
        {"run_id": "local-" + "ab" * 12, "best": 0},
        {"run_id": "a" * 64, "best": MAX_SCORE},
        {"run_id": "r.1_x-y"},
    ],
)
def test_score_saved_takes_a_run_id_and_the_devices_best(args: object) -> None:
    assert parse(ScoreSaved, "score_saved", args) == ScoreSaved.model_validate(args)


@pytest.mark.parametrize(
    "args",
    [
        None,
        [],
        "run-1",
        {},
        {"run_id": ""},
        {"run_id": "a" * 65},
        {"run_id": "bad id"},
        {"run_id": "a\n"},
        {"run_id": 5},
        {"run_id": ["run-1"]},
        {"run_id": "run-1", "best": True},
        {"run_id": "run-1", "best": 1.0},
        {"run_id": "run-1", "best": "3"},
        {"run_id": "run-1", "best": -1},
        {"run_id": "run-1", "best": MAX_SCORE + 1},
        {"run_id": "run-1", "best": 2**70},
        # The old page's copy of the saved run: refused whole, never half-used.
        {"run_id": "run-1", "player": "Ada", "score": 3, "createdAt": "x", "rank": 1, "total": 1, "best": 3},
    ],
)
def test_score_saved_refuses_anything_else(args: object) -> None:
    assert parse(ScoreSaved, "score_saved", args) is None


def test_restore_mine_takes_at_most_mine_keep_run_ids() -> None:
    ids = [f"run-{i}" for i in range(MINE_KEEP)]
    assert parse(RestoreMine, "restore_mine", {"best": 5, "run_ids": ids}) == RestoreMine(best=5, run_ids=ids)
    assert parse(RestoreMine, "restore_mine", {"best": 5}) == RestoreMine(best=5, run_ids=[])
    for bad in (
        {"run_ids": [*ids, "one-more"]},
        {"run_ids": ["ok", "not ok"]},
        {"run_ids": "run-1"},
        {"run_ids": [None]},
        {"best": None},
        {"best": 5, "runs": [{"run_id": "r", "player": "Ada", "score": 3, "createdAt": "x"}]},
    ):
        assert parse(RestoreMine, "restore_mine", bad) is None, bad


def test_run_began_takes_no_arguments() -> None:
    assert parse(RunBegan, "run_began", {}) == RunBegan()
    bad: object
    for bad in (None, [], "x", {"x": 1}):
        assert parse(RunBegan, "run_began", bad) is None, bad


def test_game_js_sends_what_the_server_takes() -> None:
    """game.js mirrors the server's rules, so an honest page is never refused."""
    keep = re.search(r"const MINE_KEEP = (\d+);", GAME_JS)
    run_id = re.search(r"const RUN_ID = /(.+)/;", GAME_JS)
    best = re.search(r"const MAX_BEST = (\d+);", GAME_JS)
    assert keep and run_id and best
    assert int(keep.group(1)) == MINE_KEEP
    assert run_id.group(1) == RUN_ID_PATTERN
    assert int(best.group(1)) == MAX_SCORE
    assert 'this.$emit("score_saved", { run_id: entry.run_id, best: Math.min(this.mine.best, MAX_BEST) })' in GAME_JS
    assert 'this.$emit("restore_mine", { best: this.mine.best, run_ids: runIds.slice(-MINE_KEEP) })' in GAME_JS
    assert 'this.$emit("run_began", {})' in GAME_JS
