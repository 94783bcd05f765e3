"""Helpers for the game tests: page checks, a test autopilot, DB reads, the Node harness."""

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page

STATE = "window.__draftyBird.state()"
# Physics constants the autopilot needs; the page exposes the rest.
LOOKAHEAD_TICKS = 3
SAFETY_PX = 8


def open_game(page: Page, url: str, *, skip_name: bool = True) -> dict:
    """Load the game; on a first visit it asks for a name, which skip_name skips (as Guest)."""
    page.goto(url)
    page.wait_for_function("window.__draftyBird && window.__draftyBird.state().frames > 2", timeout=15_000)
    if skip_name and page.evaluate(STATE)["asking"]:
        page.get_by_role("button", name="Skip: play as Guest").click()
        page.wait_for_function("!window.__draftyBird.state().asking")
    return page.evaluate(STATE)


def play_stepped_to(page: Page, target: int) -> dict:
    """Start a run and play it on stepped time (fast) until it scores `target`, then crash.

    Only for servers that do not verify runs: a verifying server refuses a run played
    faster than real time (too_fast).
    """
    c = page.evaluate("window.__draftyBird.constants")
    page.evaluate("window.__draftyBird.manual(true); window.__draftyBird.owner.flap()")
    s = page.evaluate(STATE)
    for _ in range(20_000):
        if s["phase"] == "over":
            page.evaluate("window.__draftyBird.manual(false)")
            return page.evaluate("window.__draftyBird.lastRun()")
        if s["score"] < target and wants_flap(s, c):
            page.evaluate("window.__draftyBird.owner.flap()")
        s = page.evaluate(f"window.__draftyBird.frame({1000 / 60})")
    raise AssertionError(f"run never ended: {s}")


def wants_flap(state: dict, c: dict, margin_px: float = SAFETY_PX) -> bool:
    """Flap when, left alone, the bird would sink below the next gap's safe bottom soon."""
    if state["pendingFlap"]:
        return False
    nxt = state["next"]
    floor = min(nxt["gapY"] + nxt["gap"] / 2, c["BOARD_H"] - c["GROUND_H"]) - c["BIRD_R"] - margin_px
    y, vy = state["y"], state["vy"]
    for _ in range(LOOKAHEAD_TICKS):
        vy = min(vy + c["GRAVITY"], c["MAX_FALL_VY"])
        y += vy
    return y > floor


# The real-time autopilot runs inside the page, once per animation frame, so a slow
# Playwright round trip on a loaded machine cannot make it late. It presses Space the way
# a keyboard does (a keydown on window, through the game's own key handler), and looks
# ahead as many ticks as the last frame advanced, plus one: a coarse frame rate on a
# starved renderer must not let the bird sink past a gap between two looks.
AUTOPILOT_JS = """([target, lookahead, margin, timeoutMs]) => new Promise((resolve) => {
  const h = window.__draftyBird, c = h.constants;
  const deadline = performance.now() + timeoutMs;
  let lastTick = null;
  const wantsFlap = (s, ticks) => {
    if (s.pendingFlap) return false;
    const floor = Math.min(s.next.gapY + s.next.gap / 2, c.BOARD_H - c.GROUND_H) - c.BIRD_R - margin;
    let y = s.y, vy = s.vy;
    for (let i = 0; i < ticks; i++) { vy = Math.min(vy + c.GRAVITY, c.MAX_FALL_VY); y += vy; }
    return y > floor;
  };
  const step = () => {
    const s = h.state();
    if (s.phase === "over" || performance.now() > deadline) return resolve(s);
    const advanced = lastTick === null ? 1 : Math.max(1, s.tick - lastTick);
    lastTick = s.tick;
    if (s.phase === "playing" && s.score < target && wantsFlap(s, Math.max(lookahead, advanced + 1))) {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: " ", bubbles: true }));
    }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def autopilot_realtime(page: Page, target: int, timeout_s: float = 90) -> dict:
    """Play the running game in real time until it scores `target`, then stop flapping.

    Returns the final state once the run is over (the score may still be short of
    `target` if the bird crashed first).
    """
    end = page.evaluate(AUTOPILOT_JS, [target, LOOKAHEAD_TICKS, SAFETY_PX, timeout_s * 1000])
    if end["phase"] != "over":
        raise AssertionError(f"run did not end within {timeout_s}s: {end}")
    return end


def db_rows(db_path: Path, run_id: str | None = None) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        if run_id is None:
            return conn.execute("SELECT player, score, run_id FROM scores").fetchall()
        return conn.execute("SELECT player, score, run_id FROM scores WHERE run_id = ?", (run_id,)).fetchall()


HARNESS = Path(__file__).with_name("js_harness.mjs")


def run_js(*cases: dict) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the game-physics tests: apt-get install nodejs (make test does)")
    proc = subprocess.run(
        [node, str(HARNESS)], input=json.dumps(list(cases)), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
