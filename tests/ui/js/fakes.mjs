// Test doubles for the browser's Storage, fetch and clock, for the Node unit tests.

export function memoryStorage() {
  const data = new Map();
  return {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    raw: data,
  };
}

// Answers POSTs from a script: each item is a status code, "network" (fetch rejects)
// or [status, body]. Records every request body; an exhausted script fails the test.
export function scriptedFetch(script) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, method: init.method, body: JSON.parse(init.body) });
    if (script.length === 0) throw new Error(`unexpected POST ${url}: the script is exhausted`);
    const next = script.shift();
    if (next === "network") throw new TypeError("Failed to fetch");
    const [status, body] = Array.isArray(next) ? next : [next, {}];
    return {
      status,
      ok: status >= 200 && status < 300,
      json: async () => (body === "not json" ? JSON.parse("<html>") : body),
    };
  };
  return { fetch, calls };
}

// A clock that only moves when the saver sleeps. A saver that never stops retrying
// fails here instead of spinning forever (its fetch errors count as retryable).
export function fakeClock(maxSleeps = 100) {
  const clock = { t: 0, sleeps: [] };
  clock.now = () => clock.t;
  clock.sleep = async (ms) => {
    if (clock.sleeps.length >= maxSleeps) throw new Error(`more than ${maxSleeps} retries: ${clock.sleeps.slice(0, 12)}...`);
    clock.sleeps.push(ms);
    clock.t += ms;
  };
  return clock;
}

// Timers the test fires by hand: fire() runs the oldest pending callback and awaits it.
export function fakeTimers() {
  const t = { pending: [], delays: [], nextId: 1 };
  t.setTimer = (fn, ms) => {
    const id = t.nextId++;
    t.pending.push({ id, fn, ms });
    t.delays.push(ms);
    return id;
  };
  t.clearTimer = (id) => {
    t.pending = t.pending.filter((p) => p.id !== id);
  };
  t.fire = async () => {
    if (t.pending.length === 0) throw new Error("no timer pending");
    const { fn } = t.pending.shift();
    await fn();
  };
  return t;
}
