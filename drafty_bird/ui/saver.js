// Saving finished runs: what a run sends to POST /score, and how hard to try.
//
// A run is queued on the device first (queue.js), then POSTed with retries: a network
// error, a 5xx or a 429 is retried with backoff for RETRY_WINDOW_MS, then the run waits
// in the queue. Any other answer settles it (stored, duplicate or refused) and takes it
// off the queue: a run is never sent again once answered. The queue drains as soon as
// the API answers again: after any answered submit, on a periodic retry while the page
// is open (startRetrying), and on the next visit (flush on load).
// No DOM and no globals, so Node tests drive it with a fake fetch and clock.

export const SCORE_URL = "/score";
export const RETRY_WINDOW_MS = 30000;
export const RETRY_BASE_MS = 500;
export const RETRY_MAX_MS = 8000;
// The server refuses bodies over 16 KiB (ops/body_limit.py). Encoded ticks (ticks.js) of
// a MAX_INPUTS run take under 9 KB, so this only guards against a future change.
// The periodic drain: a first look soon after load, then backoff with jitter while the
// API stays down, so a fleet of open tabs does not hammer a recovering server in step.
export const DRAIN_BASE_MS = 5000;
export const DRAIN_MAX_MS = 60000;
export const MAX_BODY_CHARS = 15 * 1024;

// The body POSTed for one finished run: what the server needs to replay it. `token` and
// `seed` come from /game-start (no token: a run started offline, which a server that
// verifies scores refuses); `ticks` is the encoded flap list, null when the run had more
// flaps than the server replays (it is then refused too, saying why).
export function buildEntry({ runId, player, score, seed, token, ticks }) {
  const entry = { run_id: runId, player, score, seed, token: token || null, ticks: ticks || null };
  if (JSON.stringify(entry).length > MAX_BODY_CHARS) entry.ticks = null;
  return entry;
}

// Exponential backoff with full jitter: the wait before retry number `attempt` + 1.
export function backoffMs(attempt, random, baseMs = RETRY_BASE_MS, maxMs = RETRY_MAX_MS) {
  const cap = Math.min(baseMs * 2 ** attempt, maxMs);
  return cap / 2 + random() * (cap / 2);
}

// One POST: "retry", {result} (2xx) or {error} (any other 4xx).
async function post(fetchFn, url, entry) {
  let res;
  try {
    res = await fetchFn(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(entry) });
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
}

// createSaver(options) -> { submit(entry), flush(), startRetrying(), stopRetrying() }
//   queue      createQueue(...) from queue.js (all/put/remove)
//   onStatus   (status) => void, status one of:
//                "saving"      submit() started
//                "retrying"    a retryable failure; the next try follows a backoff
//                "kept"        the retry window ran out; the run waits in the queue
//                "unreachable" flush() stopped at a retryable failure
//   onSettled  (entry, outcome, {fromQueue}) => void; outcome is {result} or {error};
//              fromQueue: sent by a drain (a run kept on the device), not by submit()
//   fetch, now, sleep, random: injectable for tests (defaults: the browser's)
//   setTimer, clearTimer, hidden: the periodic drain's timer and "tab hidden" check
// submit(entry) resolves to "settled" or "kept"; once the API has answered it, the rest of
// the queue is drained before it resolves. flush() sends each queued run once, stopping
// at the first retryable failure so the rest wait. startRetrying() drains on a timer
// (DRAIN_BASE_MS, backing off to DRAIN_MAX_MS while the API is down; no requests while
// the tab is hidden). A run is never in flight twice: drains skip the run submit() is
// retrying, and concurrent drains share one pass over the queue.
export function createSaver({
  queue,
  onStatus = () => {},
  onSettled = () => {},
  fetch: fetchFn = (...args) => globalThis.fetch(...args),
  now = () => performance.now(),
  sleep = (ms) => new Promise((r) => setTimeout(r, ms)),
  random = Math.random,
  setTimer = (fn, ms) => setTimeout(fn, ms),
  clearTimer = (id) => clearTimeout(id),
  hidden = () => typeof document !== "undefined" && document.visibilityState === "hidden",
  url = SCORE_URL,
  retryWindowMs = RETRY_WINDOW_MS,
  drainBaseMs = DRAIN_BASE_MS,
  drainMaxMs = DRAIN_MAX_MS,
}) {
  const submitting = new Set(); // run_ids submit() is sending right now
  let draining = null; // the drain pass in progress, shared by every caller
  let running = false; // between startRetrying() and stopRetrying()
  let timer = null;
  let failures = 0; // periodic drains that found the API down, in a row

  function settle(entry, outcome, fromQueue) {
    queue.remove(entry.run_id);
    onSettled(entry, outcome, { fromQueue });
  }

  // One pass over the queue: "drained" or "down" (stopped at a retryable failure).
  async function drainOnce() {
    for (const entry of queue.all()) {
      if (submitting.has(entry.run_id)) continue;
      // Answered meanwhile (another tab, or settled while this pass waited): skip it.
      if (!queue.all().some((e) => e.run_id === entry.run_id)) continue;
      const outcome = await post(fetchFn, url, entry);
      if (outcome === "retry") return "down";
      settle(entry, outcome, true);
    }
    return "drained";
  }
  function drain() {
    if (!draining) draining = drainOnce().finally(() => (draining = null));
    return draining;
  }

  function schedule() {
    timer = setTimer(tick, backoffMs(failures, random, drainBaseMs, drainMaxMs));
  }
  async function tick() {
    timer = null;
    if (!hidden() && queue.all().some((e) => !submitting.has(e.run_id))) {
      // Quiet on failure: the page already said the run is kept on the device.
      failures = (await drain()) === "down" ? failures + 1 : 0;
    } else if (!hidden()) {
      failures = 0;
    }
    if (running && timer === null) schedule();
  }

  return {
    async submit(entry) {
      // Queued first, so a tab closed mid-retry still sends the run on the next visit.
      queue.put(entry);
      submitting.add(entry.run_id);
      const deadline = now() + retryWindowMs;
      onStatus("saving");
      try {
        for (let attempt = 0; ; attempt += 1) {
          const outcome = await post(fetchFn, url, entry);
          if (outcome !== "retry") {
            settle(entry, outcome, false);
            submitting.delete(entry.run_id);
            // The API answers again: send what waited on the device (quietly on failure).
            await drain();
            return "settled";
          }
          onStatus("retrying");
          const wait = backoffMs(attempt, random);
          if (now() + wait > deadline) break;
          await sleep(wait);
        }
      } finally {
        submitting.delete(entry.run_id);
      }
      onStatus("kept");
      return "kept";
    },
    async flush() {
      if ((await drain()) === "down") onStatus("unreachable");
    },
    startRetrying() {
      running = true;
      failures = 0;
      if (timer === null) schedule();
    },
    stopRetrying() {
      running = false;
      if (timer !== null) clearTimer(timer);
      timer = null;
    },
  };
}
