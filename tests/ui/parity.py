"""The run corpus for the physics.js <-> drafty_bird.replay.physics parity tests.

Deterministic (fixed seeds), about 10,000 runs: random flaps at many densities, a noisy
autopilot stopped at random points (crosses ducts, dies on tops, bottoms and corners),
and the adversarial cases: never flap, flap on every tick, exactly MAX_INPUTS flaps,
reaching MAX_TICKS, simulate()'s maxTicks cut-off, odd seeds, unsorted and repeated ticks.
"""

import json
import math
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drafty_bird.replay import physics

NODE_RUNNER = Path(__file__).with_name("parity_node.mjs")
PARITY_MJS = NODE_RUNNER.with_name("parity.mjs")
PHYSICS_JS = Path(physics.__file__).resolve().parents[1] / "ui" / "physics.js"

EDGE_SEEDS = [0, 1, 2, 2**31 - 1, 2**31, 2**32 - 1, 2**32, -1, -(2**31)]


def node(request: dict) -> Any:  # JSON: the shape depends on the op
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("Node.js is required for the parity tests: apt-get install nodejs (make test does)")
    proc = subprocess.run(
        [exe, str(NODE_RUNNER)], input=json.dumps(request), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def py_results(cases: list[dict]) -> list[list]:
    """The port's results in the runner's shape (parity.mjs runCases)."""
    out = []
    for c in cases:
        flaps = range(c["every"]) if "every" in c else c["flaps"]
        r = physics.play(c["seed"], flaps, c.get("maxTicks", physics.MAX_TICKS))
        out.append([r.score, r.tick, int(r.over), _bits(r.y), _bits(r.vy), _bits(r.last_gap_y), r.next_duct_id])
    return out


def _bits(x: float | None) -> str:
    return struct.pack(">d", x).hex()


def _random_flaps(rng: random.Random, density: float, horizon: int) -> list[int]:
    # Geometric gaps: the same as a coin per tick, without one random() per tick.
    flaps: list[int] = []
    t = -1
    while True:
        t += 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - density))
        if t >= horizon:
            return flaps
        flaps.append(t)


def corpus(n_random: int = 7_000, n_autopilot: int = 2_900) -> list[dict]:
    rng = random.Random(20261130)
    seeds = lambda n: [rng.randrange(2**31) for _ in range(n)]  # noqa: E731 - local shorthand

    cases: list[dict] = []
    for seed in EDGE_SEEDS:
        cases += [
            {"seed": seed, "flaps": []},
            {"seed": seed, "every": 400},
            {"seed": seed, "flaps": list(range(0, 900, 29))},
        ]
    cases += [{"seed": s, "flaps": []} for s in seeds(100)]  # never flap
    cases += [{"seed": s, "every": physics.MAX_INPUTS} for s in seeds(50)]  # flap every tick (= MAX_INPUTS flaps)
    for s in seeds(n_random):
        density = rng.choice([0.005, 0.02, 0.04, 0.06, 0.08, 0.12, 0.2, 0.4])
        # Random flapping rarely outlives the first duct (tick ~240): 600 ticks of flaps is plenty.
        cases.append({"seed": s, "flaps": _random_flaps(rng, density, 600)})
    # Odd inputs simulate() accepts: unsorted, repeated, far past the end.
    for s in seeds(20):
        flaps = _random_flaps(rng, 0.06, 600)
        cases.append({"seed": s, "flaps": [*sorted(flaps * 2, reverse=True), 10**6]})

    specs: list[dict[str, float]] = []
    for s in seeds(n_autopilot):
        roll = rng.random()
        stop = rng.randrange(600) if roll < 0.7 else rng.randrange(600, 2_400) if roll < 0.96 else rng.randrange(9_000)
        specs.append(
            {
                "seed": s,
                "margin": rng.choice([0, 4, 8, 12, 20]),
                "noise": rng.choice([0, 0, 0.002, 0.01, 0.03]),
                "noiseSeed": rng.randrange(2**31),
                "stopTick": stop,
                "maxFlaps": physics.MAX_INPUTS,
            }
        )
    # Exactly MAX_INPUTS flaps of a long autopilot run; and runs that reach MAX_TICKS.
    long_specs: list[dict[str, float]] = [
        {"seed": s, "margin": 8, "noise": 0, "noiseSeed": 1, "stopTick": physics.MAX_TICKS, "maxFlaps": cap}
        for s, cap in [(5, physics.MAX_INPUTS), (77, physics.MAX_INPUTS), (5, 10**6), (123456789, 10**6)]
    ]
    planned = node({"op": "plan", "specs": specs + long_specs})
    cases += [{"seed": spec["seed"], "flaps": flaps} for spec, flaps in zip(specs + long_specs, planned, strict=True)]
    # simulate()'s own cut-off, mid-run.
    for spec, flaps in list(zip(specs, planned, strict=False))[:50]:
        cases.append({"seed": spec["seed"], "flaps": flaps, "maxTicks": 1 + len(flaps) * 7})
    return cases
