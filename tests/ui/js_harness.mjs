// Runs the game's pure browser modules under Node for pytest.
// Usage: node js_harness.mjs < cases.json ; prints one JSON result per case, in order.
import { readFileSync } from "node:fs";
import * as P from "../../drafty_bird/ui/physics.js";
import { cleanPlayerName, letterScript } from "../../drafty_bird/ui/player.js";

// The same look-ahead policy the browser tests use: flap when the bird would sink
// below the gap's safe bottom within 3 ticks.
function policy(run) {
  const next = run.ducts.find((d) => d.x + P.DUCT_W > P.BIRD_X - P.BIRD_R);
  const floor = Math.min(next.gapY + next.gap / 2, P.BOARD_H - P.GROUND_H) - P.BIRD_R - 8;
  let y = run.y;
  let vy = run.vy;
  for (let k = 0; k < 3; k += 1) {
    vy = Math.min(vy + P.GRAVITY, P.MAX_FALL_VY);
    y += vy;
  }
  return y > floor;
}

// A game loop as the browser runs it: frames at `hz` (optionally jittered), a flap
// key pressed before the frame in which tick t is next, consumed by the next tick.
// Returns the inputs the game recorded, which is what the server will replay.
function playAtHz(seed, flapTicks, hz, jitterMs = 0) {
  const run = P.createRun(seed);
  const clock = P.createClock();
  const flaps = new Set(flapTicks);
  const recorded = [];
  let now = 1000;
  let wobble = 1;
  let pending = false;
  P.advanceClock(clock, now);
  while (!run.over && run.tick < P.MAX_TICKS) {
    if (flaps.has(run.tick)) pending = true;
    now += 1000 / hz + jitterMs * (wobble = -wobble);
    const ticks = P.advanceClock(clock, now);
    for (let i = 0; i < ticks && !run.over; i += 1) {
      if (pending) recorded.push(run.tick);
      P.step(run, pending);
      pending = false;
    }
  }
  return { score: run.score, ticks: run.tick, recorded };
}

const ops = {
  simulate: ({ seed, flaps }) => P.simulate(seed, flaps),
  autopilot: ({ seed, maxTicks }) => {
    const run = P.createRun(seed);
    const flaps = [];
    // Plays until maxTicks, then lets the bird fall: every run ends in a collision.
    while (!run.over) {
      const f = run.tick < maxTicks && policy(run);
      if (f) flaps.push(run.tick);
      P.step(run, f);
    }
    return { score: run.score, ticks: run.tick, flaps };
  },
  ticksForFrames: ({ hz, seconds, jitterMs = 0 }) => {
    const clock = P.createClock();
    let now = 0;
    let ticks = P.advanceClock(clock, now);
    let wobble = 1;
    for (let i = 0; i < Math.round(hz * seconds); i += 1) {
      now += 1000 / hz + jitterMs * (wobble = -wobble);
      ticks += P.advanceClock(clock, now);
    }
    return { ticks };
  },
  stall: ({ gapMs }) => {
    const clock = P.createClock();
    P.advanceClock(clock, 0);
    return { ticks: P.advanceClock(clock, gapMs) };
  },
  playAtHz: ({ seed, flaps, hz, jitterMs }) => playAtHz(seed, flaps, hz, jitterMs),
  layout: ({ seed, n }) => {
    const run = P.createRun(seed);
    const out = [];
    while (out.length < n && !run.over) {
      for (const d of run.ducts) if (!out.some((o) => o.id === d.id)) out.push({ id: d.id, gapY: d.gapY, gap: d.gap, level: d.level });
      P.step(run, run.y > 300); // keep it alive-ish; only the layout matters here
    }
    return { ducts: out.slice(0, n) };
  },
  constants: () => ({ BOARD_W: P.BOARD_W, BOARD_H: P.BOARD_H, TICK_HZ: P.TICK_HZ, GAP_BY_LEVEL: P.GAP_BY_LEVEL }),
  cleanName: ({ raw }) => cleanPlayerName(raw),
  // Every letter up to `below` that player.js files under a lookalike script: {codePoint: 0|1|2}.
  letterScripts: ({ below }) => {
    const found = {};
    for (let cp = 0; cp < below; cp += 1) {
      const script = letterScript(String.fromCodePoint(cp));
      if (script >= 0) found[cp] = script;
    }
    return found;
  },
};

const cases = JSON.parse(readFileSync(0, "utf8"));
const results = cases.map(({ op, ...args }) => ops[op](args));
process.stdout.write(JSON.stringify(results));
