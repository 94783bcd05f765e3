// Parity runner shared by Node (parity_node.mjs) and Chromium (test_physics_parity.py):
// the same code drives physics.js in both, given the module as P.

// Exact bits of a double, as 16 hex digits (big-endian), for bit-for-bit comparison.
function bits(x) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  let out = "";
  for (let i = 0; i < 8; i += 1) out += view.getUint8(i).toString(16).padStart(2, "0");
  return out;
}

function flapsOf(c) {
  if (c.every === undefined) return c.flaps;
  return Array.from({ length: c.every }, (_, i) => i);
}

// One result per case: simulate()'s [score, ticks, over ? 1 : 0, bits of the final y], then
// the same run stepped by hand: bits of its final vy and of the last duct's gap centre (the
// PRNG and layout, which y alone can miss), and the number of ducts made.
export function runCases(P, cases) {
  return cases.map((c) => {
    const flaps = flapsOf(c);
    const r = c.maxTicks === undefined ? P.simulate(c.seed, flaps) : P.simulate(c.seed, flaps, c.maxTicks);
    const maxTicks = c.maxTicks === undefined ? P.MAX_TICKS : c.maxTicks;
    const set = new Set(flaps);
    const run = P.createRun(c.seed);
    while (!run.over && run.tick < maxTicks) P.step(run, set.has(run.tick));
    if (run.tick !== r.ticks || run.y !== r.y) throw new Error(`step() and simulate() disagree on seed ${c.seed}`);
    return [r.score, r.ticks, r.over ? 1 : 0, bits(r.y), bits(run.vy), bits(run.lastGapY), run.nextDuctId];
  });
}

// Flap ticks from a look-ahead autopilot with a margin, random decision flips (noise),
// and a stop: after stopTick or maxFlaps flaps the bird is left to fall.
export function plan(P, specs) {
  return specs.map(({ seed, margin, noise, noiseSeed, stopTick, maxFlaps }) => {
    const run = P.createRun(seed);
    const rand = P.mulberry32(noiseSeed);
    const flaps = [];
    while (!run.over) {
      let f = false;
      if (run.tick < stopTick && flaps.length < maxFlaps) {
        const next = run.ducts.find((d) => d.x + P.DUCT_W > P.BIRD_X - P.BIRD_R);
        const floor = Math.min(next.gapY + next.gap / 2, P.BOARD_H - P.GROUND_H) - P.BIRD_R - margin;
        let y = run.y;
        let vy = run.vy;
        for (let k = 0; k < 3; k += 1) {
          vy = Math.min(vy + P.GRAVITY, P.MAX_FALL_VY);
          y += vy;
        }
        f = y > floor;
        if (rand() < noise) f = !f;
      }
      if (f) flaps.push(run.tick);
      P.step(run, f);
    }
    return flaps;
  });
}

// Every exported number or array of physics.js, for comparison with the port's constants.
export function constants(P) {
  const out = {};
  for (const [k, v] of Object.entries(P)) if (typeof v !== "function") out[k] = v;
  return out;
}
