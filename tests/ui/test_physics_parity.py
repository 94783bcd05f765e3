"""physics.js and its Python port (drafty_bird/replay/physics.py) give bit-identical runs.

The server stores the score its replay gives, so any drift between the browser and the
port would refuse honest runs. physics.js itself runs here under the machine's Node and
under real Chromium (Playwright), against the port, on ~10,000 generated runs each;
the final y is compared by its 64 bits. The hash pin makes any edit of physics.js fail
until the port has been checked against it.
"""

import hashlib
import json
import time
from collections import Counter

import pytest
from playwright.sync_api import Page, Route

from drafty_bird.replay import physics
from tests.ui.parity import PARITY_MJS, PHYSICS_JS, corpus, node, py_results

ORIGIN = "http://parity.test"


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return corpus()


@pytest.fixture(scope="module")
def expected(cases: list[dict]) -> list[list]:
    started = time.process_time()
    results = py_results(cases)
    cpu = time.process_time() - started
    print(f"python port: {len(cases)} runs, {sum(r[1] for r in results):,} ticks, {cpu:.2f} s CPU")
    return results


def _first_mismatches(cases: list[dict], got: list, want: list, n: int = 5) -> list[str]:
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if list(g) != list(w)]
    return [f"{len(bad)} runs differ"] + [f"case {i} seed={cases[i]['seed']} js={got[i]} py={want[i]}" for i in bad[:n]]


def test_the_corpus_covers_the_adversarial_cases(cases: list[dict], expected: list[list]) -> None:
    assert len(cases) >= 10_000
    flaps = [c.get("every", len(c.get("flaps", []))) for c in cases]
    assert flaps.count(0) >= 100, "never flap"
    assert flaps.count(physics.MAX_INPUTS) >= 50, "exactly MAX_INPUTS flaps (every tick and long autopilot runs)"
    assert sum(r[1] == physics.MAX_TICKS for r in expected) >= 2, "runs reaching MAX_TICKS"
    scores = Counter(min(r[0], 10) for r in expected)
    assert all(scores[k] >= 30 for k in range(11)), f"scores 0-10 all common: {sorted(scores.items())}"
    assert sum(r[2] == 0 for r in expected) >= 50, "runs cut by simulate()'s maxTicks"


def test_node_runs_physics_js_bit_identically_to_the_port(cases: list[dict], expected: list[list]) -> None:
    got = node({"op": "run", "cases": cases})
    assert got == expected, "\n".join(_first_mismatches(cases, got, expected))


@pytest.mark.browser
def test_chromium_runs_physics_js_bit_identically_to_the_port(
    page: Page, cases: list[dict], expected: list[list]
) -> None:
    # physics.js and the runner, byte for byte from the repo, served on a made-up origin.
    files = {"/physics.js": PHYSICS_JS, "/parity.mjs": PARITY_MJS}

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path in files:
            route.fulfill(body=files[path].read_bytes(), content_type="text/javascript")
        else:
            route.fulfill(body="<!doctype html><title>parity</title>", content_type="text/html")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(ORIGIN + "/")
    # One JSON string each way: Playwright's per-value serialisation of 10,000 runs is slow.
    got = json.loads(
        page.evaluate(
            """async (cases) => {
                const P = await import("/physics.js");
                const { runCases } = await import("/parity.mjs");
                return JSON.stringify(runCases(P, JSON.parse(cases)));
            }""",
            json.dumps(cases),
        )
    )
    assert got == expected, "\n".join(_first_mismatches(cases, got, expected))


def test_every_constant_of_physics_js_matches_the_port() -> None:
    js = node({"op": "constants"})
    for name, value in js.items():
        py = getattr(physics, name)
        assert (list(py) if isinstance(py, tuple) else py) == value, name
    assert len(js) >= 20


def test_physics_js_is_the_version_the_port_was_checked_against() -> None:
    """Edited physics.js? Port the change to drafty_bird/replay/physics.py, make the parity
    tests pass, then set PHYSICS_JS_SHA256 there to the hash below."""
    digest = hashlib.sha256(PHYSICS_JS.read_bytes()).hexdigest()
    assert digest == physics.PHYSICS_JS_SHA256, f"physics.js changed (sha256 {digest}): re-port and re-pin"
