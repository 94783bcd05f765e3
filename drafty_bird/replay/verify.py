"""Replay a submitted run and decide its score: pure, so it can run in a worker process.

The stored score is always the replay's; a claim that disagrees is refused, not fixed,
so a client bug or a cheat is visible (drafty_bird_scores_rejected_total{reason}).
"""

import math
from dataclasses import dataclass

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import MalformedTicks, decode_ticks

# An honest run cannot have more ticks than wall-clock time since its token was issued
# allows (the browser's fixed-step clock never runs ahead of real time). The slack covers
# clock differences between replicas and timer granularity; it is far below any speed-up
# worth having (a 2-minute run may be at most ~3 s faster than real time).
SLACK_MS = 2_000
RATE_SLACK = 0.01

# Every reason a run is refused: the bounded label set of drafty_bird_scores_rejected_total.
REASONS = (
    "missing_token",
    "bad_token",
    "expired_token",
    "reused_token",
    "seed_mismatch",
    "malformed_inputs",
    "too_fast",
    "score_mismatch",
)


class RunRefused(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason  # a new reason must join REASONS (metric label set)
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Replayed:
    score: int
    ticks: int
    flaps: int
    y: float


def tick_budget(elapsed_ms: int) -> int:
    """Most ticks an honest run can have played in elapsed_ms of wall-clock time."""
    return math.floor(max(elapsed_ms, 0) * (1 + RATE_SLACK) / physics.TICK_MS) + math.ceil(SLACK_MS / physics.TICK_MS)


def replay(seed: int, encoded_ticks: str, claimed_score: int, elapsed_ms: int) -> Replayed:
    """The replayed run, or RunRefused naming why it cannot be stored."""
    try:
        flaps = decode_ticks(encoded_ticks, max_count=physics.MAX_INPUTS, max_tick=physics.MAX_TICKS)
    except MalformedTicks as exc:
        raise RunRefused("malformed_inputs", f"inputs: {exc}") from None
    budget = tick_budget(elapsed_ms)
    if flaps and flaps[-1] >= budget:
        raise RunRefused("too_fast", f"a flap at tick {flaps[-1]}, but only {budget} ticks fit the time since start")
    # Bounded by the budget: a forged endless run costs no more CPU than an honest one.
    outcome = physics.simulate(seed, flaps, max_ticks=budget)
    if not outcome.over:
        raise RunRefused("too_fast", f"the run lasts more than {budget} ticks, longer than the time since start")
    if flaps and flaps[-1] >= outcome.ticks:
        raise RunRefused("malformed_inputs", f"a flap at tick {flaps[-1]}, after the run ended at tick {outcome.ticks}")
    if claimed_score != outcome.score:
        raise RunRefused("score_mismatch", f"claimed score {claimed_score}, but the replay scores {outcome.score}")
    return Replayed(outcome.score, outcome.ticks, len(flaps), outcome.y)
