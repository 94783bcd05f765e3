// Saving finished runs: what a run sends to POST /score, and how hard to try.
//
// A run is queued on the device first (queue.js), then POSTed with retries: a network
// error, a 5xx or a 429 is retried with backoff for RETRY_WINDOW_MS, then the run waits
// in the queue for the next visit. Any other answer settles it (stored, duplicate or
// refused) and takes it off the queue: a run is never sent again once answered.
// No DOM and no globals, so Node tests drive it with a fake fetch and clock.

export const SCORE_URL = "/score";
export const RETRY_WINDOW_MS = 30000;
export const RETRY_BASE_MS = 500;
export const RETRY_MAX_MS = 8000;
// The server refuses bodies over 16 KiB (ops/body_limit.py). Encoded ticks (ticks.js) of
// a MAX_INPUTS run take under 9 KB, so this only guards against a future change.
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
export function backoffMs(attempt, random) {
  const cap = Math.min(RETRY_BASE_MS * 2 ** attempt, RETRY_MAX_MS);
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

// createSaver(options) -> { submit(entry), flush() }
//   queue      createQueue(...) from queue.js (all/put/remove)
//   onStatus   (status) => void, status one of:
//                "saving"      submit() started
//                "retrying"    a retryable failure; the next try follows a backoff
//                "kept"        the retry window ran out; the run waits in the queue
//                "unreachable" flush() stopped at a retryable failure
//   onSettled  (entry, outcome, {fromQueue}) => void; outcome is {result} or {error};
//              fromQueue: sent by flush() (a run left from an earlier visit)
//   fetch, now, sleep, random: injectable for tests (defaults: the browser's)
// submit(entry) resolves to "settled" or "kept"; flush() sends each queued run once,
// stopping at the first retryable failure so the rest wait for the next visit.
export function createSaver({
  queue,
  onStatus = () => {},
  onSettled = () => {},
  fetch: fetchFn = (...args) => globalThis.fetch(...args),
  now = () => performance.now(),
  sleep = (ms) => new Promise((r) => setTimeout(r, ms)),
  random = Math.random,
  url = SCORE_URL,
  retryWindowMs = RETRY_WINDOW_MS,
}) {
  function settle(entry, outcome, fromQueue) {
    queue.remove(entry.run_id);
    onSettled(entry, outcome, { fromQueue });
  }
  return {
    async submit(entry) {
      // Queued first, so a tab closed mid-retry still sends the run on the next visit.
      queue.put(entry);
      const deadline = now() + retryWindowMs;
      onStatus("saving");
      for (let attempt = 0; ; attempt += 1) {
        const outcome = await post(fetchFn, url, entry);
        if (outcome !== "retry") {
          settle(entry, outcome, false);
          return "settled";
        }
        onStatus("retrying");
        const wait = backoffMs(attempt, random);
        if (now() + wait > deadline) break;
        await sleep(wait);
      }
      onStatus("kept");
      return "kept";
    },
    async flush() {
      for (const entry of queue.all()) {
        const outcome = await post(fetchFn, url, entry);
        if (outcome === "retry") {
          onStatus("unreachable");
          return;
        }
        settle(entry, outcome, true);
      }
    },
  };
}
