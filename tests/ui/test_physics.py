"""The game's pure modules (physics.js, player.js) run under the machine's real Node.js.

The browser runs the same files; a later issue replays runs on the server with them,
so determinism is the contract under test here.
"""

import pytest

from drafty_bird.data.models import clean_player_name
from tests.ui.helpers import run_js


@pytest.fixture(scope="module")
def played() -> dict:
    """A long autopilot run: seed 5, its flap ticks and score."""
    (result,) = run_js({"op": "autopilot", "seed": 5, "maxTicks": 6_000})
    return result


def test_board_and_tick_rate_match_the_spec() -> None:
    (c,) = run_js({"op": "constants"})
    assert (c["BOARD_W"], c["BOARD_H"], c["TICK_HZ"]) == (960, 540, 60)
    # Higher draft level, narrower gap.
    assert c["GAP_BY_LEVEL"][1] > c["GAP_BY_LEVEL"][2] > c["GAP_BY_LEVEL"][3] > 0


def test_same_seed_and_flaps_give_the_same_run(played: dict) -> None:
    assert played["score"] >= 20, "the reference policy should pass many ducts"
    again = run_js(*[{"op": "simulate", "seed": 5, "flaps": played["flaps"]}] * 3)
    assert {(r["score"], r["ticks"], r["y"], r["over"]) for r in again} == {
        (played["score"], played["ticks"], again[0]["y"], True)
    }


def test_inputs_matter_and_seeds_matter(played: dict) -> None:
    no_flaps, dropped_one, other_seed = run_js(
        {"op": "simulate", "seed": 5, "flaps": []},
        {"op": "simulate", "seed": 5, "flaps": played["flaps"][:5] + played["flaps"][6:]},
        {"op": "simulate", "seed": 6, "flaps": played["flaps"]},
    )
    assert no_flaps["score"] == 0
    assert no_flaps["ticks"] < 200, "without flaps the bird falls to the floor within ~3 s"
    assert dropped_one["ticks"] != played["ticks"]
    assert other_seed["ticks"] != played["ticks"]


def test_layouts_differ_by_seed_and_gap_follows_draft_level() -> None:
    a, a2, b = run_js(
        {"op": "layout", "seed": 11, "n": 12},
        {"op": "layout", "seed": 11, "n": 12},
        {"op": "layout", "seed": 12, "n": 12},
    )
    assert a == a2
    assert [d["gapY"] for d in a["ducts"]] != [d["gapY"] for d in b["ducts"]]
    (c,) = run_js({"op": "constants"})
    for d in a["ducts"] + b["ducts"]:
        assert d["gap"] == c["GAP_BY_LEVEL"][d["level"]]
    assert len({d["level"] for d in a["ducts"] + b["ducts"]}) == 3


@pytest.mark.parametrize("hz", [30, 60, 120, 144])
def test_fixed_step_runs_60_ticks_per_second_at_any_refresh_rate(hz: int) -> None:
    steady, jittery = run_js(
        {"op": "ticksForFrames", "hz": hz, "seconds": 10},
        {"op": "ticksForFrames", "hz": hz, "seconds": 10, "jitterMs": 2.5},
    )
    assert steady["ticks"] == 600
    assert abs(jittery["ticks"] - 600) <= 1


def test_a_stalled_tab_does_not_fast_forward() -> None:
    (r,) = run_js({"op": "stall", "gapMs": 5000})
    assert r["ticks"] == 15, "a 5 s stall is clamped to 250 ms = 15 ticks"


@pytest.mark.parametrize("hz", [60, 120, 144])
def test_the_same_inputs_give_the_same_score_at_60_120_144_hz(played: dict, hz: int) -> None:
    (r,) = run_js({"op": "playAtHz", "seed": 5, "flaps": played["flaps"], "hz": hz})
    assert r["recorded"] == played["flaps"]
    assert (r["score"], r["ticks"]) == (played["score"], played["ticks"])


@pytest.mark.parametrize(("hz", "jitter"), [(30, 0), (60, 4), (144, 2)])
def test_recorded_inputs_replay_to_the_played_score(played: dict, hz: int, jitter: float) -> None:
    """Even when frames run several ticks (and merge key presses), what was recorded replays exactly."""
    (r,) = run_js({"op": "playAtHz", "seed": 5, "flaps": played["flaps"], "hz": hz, "jitterMs": jitter})
    (replay,) = run_js({"op": "simulate", "seed": 5, "flaps": r["recorded"]})
    assert (replay["score"], replay["ticks"]) == (r["score"], r["ticks"])


NAMES = [
    None,
    "",
    "   ",
    "Ada",
    "  Ada   Lovelace  ",
    "x" * 24,
    "x" * 25,
    " " + "x" * 24 + " ",
    "Zoë",
    "Zoe\u0308",
    "a<b",
    "b>a",
    "tab\there",
    "new\nline",
    "zero\u200bwidth",
    "bidi\u202eevil",
    "\ufeffbom",
    "\u0085nel\u0085",
    "\x1cfs\x1c",
    "\u3000ideo\u3000",
    "nbsp\u00a0name",
    "emoji 🐦",
    "🐦" * 24,
    "🐦" * 25,
    "priv\ue000",
    "\x7f",
]


@pytest.mark.parametrize("raw", NAMES, ids=[repr(n)[:20] for n in NAMES])
def test_player_name_rules_match_the_server(raw: str | None) -> None:
    (js,) = run_js({"op": "cleanName", "raw": raw})
    try:
        expected = {"ok": True, "name": clean_player_name(raw)}
    except ValueError:
        expected = {"ok": False}
    assert {k: js[k] for k in expected} == expected
