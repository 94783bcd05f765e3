// window.__draftyBird, only with GAME_TEST_HOOKS=true: Playwright reads the game state
// and steps time through it. `vm` is the mounted game component (game.js).
import * as P from "physics";

export function exposeTestHooks(vm) {
  const g = vm.g;
  window.__draftyBird = {
    owner: vm,
    constants: { BOARD_W: P.BOARD_W, BOARD_H: P.BOARD_H, BIRD_X: P.BIRD_X, BIRD_R: P.BIRD_R, DUCT_W: P.DUCT_W,
      GRAVITY: P.GRAVITY, MAX_FALL_VY: P.MAX_FALL_VY, GROUND_H: P.GROUND_H, TICK_MS: P.TICK_MS },
    state() {
      const run = g.run;
      const next = run.ducts.find((d) => d.x + P.DUCT_W > P.BIRD_X - P.BIRD_R) || run.ducts[0];
      return {
        phase: vm.phase, tick: run.tick, y: run.y, vy: run.vy, score: run.score, seed: run.seed,
        runId: g.runId, inputs: g.inputs.length, pendingFlap: g.pendingFlap, frames: g.frame,
        firstFrameAt: g.firstFrameAt, saveText: vm.saveText, saveStatus: g.saveStatus, apiDown: vm.apiDown,
        asking: vm.asking, placeText: vm.placeText, newBest: vm.newBest, player: g.player,
        next: { x: next.x, gapY: next.gapY, gap: next.gap, level: next.level, draftDir: next.draftDir },
      };
    },
    lastRun: () => g.lastRun,
    nextRun: () => g.start,
    saves: () => g.saves.slice(),
    queue: () => vm.queue.all(),
    // Stop rAF; the test then calls frame(dtMs) to emulate any refresh rate.
    manual(on) {
      g.manual = on;
      cancelAnimationFrame(g.raf);
      g.manualNow = performance.now();
      g.clock.last = null;
      if (!on) g.raf = requestAnimationFrame(vm.loop);
    },
    frame(dtMs) {
      g.manualNow += dtMs;
      vm.frame(g.manualNow);
      return this.state();
    },
    forceSeed(seed) {
      g.forcedSeed = seed;
    },
  };
}

export function removeTestHooks(vm) {
  if (window.__draftyBird && window.__draftyBird.owner === vm) delete window.__draftyBird;
}
