"""Replaying a submitted run: the score stored is the replay's; each way a claim can be
wrong is refused with its reason. Runs come from physics.js's autopilot under Node."""

import pytest

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from drafty_bird.replay.verify import REASONS, RunRefused, replay, tick_budget
from tests.ui.parity import node

SEED = 5


@pytest.fixture(scope="module")
def run() -> dict:
    """An honest run of a bit over 2 minutes: its flaps (from physics.js) and outcome."""
    spec = {"seed": SEED, "margin": 8, "noise": 0, "noiseSeed": 1, "stopTick": 7_200, "maxFlaps": physics.MAX_INPUTS}
    (flaps,) = node({"op": "plan", "specs": [spec]})
    out = physics.simulate(SEED, flaps)
    assert out.ticks > 7_200 and out.score > 30
    return {"flaps": flaps, "score": out.score, "ticks": out.ticks, "ms": out.ticks * physics.TICK_MS}


def _refused(reason: str, *args: object) -> str:
    with pytest.raises(RunRefused) as err:
        replay(*args)  # type: ignore[arg-type]  # arguments vary per case
    assert err.value.reason == reason
    return str(err.value)


def test_an_honest_run_replays_to_its_score(run: dict) -> None:
    got = replay(SEED, encode_ticks(run["flaps"]), run["score"], int(run["ms"]) + 300)
    assert (got.score, got.ticks, got.flaps) == (run["score"], run["ticks"], len(run["flaps"]))


def test_a_run_posted_as_soon_as_it_ends_fits_the_budget(run: dict) -> None:
    # Exactly real time: ticks * 16.67 ms after the token, not a millisecond more.
    assert replay(SEED, encode_ticks(run["flaps"]), run["score"], int(run["ms"])).score == run["score"]


def test_a_claimed_score_that_differs_is_refused(run: dict) -> None:
    msg = _refused("score_mismatch", SEED, encode_ticks(run["flaps"]), 99_999, int(run["ms"]) + 300)
    assert f"replay scores {run['score']}" in msg


def test_time_compressed_inputs_are_too_fast(run: dict) -> None:
    """The same run, posted after half its duration (a speed hack)."""
    msg = _refused("too_fast", SEED, encode_ticks(run["flaps"]), run["score"], int(run["ms"] / 2))
    assert "ticks" in msg
    # The last flap fits the budget but the bird is still flying when the budget ends:
    # the bounded replay catches it (and a forged endless run costs no more CPU).
    early = [t for t in run["flaps"] if t < 3_000]
    elapsed = 0
    while tick_budget(elapsed) <= early[-1]:
        elapsed += 1
    assert "lasts more than" in _refused("too_fast", SEED, encode_ticks(early), 0, elapsed)


def test_truncated_inputs_do_not_reach_the_claimed_score(run: dict) -> None:
    half = run["flaps"][: len(run["flaps"]) // 2]
    _refused("score_mismatch", SEED, encode_ticks(half), run["score"], int(run["ms"]) + 300)
    _refused("malformed_inputs", SEED, encode_ticks(run["flaps"])[:-1] + "_", run["score"], int(run["ms"]))


def test_flaps_after_the_end_and_oversized_inputs_are_malformed(run: dict) -> None:
    late = [*run["flaps"], run["ticks"] + 5]
    _refused("malformed_inputs", SEED, encode_ticks(late), run["score"], int(run["ms"]) + 1000)
    many = list(range(physics.MAX_INPUTS + 1))
    assert "more than 5000" in _refused("malformed_inputs", SEED, encode_ticks(many), 0, 10**9)


def test_the_budget_allows_real_time_plus_a_small_slack() -> None:
    two_minutes = 120_000
    assert 7_200 <= tick_budget(two_minutes) <= 7_200 + 72 + 120  # 1 % and 2 s
    assert tick_budget(0) == 120
    assert tick_budget(-5_000) == 120  # a token from a replica whose clock is ahead


def test_reasons_are_a_fixed_small_set() -> None:
    assert len(REASONS) == len(set(REASONS)) <= 10
    with pytest.raises(AssertionError):
        RunRefused("something_new", "x")
