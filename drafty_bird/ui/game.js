// The Drafty Bird game: a NiceGUI custom Vue component. It wires the modules beside it:
// physics.js (rules), renderer.js (canvas), queue.js + saver.js (saving scores),
// player.js (name rules) and test_hooks.js; its styles are game.css (added by game.py).
//
// Everything per frame happens here in the browser (rAF + fixed-step physics); the
// server sees one POST /game-start?ahead=true per run (fetched before the player is
// ready, so not counted), one "run_began" event when the run really starts (counted as
// started) and one POST /score per finished run that scored.
// Modules are imported by bare name through NiceGUI's import map (game.py dependencies):
// each file has its own cache-busted URL, so relative imports would not resolve.
import * as P from "physics";
import { cleanPlayerName } from "player";
import { createQueue } from "queue";
import { createRenderer } from "renderer";
import { buildEntry, createSaver } from "saver";
import { encodeTicks } from "ticks";
import { exposeTestHooks, removeTestHooks } from "test_hooks";

const STORE_PLAYER = "draftyBird.player";
// This device's best and its recent saved runs, so a reload still highlights them.
const STORE_MINE = "draftyBird.mine";
const MINE_KEEP = 20; // ui/board.py MINE_KEEP: the server takes at most this many run ids
const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/; // data/models.py RUN_ID_PATTERN
const MAX_BEST = 100000; // data/models.py MAX_SCORE
const START_TIMEOUT_MS = 1500;
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
// One status per save step. A retry is not an outage: the run is "kept" only when the
// retry window ran out and the run really waits in the device's queue.
const SAVE_TEXT = {
  saving: "saving\u2026",
  retrying: "saving\u2026 retrying",
  kept: "offline: saved on this device",
};

function points(n) {
  return `${n.toLocaleString("en-US")} ${n === 1 ? "point" : "points"}`;
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

function deviceStorage() {
  try {
    return window.localStorage; // the getter itself throws where storage is blocked
  } catch {
    return null;
  }
}

export default {
  props: { testHooks: Boolean, theme: Object },
  template: `
  <div class="db-game">
    <div class="db-board">
      <canvas ref="canvas" tabindex="0" role="img" :aria-label="ariaLabel"
        @pointerdown.prevent="onPointer"></canvas>
      <p v-if="phase === 'ready' && !asking" class="db-howto">{{ hint }} to flap.
        Green \u2191 streaks push you up, amber \u2193 streaks push you down.</p>
      <form v-if="asking" class="db-ask" @submit.prevent="commitName(true)">
        <h2>Who is flying?</h2>
        <p>Your name goes on the top 10.</p>
        <input ref="askName" v-model="nameInput" maxlength="64" autocomplete="nickname" spellcheck="false"
          placeholder="Your name" aria-label="Your name for the top 10"
          :aria-invalid="nameError ? 'true' : 'false'" aria-describedby="db-name-err" @input="onName" />
        <p class="db-err" v-if="nameError">{{ nameError }}</p>
        <div class="db-ask-btns">
          <button type="submit" class="db-btn" :disabled="!!nameError">Play</button>
          <button type="button" class="db-btn db-btn-quiet" @click="skipName">Skip: play as Guest</button>
        </div>
      </form>
      <div v-if="phase === 'over'" class="db-over" @click="restart">
        <h2>Run complete</h2>
        <p class="db-result">{{ scoreText }}</p>
        <p v-if="newBest" class="db-best">New personal best!</p>
        <p class="db-save" role="status" aria-live="polite">{{ saveText }}</p>
        <p v-if="placeText" class="db-place">{{ placeText }}</p>
        <button ref="restart" class="db-btn" @click="restart">Play again ({{ hint }})</button>
      </div>
    </div>
    <div class="db-line">
      <span class="db-status" role="status" aria-live="polite">{{ status }}</span>
      <span v-if="phase !== 'over'" class="db-save">{{ saveText }}</span>
      <span v-if="apiDown" class="db-banner" role="alert">Offline: runs are kept on this device</span>
      <label class="db-name">Name
        <input ref="name" v-model="nameInput" maxlength="64" autocomplete="nickname" spellcheck="false"
          placeholder="your name for the top 10" enterkeyhint="go"
          :aria-invalid="nameError ? 'true' : 'false'" aria-describedby="db-name-err" @input="onName"
          @keydown.enter.prevent="commitName(true)" />
      </label>
      <span id="db-name-err" class="db-err" aria-live="polite">{{ nameError || nameNote }}</span>
    </div>
  </div>`,
  data() {
    return {
      phase: "ready", // ready -> playing -> over -> ready
      score: 0,
      status: "Press Space, click or tap to flap.",
      saveText: "",
      placeText: "",
      newBest: false,
      apiDown: false,
      nameInput: "",
      nameError: "",
      nameNote: "",
      asking: false,
      touch: false,
    };
  },
  computed: {
    hint() {
      // The control the player is using: touch screens tap, everything else has Space.
      return this.touch ? "Tap" : "Space";
    },
    scoreText() {
      return points(this.score);
    },
    ariaLabel() {
      const what = { ready: "ready to start", playing: `score ${this.score}`, over: `run complete, score ${this.score}` };
      return `Drafty Bird game board, ${what[this.phase]}. Space, click or tap to flap.`;
    },
  },
  mounted() {
    // Non-reactive game state: Vue must not proxy what changes 60 times a second.
    this.g = {
      run: null,
      start: null, // {run_id, seed, token} for the next run; null while /game-start is pending
      inputs: [],
      pendingFlap: false,
      clock: P.createClock(),
      prevY: 0,
      overAt: 0,
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
    this.renderer = createRenderer(this.theme);
    this.storage = deviceStorage();
    this.queue = createQueue(this.storage);
    this.saver = createSaver({
      queue: this.queue,
      onStatus: (status) => this.onSaveStatus(status),
      onSettled: (entry, outcome, how) => this.onSettled(entry, outcome, how),
    });
    this.touch = !!(window.matchMedia && window.matchMedia("(hover: none) and (pointer: coarse)").matches);
    this.playerName = "Guest";
    let stored = null;
    try {
      stored = this.storage.getItem(STORE_PLAYER);
    } catch {
      stored = null;
    }
    this.nameInput = stored || "";
    this.onName();
    // First visit: ask for the name before the first run (a flap or Skip plays as Guest).
    this.asking = stored === null;
    if (this.asking) this.$nextTick(() => this.$refs.askName && this.$refs.askName.focus({ preventScroll: true }));
    this.mine = this.readMine();
    // Highlight this device's runs on the board again, and bring back its best. Only run ids:
    // the server looks the runs up (ui/page_events.py), and refuses anything but this shape.
    const runIds = this.mine.runs.map((m) => m && m.run_id).filter((id) => typeof id === "string" && RUN_ID.test(id));
    if (runIds.length || this.mine.best) {
      this.$emit("restore_mine", { best: this.mine.best, run_ids: runIds.slice(-MINE_KEEP) });
    }
    this.prepareRun();
    this.onKey = (e) => this.handleKey(e);
    window.addEventListener("keydown", this.onKey);
    this.resize = () => this.fitCanvas();
    this.observer = new ResizeObserver(this.resize);
    this.observer.observe(this.$refs.canvas);
    this.fitCanvas();
    if (this.testHooks) exposeTestHooks(this);
    this.loop = (now) => {
      this.frame(now);
      if (!this.g.manual) this.g.raf = requestAnimationFrame(this.loop);
    };
    this.g.raf = requestAnimationFrame(this.loop);
    this.saver.flush(); // runs left from an earlier visit: one attempt each
    this.saver.startRetrying(); // and again on a timer, so a kept run leaves once the API is back
  },
  unmounted() {
    cancelAnimationFrame(this.g.raf);
    this.saver.stopRetrying();
    window.removeEventListener("keydown", this.onKey);
    this.observer.disconnect();
    removeTestHooks(this);
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
    onPointer(e) {
      this.touch = e.pointerType === "touch";
      this.$refs.canvas.focus({ preventScroll: true });
      this.flap();
    },
    flap() {
      if (this.phase === "over") return this.restart();
      if (this.phase === "ready") {
        // A run is saved under the name shown: a refused name blocks play until fixed.
        if (this.nameError) return this.blockOnName();
        if (this.asking) this.commitName(false);
        this.beginRun();
      }
      this.g.pendingFlap = true;
    },
    blockOnName() {
      this.status = "Fix the name first, or clear it to play as Guest.";
      const field = this.asking ? this.$refs.askName : this.$refs.name;
      if (field) field.focus();
    },
    onName() {
      const result = cleanPlayerName(this.nameInput);
      if (!result.ok) {
        this.nameError = `Name: ${result.error}`;
        this.nameNote = "";
        return;
      }
      this.nameError = "";
      this.playerName = result.name;
      // Spaces are trimmed and runs of them collapsed: say so when what is stored differs.
      this.nameNote = result.name !== this.nameInput ? `saved as \u201c${result.name}\u201d` : "";
      if (this.nameNote && !this.nameInput.trim()) this.nameNote = "playing as Guest";
      this.remember(STORE_PLAYER, this.nameInput.trim());
    },
    // Enter in a name field, Play or a first flap: keep the name and go to the game.
    commitName(focusGame) {
      this.onName();
      if (this.nameError) return this.blockOnName();
      this.asking = false;
      this.remember(STORE_PLAYER, this.nameInput.trim());
      if (focusGame) this.$nextTick(() => this.$refs.canvas.focus({ preventScroll: true }));
    },
    skipName() {
      this.nameInput = "";
      this.commitName(true);
    },
    remember(key, value) {
      try {
        this.storage.setItem(key, typeof value === "string" ? value : JSON.stringify(value));
      } catch {
        /* private mode: kept for this page only */
      }
    },
    readMine() {
      try {
        const m = JSON.parse(this.storage.getItem(STORE_MINE) || "{}");
        const best = Number.isInteger(m.best) && m.best > 0 ? Math.min(m.best, MAX_BEST) : 0;
        return { best, runs: Array.isArray(m.runs) ? m.runs : [] };
      } catch {
        return { best: 0, runs: [] };
      }
    },

    // ------------------------------------------------------------ run lifecycle
    prepareRun() {
      // Ask for the next run's id and seed ahead of time, so the first flap never waits.
      const g = this.g;
      g.start = null;
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), START_TIMEOUT_MS);
      // ahead=true: not counted as started yet; "run_began" counts it at the first flap.
      fetch("/game-start?ahead=true", { method: "POST", signal: ctrl.signal })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
        .then((body) => {
          g.start = { run_id: body.run_id, seed: body.seed, token: body.token };
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
      g.token = start.token || null; // what the server checks the replay against
      g.run = P.createRun(start.seed);
      g.prevY = g.run.y;
      g.inputs = [];
      g.truncated = false;
      g.clock = P.createClock();
      if (g.manual) P.advanceClock(g.clock, g.manualNow);
      g.player = this.playerName; // the name shown when the run began is the one stored
      this.score = 0;
      this.phase = "playing";
      this.status = "Flap through the leaky ducts!";
      this.saveText = "";
      this.placeText = "";
      this.newBest = false;
      this.$emit("run_began", {});
    },
    endRun() {
      const g = this.g;
      this.phase = "over";
      g.overAt = performance.now();
      this.status = `Run complete: ${points(this.score)}.`;
      g.lastRun = { run_id: g.runId, seed: g.run.seed, inputs: g.inputs.slice(), score: g.run.score, ticks: g.run.tick };
      this.newBest = g.run.score > this.mine.best && g.run.score > 0;
      if (this.newBest) {
        this.mine.best = g.run.score;
        this.remember(STORE_MINE, this.mine);
      }
      if (g.run.score === 0) {
        // An accidental 0 would only fill the board; the API still takes 0 from other clients.
        this.saveText = "0 points: not saved";
      } else {
        this.saver.submit(
          buildEntry({
            runId: g.runId,
            player: g.player,
            score: g.run.score,
            seed: g.run.seed,
            token: g.token,
            ticks: g.truncated ? null : encodeTicks(g.inputs),
          }),
        );
      }
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
    draw(alpha) {
      const c = this.$refs.canvas;
      const ctx = c.getContext("2d");
      const g = this.g;
      if (!ctx || !g || !g.run) return;
      if (g.firstFrameAt === null) {
        g.firstFrameAt = performance.now();
        performance.mark("drafty:first-frame"); // read by bench/page_weight.py
      }
      const frame = { run: g.run, phase: this.phase, alpha, prevY: g.prevY, motion: g.motion, hint: !this.asking };
      this.renderer.draw(ctx, c.width, c.height, frame);
    },

    // ------------------------------------------------------------ saving scores
    onSaveStatus(status) {
      this.g.saveStatus = status; // read by the tests (test_hooks.js)
      if (status === "unreachable" || status === "kept") this.apiDown = true;
      if (SAVE_TEXT[status]) this.saveText = SAVE_TEXT[status];
    },
    // Where the run stands, in the board's words (ui/board.py place_text), from Python.
    // A kept run that drains later must not put its place on this run's result screen.
    showPlace(text, runId) {
      if (runId !== this.g.runId) return;
      this.placeText = text;
    },
    onSettled(entry, outcome, { fromQueue }) {
      this.apiDown = false;
      // A kept run drained after this run's own answer must not hide that answer.
      const keepText = fromQueue && entry.run_id !== this.g.runId && this.g.saves.some((s) => s.run_id === this.g.runId);
      this.g.saves.push({ run_id: entry.run_id, ...outcome });
      if (outcome.error) {
        // A refused run (422) says why, in the server's words; it is never sent again.
        if (!keepText) this.saveText = `not saved: ${outcome.error}`;
        return;
      }
      const r = outcome.result;
      const verified = r.verified ? " \u2713 verified" : "";
      if (!keepText) this.saveText = `saved as \u201c${r.stored.player}\u201d${verified}`;
      this.mine.runs = this.mine.runs
        .filter((m) => m.run_id !== entry.run_id)
        .concat([{ run_id: entry.run_id, player: r.stored.player, score: r.stored.score, createdAt: r.stored.createdAt }])
        .slice(-MINE_KEEP);
      this.mine.best = Math.max(this.mine.best, r.stored.score);
      this.remember(STORE_MINE, this.mine);
      // The run id only: the server looks the run up and tells the page where it stands.
      if (RUN_ID.test(entry.run_id)) {
        this.$emit("score_saved", { run_id: entry.run_id, best: Math.min(this.mine.best, MAX_BEST) });
      }
      if (fromQueue && !keepText) this.saveText = "saved a run kept on this device";
    },
  },
};
