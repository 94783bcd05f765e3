// The Drafty Bird game: a NiceGUI custom Vue component.
//
// Everything per frame happens here in the browser (rAF + fixed-step physics); the
// server sees one POST /game-start per run and one POST /score per finished run.
import * as P from "physics";
import { cleanPlayerName } from "player";

const COLORS = { navy: "#1C4C75", green: "#04B290", amber: "#FCAF1F", blue: "#2597EC", pale: "#F0F7F9", white: "#FFFFFF" };
const FONT = "Lato, system-ui, sans-serif";
const STORE_PLAYER = "draftyBird.player";
const STORE_QUEUE = "draftyBird.queue";
const RETRY_WINDOW_MS = 30000;
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 8000;
const START_TIMEOUT_MS = 1500;
// The server refuses bodies over 16 KiB (ops/body_limit.py); a very long run sends its
// score without the input list rather than not at all.
const MAX_BODY_CHARS = 15 * 1024;
const RESTART_GRACE_MS = 400; // a flap spammed into the wall does not skip the result
const STATUS_EVERY = 3;
const STATUS_LINES = [
  "Draft detected. Bird unimpressed.",
  "Somebody close that window!",
  "Leaking at regulatory levels.",
  "The HVAC inspector would weep.",
  "Insulation? Never heard of it.",
  "Still airborne. Still chilly.",
  "Your heating bill salutes you.",
  "Draught excluder not included.",
];

const CSS = `
.db-game{display:flex;flex-direction:column;gap:.4rem;font-family:${FONT};color:${COLORS.navy};width:100%}
.db-board{position:relative;width:100%;aspect-ratio:16/9;border-radius:10px;overflow:hidden;background:${COLORS.pale};box-shadow:0 1px 4px rgba(28,76,117,.25)}
.db-board canvas{display:block;width:100%;height:100%;touch-action:none;cursor:pointer;outline:none}
.db-board canvas:focus-visible{box-shadow:inset 0 0 0 3px ${COLORS.amber}}
.db-over{position:absolute;inset:0;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:.6rem;background:rgba(28,76,117,.55);color:${COLORS.white}}
.db-over h2{margin:0;font-size:clamp(1.1rem,4vw,2.2rem);font-weight:700}
.db-over p{margin:0;font-size:clamp(.85rem,2.2vw,1.1rem)}
.db-btn{font:inherit;font-weight:700;font-size:1rem;padding:.5rem 1.2rem;border:0;border-radius:6px;background:${COLORS.amber};color:${COLORS.navy};cursor:pointer}
.db-btn:focus-visible{outline:3px solid ${COLORS.white};outline-offset:2px}
.db-line{display:flex;flex-wrap:wrap;gap:.3rem 1rem;align-items:center;min-height:1.6rem;font-size:.95rem}
.db-status{font-style:italic}
.db-save{font-weight:700}
.db-name{display:flex;gap:.4rem;align-items:center;margin-left:auto}
.db-name input{font:inherit;padding:.2rem .4rem;border:1px solid ${COLORS.navy};border-radius:4px;width:11rem;max-width:45vw}
.db-err{color:#B3261E;font-size:.85rem}
.db-banner{padding:.35rem .7rem;border-radius:6px;background:${COLORS.amber};color:${COLORS.navy};font-weight:700}
`;

function injectCss() {
  if (document.getElementById("db-game-css")) return;
  const style = document.createElement("style");
  style.id = "db-game-css";
  style.textContent = CSS;
  document.head.appendChild(style);
}

function localId() {
  // Matches the server's run_id pattern; used only when /game-start is unreachable.
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "local-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0] & 0x7fffffff;
}

function readQueue() {
  try {
    const q = JSON.parse(localStorage.getItem(STORE_QUEUE) || "[]");
    return Array.isArray(q) ? q : [];
  } catch {
    return [];
  }
}

function writeQueue(q) {
  try {
    localStorage.setItem(STORE_QUEUE, JSON.stringify(q));
  } catch {
    /* storage full or disabled: the run is still retried while the page is open */
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default {
  props: { testHooks: Boolean },
  template: `
  <div class="db-game">
    <div class="db-board">
      <canvas ref="canvas" tabindex="0" role="img" :aria-label="ariaLabel"
        @pointerdown.prevent="onPointer"></canvas>
      <div v-if="phase === 'over'" class="db-over" @click="restart">
        <h2>Run complete</h2>
        <p>{{ score }} {{ score === 1 ? "duct" : "ducts" }} braved</p>
        <button ref="restart" class="db-btn" @click="restart">Play again (Space)</button>
      </div>
    </div>
    <div class="db-line">
      <span class="db-status" role="status" aria-live="polite">{{ status }}</span>
      <span class="db-save" aria-live="polite">{{ saveText }}</span>
      <span v-if="apiDown" class="db-banner" role="alert">API unreachable: scores are kept on this device</span>
      <label class="db-name">Name
        <input v-model="nameInput" maxlength="64" autocomplete="nickname" spellcheck="false"
          :aria-invalid="nameError ? 'true' : 'false'" aria-describedby="db-name-err" @input="onName" />
      </label>
      <span id="db-name-err" class="db-err" aria-live="polite">{{ nameError }}</span>
    </div>
  </div>`,
  data() {
    return {
      phase: "ready", // ready -> playing -> over -> ready
      score: 0,
      status: "Press Space, click or tap to flap.",
      saveText: "",
      apiDown: false,
      nameInput: "",
      nameError: "",
    };
  },
  computed: {
    ariaLabel() {
      const what = { ready: "ready to start", playing: `score ${this.score}`, over: `run complete, score ${this.score}` };
      return `Drafty Bird game board, ${what[this.phase]}. Space, click or tap to flap.`;
    },
  },
  mounted() {
    injectCss();
    // Non-reactive game state: Vue must not proxy what changes 60 times a second.
    this.g = {
      run: null,
      start: null, // {run_id, seed} for the next run, or a pending promise
      inputs: [],
      pendingFlap: false,
      clock: P.createClock(),
      prevY: 0,
      overAt: 0,
      spin: 0,
      frame: 0,
      firstFrameAt: null,
      manual: false,
      manualNow: 0,
      forcedSeed: null,
      lastRun: null,
      saves: [],
      raf: 0,
      // Honour the OS "reduce motion" setting: slower spin, still leak streaks, no hover.
      motion: window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 1,
    };
    this.playerName = "Guest";
    try {
      this.nameInput = localStorage.getItem(STORE_PLAYER) || "";
    } catch {
      this.nameInput = "";
    }
    this.onName();
    this.prepareRun();
    this.onKey = (e) => this.handleKey(e);
    window.addEventListener("keydown", this.onKey);
    this.resize = () => this.fitCanvas();
    this.observer = new ResizeObserver(this.resize);
    this.observer.observe(this.$refs.canvas);
    this.fitCanvas();
    if (this.testHooks) this.exposeTestHooks();
    this.loop = (now) => {
      this.frame(now);
      if (!this.g.manual) this.g.raf = requestAnimationFrame(this.loop);
    };
    this.g.raf = requestAnimationFrame(this.loop);
    this.flushQueue();
  },
  unmounted() {
    cancelAnimationFrame(this.g.raf);
    window.removeEventListener("keydown", this.onKey);
    this.observer.disconnect();
    if (window.__draftyBird && window.__draftyBird.owner === this) delete window.__draftyBird;
  },
  methods: {
    // ------------------------------------------------------------ input
    handleKey(e) {
      if (e.key !== " " && e.key !== "ArrowUp" && e.key !== "w") return;
      const t = e.target;
      // Typing a name, or Space on the restart button, keeps its native meaning.
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "BUTTON" || t.isContentEditable)) return;
      e.preventDefault(); // Space must not scroll the page
      if (e.repeat) return;
      this.flap();
    },
    onPointer() {
      this.$refs.canvas.focus({ preventScroll: true });
      this.flap();
    },
    flap() {
      if (this.phase === "over") return this.restart();
      if (this.phase === "ready") this.beginRun();
      this.g.pendingFlap = true;
    },
    onName() {
      const result = cleanPlayerName(this.nameInput);
      if (!result.ok) {
        this.nameError = `Name: ${result.error}`;
        return;
      }
      this.nameError = "";
      this.playerName = result.name;
      try {
        localStorage.setItem(STORE_PLAYER, this.nameInput.trim());
      } catch {
        /* private mode: the name lasts for this page only */
      }
    },

    // ------------------------------------------------------------ run lifecycle
    prepareRun() {
      // Ask for the next run's id and seed ahead of time, so the first flap never waits.
      const g = this.g;
      g.start = null;
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), START_TIMEOUT_MS);
      g.startPromise = fetch("/game-start", { method: "POST", signal: ctrl.signal })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
        .then((body) => {
          g.start = { run_id: body.run_id, seed: body.seed };
        })
        .catch(() => {
          g.start = { run_id: localId(), seed: randomSeed() };
        })
        .finally(() => clearTimeout(timer));
      g.run = P.createRun(0); // a placeholder course to draw behind the "ready" prompt
      g.prevY = g.run.y;
    },
    beginRun() {
      const g = this.g;
      // /game-start still pending (slow or down): play now on a local id and seed.
      const start = g.start || { run_id: localId(), seed: randomSeed() };
      g.start = null;
      if (g.forcedSeed !== null) start.seed = g.forcedSeed;
      g.runId = start.run_id;
      g.run = P.createRun(start.seed);
      g.prevY = g.run.y;
      g.inputs = [];
      g.truncated = false;
      g.clock = P.createClock();
      if (g.manual) P.advanceClock(g.clock, g.manualNow);
      this.score = 0;
      this.phase = "playing";
      this.status = "Flap through the leaky ducts!";
      this.saveText = "";
    },
    endRun() {
      const g = this.g;
      this.phase = "over";
      g.overAt = performance.now();
      this.status = `Run complete: ${this.score} ${this.score === 1 ? "point" : "points"}.`;
      g.lastRun = { run_id: g.runId, seed: g.run.seed, inputs: g.inputs.slice(), score: g.run.score, ticks: g.run.tick };
      const entry = { run_id: g.runId, player: this.playerName, score: g.run.score, inputs: g.truncated ? null : g.inputs };
      if (JSON.stringify(entry).length > MAX_BODY_CHARS) entry.inputs = null;
      this.submit(entry);
      this.$nextTick(() => this.$refs.restart && this.$refs.restart.focus());
    },
    restart() {
      if (this.phase !== "over" || performance.now() - this.g.overAt < RESTART_GRACE_MS) return;
      this.phase = "ready";
      this.status = "Press Space, click or tap to flap.";
      this.prepareRun();
      this.$nextTick(() => this.$refs.canvas.focus({ preventScroll: true }));
    },

    // ------------------------------------------------------------ frame
    frame(now) {
      const g = this.g;
      if (this.phase === "playing") {
        const ticks = P.advanceClock(g.clock, now);
        for (let i = 0; i < ticks && !g.run.over; i += 1) {
          const flap = g.pendingFlap;
          g.pendingFlap = false;
          if (flap) {
            if (g.inputs.length < P.MAX_INPUTS) g.inputs.push(g.run.tick);
            else g.truncated = true; // too long to replay; the score is still sent
          }
          g.prevY = g.run.y;
          const ev = P.step(g.run, flap);
          if (ev.scored) {
            this.score = g.run.score;
            if (this.score % STATUS_EVERY === 0) {
              this.status = STATUS_LINES[(this.score / STATUS_EVERY - 1) % STATUS_LINES.length];
            }
          }
          if (ev.ended) this.endRun();
        }
      } else if (this.phase === "ready") {
        // Gentle hover until the first flap; the course does not move.
        g.prevY = g.run.y;
        g.run.y = (P.BOARD_H - P.GROUND_H) / 2 + g.motion * 6 * Math.sin(now / 400);
      }
      this.draw(this.phase === "playing" ? P.clockAlpha(g.clock) : 1);
      g.frame += 1;
    },
    fitCanvas() {
      const c = this.$refs.canvas;
      const dpr = Math.min(window.devicePixelRatio || 1, 2);
      const w = Math.max(Math.round(c.clientWidth * dpr), 1);
      const h = Math.max(Math.round(c.clientHeight * dpr), 1);
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
      }
      this.draw(1);
    },

    // ------------------------------------------------------------ drawing
    draw(alpha) {
      const c = this.$refs.canvas;
      const ctx = c.getContext("2d");
      const g = this.g;
      if (!ctx || !g || !g.run) return;
      if (g.firstFrameAt === null) {
        g.firstFrameAt = performance.now();
        performance.mark("drafty:first-frame"); // read by bench/page_weight.py
      }
      const run = g.run;
      ctx.setTransform(c.width / P.BOARD_W, 0, 0, c.height / P.BOARD_H, 0, 0);
      const back = this.phase === "playing" ? P.SCROLL_VX * (1 - alpha) : 0;
      this.drawHouse(ctx, run.tick * P.SCROLL_VX - back);
      for (const d of run.ducts) this.drawDuct(ctx, d, d.x + back, run.tick);
      // Floor
      ctx.fillStyle = COLORS.green;
      ctx.fillRect(0, P.BOARD_H - P.GROUND_H, P.BOARD_W, P.GROUND_H);
      ctx.fillStyle = COLORS.navy;
      ctx.globalAlpha = 0.15;
      const off = (run.tick * P.SCROLL_VX) % 48;
      for (let x = -off; x < P.BOARD_W; x += 48) ctx.fillRect(x, P.BOARD_H - P.GROUND_H, 24, 6);
      ctx.globalAlpha = 1;
      const y = g.prevY + (run.y - g.prevY) * alpha;
      g.spin += (0.08 + Math.min(Math.abs(run.vy) * 0.02, 0.25) + Math.abs(run.draft) * 0.03) * (g.motion ? 1 : 0.25);
      this.drawDetector(ctx, P.BIRD_X, y, g.spin);
      // Score
      ctx.font = `700 56px ${FONT}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.lineWidth = 8;
      ctx.strokeStyle = COLORS.white;
      ctx.strokeText(String(run.score), P.BOARD_W / 2, 18);
      ctx.fillStyle = COLORS.navy;
      ctx.fillText(String(run.score), P.BOARD_W / 2, 18);
      if (this.phase === "ready") {
        ctx.font = `700 30px ${FONT}`;
        ctx.fillStyle = COLORS.navy;
        ctx.fillText("Space, click or tap to flap", P.BOARD_W / 2, 110);
      }
    },
    drawHouse(ctx, scroll) {
      // A slow parallax wall with windows and radiators: the house the draft runs through.
      ctx.fillStyle = COLORS.pale;
      ctx.fillRect(0, 0, P.BOARD_W, P.BOARD_H);
      const s = (scroll * 0.25) % 320;
      for (let x = -s; x < P.BOARD_W + 320; x += 320) {
        ctx.fillStyle = COLORS.white;
        ctx.fillRect(x + 40, 120, 150, 190);
        ctx.strokeStyle = COLORS.blue;
        ctx.globalAlpha = 0.35;
        ctx.lineWidth = 8;
        ctx.strokeRect(x + 40, 120, 150, 190);
        ctx.beginPath();
        ctx.moveTo(x + 115, 120);
        ctx.lineTo(x + 115, 310);
        ctx.moveTo(x + 40, 215);
        ctx.lineTo(x + 190, 215);
        ctx.stroke();
        ctx.fillStyle = COLORS.navy;
        ctx.globalAlpha = 0.12;
        for (let i = 0; i < 6; i += 1) ctx.fillRect(x + 215 + i * 14, 400, 9, 80);
        ctx.globalAlpha = 1;
      }
    },
    drawDuct(ctx, d, x, tick) {
      const top = d.gapY - d.gap / 2;
      const bottom = d.gapY + d.gap / 2;
      ctx.fillStyle = COLORS.navy;
      ctx.fillRect(x, 0, P.DUCT_W, top);
      ctx.fillRect(x, bottom, P.DUCT_W, P.BOARD_H - P.GROUND_H - bottom);
      // Flanges at the gap, and seams: the look of sheet-metal ductwork.
      ctx.fillStyle = COLORS.blue;
      ctx.fillRect(x - 6, top - 18, P.DUCT_W + 12, 18);
      ctx.fillRect(x - 6, bottom, P.DUCT_W + 12, 18);
      ctx.fillStyle = COLORS.white;
      ctx.globalAlpha = 0.18;
      for (let yy = top - 70; yy > 0; yy -= 70) ctx.fillRect(x, yy, P.DUCT_W, 3);
      for (let yy = bottom + 70; yy < P.BOARD_H - P.GROUND_H; yy += 70) ctx.fillRect(x, yy, P.DUCT_W, 3);
      ctx.globalAlpha = 1;
      // The leak: soft streaks drifting in the draft's direction, more for a stronger draft.
      ctx.strokeStyle = d.draftDir < 0 ? COLORS.green : COLORS.amber;
      ctx.lineWidth = 3;
      ctx.globalAlpha = 0.55;
      const drift = this.g.motion * ((tick * (1 + d.level)) % 40) * d.draftDir * -1;
      ctx.beginPath();
      for (let i = 0; i < d.level + 1; i += 1) {
        const sx = x + 14 + (i * (P.DUCT_W - 28)) / Math.max(d.level, 1);
        for (let yy = top + 10; yy < bottom - 20; yy += 40) {
          const y0 = yy + ((drift + 400) % 40);
          if (y0 > bottom - 14) continue;
          ctx.moveTo(sx, y0);
          ctx.lineTo(sx, y0 + 12);
        }
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      // Draft level badge on the lower duct.
      ctx.fillStyle = COLORS.amber;
      ctx.font = `700 20px ${FONT}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.fillText((d.draftDir < 0 ? "\u2191" : "\u2193").repeat(d.level), x + P.DUCT_W / 2, bottom + 26);
    },
    drawDetector(ctx, x, y, spin) {
      // The "Draft Detector": an anemometer whose cups spin faster in a stronger draft.
      ctx.save();
      ctx.translate(x, y);
      ctx.strokeStyle = COLORS.navy;
      ctx.lineWidth = 3;
      for (let i = 0; i < 3; i += 1) {
        const a = spin + (i * 2 * Math.PI) / 3;
        const ex = Math.cos(a) * 22;
        const ey = Math.sin(a) * 22;
        ctx.beginPath();
        ctx.moveTo(0, 0);
        ctx.lineTo(ex, ey);
        ctx.stroke();
        ctx.fillStyle = COLORS.blue;
        ctx.beginPath();
        ctx.arc(ex, ey, 7, a, a + Math.PI);
        ctx.fill();
      }
      ctx.fillStyle = COLORS.amber;
      ctx.beginPath();
      ctx.arc(0, 0, P.BIRD_R * 0.7, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = COLORS.navy;
      ctx.beginPath();
      ctx.arc(4, -3, 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.restore();
    },

    // ------------------------------------------------------------ saving scores
    async submit(entry) {
      // Queued first, so a tab closed mid-retry still sends the run on the next visit.
      writeQueue(readQueue().filter((e) => e.run_id !== entry.run_id).concat([entry]));
      const deadline = performance.now() + RETRY_WINDOW_MS;
      this.saveText = "saving...";
      for (let attempt = 0; ; attempt += 1) {
        const outcome = await this.post(entry);
        if (outcome !== "retry") return this.settle(entry, outcome);
        this.apiDown = true;
        this.saveText = "retrying...";
        // Exponential backoff with full jitter, within the retry window.
        const cap = Math.min(RETRY_BASE_MS * 2 ** attempt, RETRY_MAX_MS);
        const wait = cap / 2 + Math.random() * (cap / 2);
        if (performance.now() + wait > deadline) break;
        await sleep(wait);
      }
      this.saveText = "offline: saved on this device";
    },
    async post(entry) {
      // "retry" on a 5xx or network error; the parsed result, or {error} on a 4xx.
      let res;
      try {
        res = await fetch("/score", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(entry),
        });
      } catch {
        return "retry";
      }
      if (res.status >= 500 || res.status === 429) return "retry";
      let body = {};
      try {
        body = await res.json();
      } catch {
        body = {};
      }
      return res.ok ? { result: body } : { error: body.error || `HTTP ${res.status}` };
    },
    settle(entry, outcome) {
      // Stored, duplicate (stored before) and rejected all leave the queue: never resent.
      writeQueue(readQueue().filter((e) => e.run_id !== entry.run_id));
      this.apiDown = false;
      this.g.saves.push({ run_id: entry.run_id, ...outcome });
      if (outcome.error) {
        this.saveText = `not saved: ${outcome.error}`;
        return;
      }
      const r = outcome.result;
      this.saveText = `saved: #${r.rank.toLocaleString("en-US")} of ${r.total.toLocaleString("en-US")}`;
      this.$emit("score_saved", {
        run_id: entry.run_id,
        player: r.stored.player,
        score: r.stored.score,
        createdAt: r.stored.createdAt,
        rank: r.rank,
        total: r.total,
        duplicate: r.duplicate,
      });
    },
    async flushQueue() {
      // Runs left from an earlier visit: one attempt each; failures stay for next time.
      for (const entry of readQueue()) {
        const outcome = await this.post(entry);
        if (outcome === "retry") {
          this.apiDown = true;
          return;
        }
        this.settle(entry, outcome);
        this.saveText = outcome.error ? this.saveText : "saved a run kept on this device";
      }
    },

    // ------------------------------------------------------------ test hooks
    exposeTestHooks() {
      // Only with GAME_TEST_HOOKS=true: Playwright reads state and steps time.
      const vm = this;
      const g = this.g;
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
            firstFrameAt: g.firstFrameAt, saveText: vm.saveText, apiDown: vm.apiDown,
            next: { x: next.x, gapY: next.gapY, gap: next.gap, level: next.level, draftDir: next.draftDir },
          };
        },
        lastRun: () => g.lastRun,
        nextRun: () => g.start,
        saves: () => g.saves.slice(),
        queue: () => readQueue(),
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
    },
  },
};
