// Drafty Bird physics: pure, deterministic, no DOM.
//
// The browser runs it for play; a later server-side replay runs the same rules to
// verify a score. Only + - * / and comparisons on numbers, and Math.imul in the PRNG,
// so every engine (and a Python port) gets bit-identical runs for the same seed and
// flap ticks. Units: logical pixels and ticks (60 per second).

export const TICK_HZ = 60;
export const TICK_MS = 1000 / TICK_HZ;
export const BOARD_W = 960;
export const BOARD_H = 540;
export const GROUND_H = 40; // floor strip: touching it ends the run
export const CEILING_Y = 0;

export const BIRD_X = 260;
export const BIRD_R = 16;
export const GRAVITY = 0.4; // px/tick^2
export const FLAP_VY = -7; // px/tick, set (not added) on flap, like the original
export const MAX_FALL_VY = 11;

export const SCROLL_VX = 3; // px/tick the ducts move left
export const DUCT_W = 84;
export const DUCT_SPACING = 330; // px between duct left edges
export const FIRST_DUCT_X = BOARD_W + 40;
export const GAP_BY_LEVEL = [0, 200, 172, 148]; // gap height per draft level 1-3
export const GAP_MARGIN = 50; // min distance of a gap from ceiling and floor
export const MAX_GAP_SHIFT = 170; // cap on gap-centre change between neighbours
export const DRAFT_ACCEL = 0.04; // px/tick^2 per draft level, inside a duct's column

export const MAX_INPUTS = 5000; // the server's cap on a run's flap list (data/models.py)
export const MAX_TICKS = 60 * 60 * 60; // one hour of play: simulate() never spins forever
export const MAX_FRAME_MS = 250; // a stalled tab does not fast-forward into a wall

// Mulberry32: tiny, fast, good enough for level layout, identical in every JS engine.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeDuct(run, x) {
  const r = run.rand;
  const level = 1 + Math.floor(r() * 3);
  const gap = GAP_BY_LEVEL[level];
  const lo = GAP_MARGIN + gap / 2;
  const hi = BOARD_H - GROUND_H - GAP_MARGIN - gap / 2;
  let centre = lo + r() * (hi - lo);
  if (run.lastGapY !== null) {
    centre = Math.min(Math.max(centre, run.lastGapY - MAX_GAP_SHIFT), run.lastGapY + MAX_GAP_SHIFT);
  }
  run.lastGapY = centre;
  const draftDir = r() < 0.5 ? -1 : 1; // -1 pushes up, +1 pushes down
  return { x, gapY: centre, gap, level, draftDir, passed: false, id: run.nextDuctId++ };
}

// A fresh run. It starts in play: the first flap is usually at tick 0.
export function createRun(seed) {
  const run = {
    seed: seed >>> 0,
    rand: mulberry32(seed),
    tick: 0,
    y: (BOARD_H - GROUND_H) / 2,
    vy: 0,
    score: 0,
    over: false,
    ducts: [],
    lastGapY: null,
    nextDuctId: 0,
    draft: 0, // draft level acting on the bird this tick (0 = none), for drawing
  };
  for (let x = FIRST_DUCT_X; x < BOARD_W + DUCT_SPACING * 2; x += DUCT_SPACING) run.ducts.push(makeDuct(run, x));
  return run;
}

function hitsDuct(run, d) {
  // Circle vs the two rectangles of a duct, via the closest point on each.
  const cx = Math.min(Math.max(BIRD_X, d.x), d.x + DUCT_W);
  if ((BIRD_X - cx) * (BIRD_X - cx) >= BIRD_R * BIRD_R) return false;
  const top = d.gapY - d.gap / 2;
  const bottom = d.gapY + d.gap / 2;
  const dx = BIRD_X - cx;
  const cyTop = Math.min(run.y, top);
  const cyBottom = Math.max(run.y, bottom);
  const r2 = BIRD_R * BIRD_R;
  return dx * dx + (run.y - cyTop) * (run.y - cyTop) < r2 || dx * dx + (run.y - cyBottom) * (run.y - cyBottom) < r2;
}

// Advance one tick. Returns {scored, ended} so the caller can react (sound, status line).
export function step(run, flap) {
  if (run.over) return { scored: false, ended: false };
  if (flap) run.vy = FLAP_VY;
  run.vy = Math.min(run.vy + GRAVITY, MAX_FALL_VY);

  run.draft = 0;
  for (const d of run.ducts) {
    if (BIRD_X + BIRD_R > d.x && BIRD_X - BIRD_R < d.x + DUCT_W) {
      run.vy += d.draftDir * d.level * DRAFT_ACCEL;
      run.draft = d.draftDir * d.level;
    }
  }
  run.y += run.vy;
  if (run.y < CEILING_Y + BIRD_R) {
    run.y = CEILING_Y + BIRD_R;
    run.vy = 0;
  }

  let scored = false;
  for (const d of run.ducts) {
    d.x -= SCROLL_VX;
    if (!d.passed && d.x + DUCT_W < BIRD_X - BIRD_R) {
      d.passed = true;
      run.score += 1;
      scored = true;
    }
  }
  if (run.ducts[0].x + DUCT_W < 0) {
    run.ducts.shift();
    run.ducts.push(makeDuct(run, run.ducts[run.ducts.length - 1].x + DUCT_SPACING));
  }

  run.tick += 1;
  let ended = run.y + BIRD_R >= BOARD_H - GROUND_H;
  for (const d of run.ducts) if (!ended && hitsDuct(run, d)) ended = true;
  if (ended || run.tick >= MAX_TICKS) run.over = true;
  return { scored, ended: run.over };
}

// Replay a whole run: the same seed and flap ticks always give the same result.
export function simulate(seed, flapTicks, maxTicks = MAX_TICKS) {
  const flaps = new Set(flapTicks);
  const run = createRun(seed);
  while (!run.over && run.tick < maxTicks) step(run, flaps.has(run.tick));
  return { score: run.score, ticks: run.tick, over: run.over, y: run.y };
}

// Fixed-step clock: turns wall-clock frame times into whole ticks, carrying the
// remainder, so 30, 60, 120 and 144 Hz screens run the same number of ticks per second.
export function createClock() {
  return { last: null, acc: 0 };
}

export function advanceClock(clock, nowMs) {
  if (clock.last === null) {
    clock.last = nowMs;
    return 0;
  }
  const dt = Math.min(Math.max(nowMs - clock.last, 0), MAX_FRAME_MS);
  clock.last = nowMs;
  clock.acc += dt;
  // The epsilon absorbs float error so 1000/60 ms frames give exactly one tick each.
  const ticks = Math.floor((clock.acc + 1e-6) / TICK_MS);
  clock.acc = Math.max(clock.acc - ticks * TICK_MS, 0);
  return ticks;
}

// Fraction of a tick since the last one, for smooth drawing between ticks.
export function clockAlpha(clock) {
  return Math.min(clock.acc / TICK_MS, 1);
}
