"""A line-for-line port of drafty_bird/ui/physics.js, for replaying a run on the server.

Bit-identical with every JS engine: JS numbers and Python floats are both IEEE-754
doubles, + - * / are correctly rounded in both, and the PRNG keeps to 32-bit unsigned
arithmetic (`>>> 0` and Math.imul become `& 0xFFFFFFFF`). Duct x positions are whole
numbers in both (integers from 1000 down in steps of 3), so Python ints are exact here.
tests/replay/test_parity.py replays thousands of runs through physics.js under Node and
Chromium and through this module, comparing the final y's bits; a hash pin fails the
suite when physics.js changes and this port was not re-checked.

Only what decides a run's outcome is ported: drawing-only state (run.draft) and the
frame clock are left out.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

# sha256 of the physics.js this port matches. Change physics.js -> port the change here,
# run tests/replay, then update the pin (tests/replay/test_parity.py says how).
PHYSICS_JS_SHA256 = "cc0323385350770eaabca47e5a0165757e662e65a29ca881daa55a49738362e6"

TICK_HZ = 60
TICK_MS = 1000 / TICK_HZ
BOARD_W = 960
BOARD_H = 540
GROUND_H = 40
CEILING_Y = 0

BIRD_X = 260
BIRD_R = 16
GRAVITY = 0.4
FLAP_VY = -7.0
MAX_FALL_VY = 11.0  # a float, so min() never turns vy into an int (same value either way)

SCROLL_VX = 3
DUCT_W = 84
DUCT_SPACING = 330
FIRST_DUCT_X = BOARD_W + 40
GAP_BY_LEVEL = (0, 200, 172, 148)
GAP_MARGIN = 50
MAX_GAP_SHIFT = 170
DRAFT_ACCEL = 0.04

MAX_INPUTS = 5000
MAX_TICKS = 60 * 60 * 60
MAX_FRAME_MS = 250

_U32 = 0xFFFFFFFF
Ticks = list[int] | tuple[int, ...] | set[int] | range
_R2 = BIRD_R * BIRD_R
_FLOOR_Y = BOARD_H - GROUND_H - BIRD_R  # y at which the bird touches the floor
_CEIL_Y = CEILING_Y + BIRD_R
_CEIL_Y_F = float(_CEIL_Y)
_NO_FLAPS: frozenset[int] = frozenset()
# A duct acts on the bird (draft) while x is in (BIRD_X - BIRD_R - DUCT_W, BIRD_X + BIRD_R).
_DRAFT_LO = BIRD_X - BIRD_R - DUCT_W
_DRAFT_HI = BIRD_X + BIRD_R


def mulberry32(seed: int) -> Callable[[], float]:
    """The same generator as physics.js: uint32 state, floats in [0, 1)."""
    a = seed & _U32

    def next_() -> float:
        nonlocal a
        a = (a + 0x6D2B79F5) & _U32
        t = a
        t = ((t ^ (t >> 15)) * (t | 1)) & _U32
        t = (t ^ (t + ((t ^ (t >> 7)) * (t | 61)))) & _U32
        return (t ^ (t >> 14)) / 4294967296

    return next_


class Duct:
    __slots__ = ("bottom", "draft_dir", "gap", "gap_y", "id", "level", "passed", "push", "top", "x")

    def __init__(self, x: int, gap_y: float, gap: int, level: int, draft_dir: int, id_: int) -> None:
        self.x = x
        self.gap_y = gap_y
        self.gap = gap
        self.level = level
        self.draft_dir = draft_dir
        self.passed = False
        self.id = id_
        # Precomputed once; the same expressions physics.js evaluates on every tick.
        self.top = gap_y - gap / 2
        self.bottom = gap_y + gap / 2
        self.push = draft_dir * level * DRAFT_ACCEL


class Run:
    __slots__ = ("ducts", "last_gap_y", "next_duct_id", "over", "rand", "score", "seed", "tick", "vy", "y")

    def __init__(self, seed: int) -> None:
        self.seed = seed & _U32
        self.rand = mulberry32(seed)
        self.tick = 0
        self.y = (BOARD_H - GROUND_H) / 2
        self.vy = 0.0
        self.score = 0
        self.over = False
        self.ducts: list[Duct] = []
        self.last_gap_y: float | None = None
        self.next_duct_id = 0
        x = FIRST_DUCT_X
        while x < BOARD_W + DUCT_SPACING * 2:
            self.ducts.append(_make_duct(self, x))
            x += DUCT_SPACING


def _make_duct(run: Run, x: int) -> Duct:
    r = run.rand
    level = 1 + math.floor(r() * 3)
    gap = GAP_BY_LEVEL[level]
    lo = GAP_MARGIN + gap / 2
    hi = BOARD_H - GROUND_H - GAP_MARGIN - gap / 2
    centre = lo + r() * (hi - lo)
    if run.last_gap_y is not None:
        centre = min(max(centre, run.last_gap_y - MAX_GAP_SHIFT), run.last_gap_y + MAX_GAP_SHIFT)
    run.last_gap_y = centre
    draft_dir = -1 if r() < 0.5 else 1
    duct = Duct(x, centre, gap, level, draft_dir, run.next_duct_id)
    run.next_duct_id += 1
    return duct


def create_run(seed: int) -> Run:
    return Run(seed)


def _advance(run: Run, flaps: "set[int] | frozenset[int]", max_ticks: int) -> None:
    """physics.js step() until the run is over or reaches max_ticks, on local variables.

    One loop serves both step() and simulate(), so the replay the server runs is the code
    the parity tests check. A duct's x is the same in the draft, scoring and collision
    tests of physics.js; hitsDuct can only be true while (BIRD_X - cx)^2 < BIRD_R^2, which
    is exactly the draft band _DRAFT_LO < x < _DRAFT_HI, so both use that band.
    """
    ducts = run.ducts
    y = run.y
    vy = run.vy
    tick = run.tick
    score = run.score
    over = run.over
    while not over and tick < max_ticks:
        if tick in flaps:
            vy = FLAP_VY
        vy += GRAVITY
        if vy > MAX_FALL_VY:  # Math.min(vy + GRAVITY, MAX_FALL_VY)
            vy = MAX_FALL_VY
        for d in ducts:
            if _DRAFT_LO < d.x < _DRAFT_HI:
                vy += d.push
        y += vy
        if y < _CEIL_Y:
            y = _CEIL_Y_F
            vy = 0.0

        for d in ducts:
            d.x -= SCROLL_VX
            if not d.passed and d.x + DUCT_W < BIRD_X - BIRD_R:
                d.passed = True
                score += 1
        if ducts[0].x + DUCT_W < 0:
            del ducts[0]
            ducts.append(_make_duct(run, ducts[-1].x + DUCT_SPACING))

        tick += 1
        over = y + BIRD_R >= BOARD_H - GROUND_H or tick >= MAX_TICKS
        if not over:
            for d in ducts:
                x = d.x
                if _DRAFT_LO < x < _DRAFT_HI:
                    # hitsDuct: the closest point of each rectangle to the bird's centre.
                    cx = BIRD_X if x <= BIRD_X else x
                    if cx > x + DUCT_W:
                        cx = x + DUCT_W
                    dx2 = (BIRD_X - cx) * (BIRD_X - cx)
                    top = d.top
                    bottom = d.bottom
                    cy_top = y if y < top else top
                    cy_bottom = y if y > bottom else bottom
                    if dx2 + (y - cy_top) * (y - cy_top) < _R2 or dx2 + (y - cy_bottom) * (y - cy_bottom) < _R2:
                        over = True
                        break
    run.y = y
    run.vy = vy
    run.tick = tick
    run.score = score
    run.over = over


def step(run: Run, flap: bool) -> bool:
    """Advance one tick; returns whether the run is over (physics.js step's `ended`)."""
    if run.over:
        return False
    _advance(run, {run.tick} if flap else _NO_FLAPS, run.tick + 1)
    return run.over


@dataclass(frozen=True)
class Outcome:
    score: int
    ticks: int
    over: bool
    y: float


def simulate(seed: int, flap_ticks: Ticks, max_ticks: int = MAX_TICKS) -> Outcome:
    """Replay a whole run: physics.js simulate(), same result to the last bit."""
    run = play(seed, flap_ticks, max_ticks)
    return Outcome(run.score, run.tick, run.over, run.y)


def play(seed: int, flap_ticks: Ticks, max_ticks: int = MAX_TICKS) -> Run:
    """The run's whole final state after simulate()'s loop (the parity tests compare more than the outcome)."""
    run = Run(seed)
    _advance(run, set(flap_ticks), max_ticks)
    return run
