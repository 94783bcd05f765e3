import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_INPUTS } from "../../../drafty_bird/ui/physics.js";
import { createQueue } from "../../../drafty_bird/ui/queue.js";
import {
  backoffMs, buildEntry, createSaver, DRAIN_BASE_MS, DRAIN_MAX_MS, MAX_BODY_CHARS, RETRY_MAX_MS, RETRY_WINDOW_MS,
} from "../../../drafty_bird/ui/saver.js";
import { encodeTicks } from "../../../drafty_bird/ui/ticks.js";
import { fakeClock, fakeTimers, memoryStorage, scriptedFetch } from "./fakes.mjs";

const stored = (rank = 3) => [200, { rank, total: 9, duplicate: false, stored: { player: "Ada", score: 5, createdAt: "t" } }];
const entry = (id) => ({ run_id: id, player: "Ada", score: 5, seed: 1, token: "t", ticks: "CQk" });

// A saver over a real queue (in-memory storage), a scripted fetch and a fake clock.
function setup(script, { random = () => 0.5, storage = memoryStorage(), hidden = () => false } = {}) {
  const queue = createQueue(storage);
  const { fetch, calls } = scriptedFetch(script);
  const clock = fakeClock();
  const timers = fakeTimers();
  const statuses = [];
  const settled = [];
  const saver = createSaver({
    queue, fetch, now: clock.now, sleep: clock.sleep, random, hidden,
    setTimer: timers.setTimer, clearTimer: timers.clearTimer,
    onStatus: (s) => statuses.push(s),
    onSettled: (e, outcome, how) => settled.push({ run_id: e.run_id, ...outcome, ...how, queuedAtSettle: queue.all().length }),
  });
  return { saver, queue, calls, clock, timers, statuses, settled, storage };
}

test("a 2xx settles on the first try, leaves the queue empty and reports the result", async () => {
  const s = setup([stored(3)]);
  assert.equal(await s.saver.submit(entry("a")), "settled");
  assert.deepEqual(s.calls.map((c) => [c.url, c.method, c.body.run_id]), [["/score", "POST", "a"]]);
  assert.deepEqual(s.statuses, ["saving"]);
  assert.equal(s.settled.length, 1);
  assert.equal(s.settled[0].result.rank, 3);
  assert.equal(s.settled[0].fromQueue, false);
  assert.equal(s.settled[0].queuedAtSettle, 0, "off the queue before the page is told");
  assert.deepEqual(s.clock.sleeps, []);
});

test("the run is on the device before the first POST leaves", async () => {
  const s = setup([]);
  let queuedDuringPost = null;
  const saver = createSaver({
    queue: s.queue,
    fetch: async () => {
      queuedDuringPost = s.queue.all().map((e) => e.run_id);
      return { status: 200, ok: true, json: async () => ({}) };
    },
  });
  await saver.submit(entry("a"));
  assert.deepEqual(queuedDuringPost, ["a"]);
});

test("5xx, 429 and network errors are retried with growing waits, then it settles once", async () => {
  const s = setup([503, "network", 429, 500, stored()]);
  assert.equal(await s.saver.submit(entry("a")), "settled");
  assert.equal(s.calls.length, 5);
  assert.deepEqual(s.statuses, ["saving", "retrying", "retrying", "retrying", "retrying"]);
  // random 0.5: three quarters of the cap (500, 1000, 2000, 4000 ms)
  assert.deepEqual(s.clock.sleeps, [375, 750, 1500, 3000]);
  assert.equal(s.settled.length, 1);
  assert.deepEqual(s.queue.all(), []);
});

test("a 4xx other than 429 is never retried: it settles as refused and leaves the queue", async () => {
  for (const [status, body, error] of [[422, { error: "score out of range" }, "score out of range"], [400, "not json", "HTTP 400"], [409, {}, "HTTP 409"]]) {
    const s = setup([[status, body]]);
    assert.equal(await s.saver.submit(entry("a")), "settled");
    assert.equal(s.calls.length, 1, `HTTP ${status}`);
    assert.deepEqual(s.settled.map((x) => x.error), [error]);
    assert.deepEqual(s.queue.all(), []);
  }
});

test("a 2xx with an unreadable body still settles (empty result)", async () => {
  const s = setup([[200, "not json"]]);
  await s.saver.submit(entry("a"));
  assert.deepEqual(s.settled[0].result, {});
});

test("when the retry window runs out the run stays queued and the saver stops", async () => {
  // random 0 gives the shortest waits, so the most attempts fit in the window.
  const down = Array(40).fill(503);
  const s = setup(down, { random: () => 0 });
  assert.equal(await s.saver.submit(entry("a")), "kept");
  assert.deepEqual(s.clock.sleeps, [250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000]);
  assert.equal(s.calls.length, 11, "the first try and one per wait");
  assert.ok(s.clock.t <= RETRY_WINDOW_MS);
  assert.equal(s.statuses.at(-1), "kept");
  assert.deepEqual(s.settled, []);
  assert.deepEqual(s.queue.all().map((e) => e.run_id), ["a"]);
});

test("backoff: full jitter between half the cap and the cap, the cap doubling up to RETRY_MAX_MS", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map((a) => backoffMs(a, () => 0)), [250, 500, 1000, 2000, 4000, 4000, 4000]);
  assert.deepEqual([0, 1, 4, 5, 30].map((a) => backoffMs(a, () => 1)), [500, 1000, 8000, RETRY_MAX_MS, RETRY_MAX_MS]);
});

test("flush sends each queued run once, oldest first, and a second flush sends nothing", async () => {
  const storage = memoryStorage();
  const earlier = createQueue(storage);
  earlier.put(entry("a"));
  earlier.put(entry("b"));
  const s = setup([stored(1), [422, { error: "bad" }]], { storage });
  await s.saver.flush();
  await s.saver.flush();
  assert.deepEqual(s.calls.map((c) => c.body.run_id), ["a", "b"]);
  assert.deepEqual(s.settled.map((x) => [x.run_id, x.fromQueue, x.error || null]), [["a", true, null], ["b", true, "bad"]]);
  assert.deepEqual(s.queue.all(), []);
  assert.deepEqual(s.statuses, []);
});

test("flush stops at the first retryable failure: that run and the rest wait, with no retry now", async () => {
  const storage = memoryStorage();
  const earlier = createQueue(storage);
  for (const id of ["a", "b", "c"]) earlier.put(entry(id));
  const s = setup([stored(), 503], { storage });
  await s.saver.flush();
  assert.deepEqual(s.calls.map((c) => c.body.run_id), ["a", "b"]);
  assert.deepEqual(s.statuses, ["unreachable"]);
  assert.deepEqual(s.queue.all().map((e) => e.run_id), ["b", "c"]);
  assert.deepEqual(s.clock.sleeps, []);
});

test("buildEntry: what the server replays (token, seed, encoded ticks); no token or ticks sent as null", () => {
  const ticks = encodeTicks([0, 31, 64]);
  assert.deepEqual(buildEntry({ runId: "r1", player: "Ada", score: 4, seed: 7, token: "v1.r1.7.1.x", ticks }), {
    run_id: "r1", player: "Ada", score: 4, seed: 7, token: "v1.r1.7.1.x", ticks,
  });
  const offline = buildEntry({ runId: "local-1", player: "Ada", score: 4, seed: 7, token: undefined, ticks: null });
  assert.equal(offline.token, null);
  assert.equal(offline.ticks, null);
  // A run at MAX_INPUTS, flaps spread over an hour: far inside the body limit.
  const most = Array.from({ length: MAX_INPUTS }, (_, i) => i * 43);
  const big = buildEntry({ runId: "r1", player: "Ada", score: 400, seed: 7, token: "t", ticks: encodeTicks(most) });
  assert.ok(big.ticks && JSON.stringify(big).length < MAX_BODY_CHARS * 0.7, JSON.stringify(big).length);
  const huge = buildEntry({ runId: "r1", player: "Ada", score: 400, seed: 7, token: "t", ticks: "A".repeat(20000) });
  assert.equal(huge.ticks, null);
});

test("a refused run (422) says why, leaves the queue and is never sent again", async () => {
  const s = setup([[422, { error: "claimed score 99, but the replay scores 3", reason: "score_mismatch" }]]);
  assert.equal(await s.saver.submit(entry("a")), "settled");
  assert.equal(s.settled[0].error, "claimed score 99, but the replay scores 3");
  assert.deepEqual(s.queue.all(), []);
  await s.saver.flush();
  assert.equal(s.calls.length, 1, "no retry and no resend from the queue");
});

// ---------------------------------------------------------------- draining the queue

// Runs kept on the device by an earlier page (or an earlier submit that ran out of window).
function keptStorage(...ids) {
  const storage = memoryStorage();
  const earlier = createQueue(storage);
  for (const id of ids) earlier.put(entry(id));
  return storage;
}

test("the next answered submit drains the runs kept on the device, each once, after its own", async () => {
  const s = setup([stored(1), stored(2), stored(3)], { storage: keptStorage("old1", "old2") });
  assert.equal(await s.saver.submit(entry("new")), "settled");
  assert.deepEqual(s.calls.map((c) => c.body.run_id), ["new", "old1", "old2"]);
  assert.deepEqual(s.settled.map((x) => [x.run_id, x.fromQueue]), [["new", false], ["old1", true], ["old2", true]]);
  assert.deepEqual(s.queue.all(), []);
  await s.saver.flush();
  assert.equal(s.calls.length, 3, "nothing is sent twice");
});

test("a refused submit (422) also shows the API is back: the queue drains", async () => {
  const s = setup([[422, { error: "bad" }], stored()], { storage: keptStorage("old") });
  await s.saver.submit(entry("new"));
  assert.deepEqual(s.calls.map((c) => c.body.run_id), ["new", "old"]);
  assert.deepEqual(s.queue.all(), []);
});

test("a drain after a save that fails again is quiet and leaves the kept run queued", async () => {
  const s = setup([stored(), 503], { storage: keptStorage("old") });
  assert.equal(await s.saver.submit(entry("new")), "settled");
  assert.deepEqual(s.statuses, ["saving"], "no 'unreachable' over the run that was just saved");
  assert.deepEqual(s.queue.all().map((e) => e.run_id), ["old"]);
});

test("a submit that runs out of window is sent by the periodic retry once the API answers", async () => {
  const down = Array(11).fill(503); // the whole retry window at random 0
  const s = setup([...down, 503, 503, stored()], { random: () => 0 });
  s.saver.startRetrying();
  assert.equal(await s.saver.submit(entry("a")), "kept");
  assert.equal(s.calls.length, 11);
  await s.timers.fire(); // still down
  await s.timers.fire(); // still down
  await s.timers.fire(); // back
  assert.deepEqual(s.calls.slice(11).map((c) => c.body.run_id), ["a", "a", "a"]);
  assert.deepEqual(s.settled.map((x) => [x.run_id, x.fromQueue]), [["a", true]]);
  assert.deepEqual(s.queue.all(), []);
  assert.equal(s.statuses.at(-1), "kept", "failed periodic tries say nothing new");
  await s.timers.fire(); // empty queue: no request
  assert.equal(s.calls.length, 14);
});

test("periodic retry backs off with jitter while the API is down and resets once drained", async () => {
  for (const [r, first] of [[0, DRAIN_BASE_MS / 2], [1, DRAIN_BASE_MS]]) {
    const s = setup([503, 503, 503, 503, 503, 503, stored()], { random: () => r, storage: keptStorage("old") });
    s.saver.startRetrying();
    for (let i = 0; i < 7; i += 1) await s.timers.fire();
    const cap = (n) => Math.min(DRAIN_BASE_MS * 2 ** n, DRAIN_MAX_MS);
    const expected = [0, 1, 2, 3, 4, 5, 6, 0].map((n) => cap(n) / 2 + r * (cap(n) / 2));
    assert.equal(s.timers.delays[0], first);
    assert.deepEqual(s.timers.delays, expected);
    assert.ok(Math.max(...s.timers.delays) <= DRAIN_MAX_MS);
    assert.deepEqual(s.queue.all(), []);
  }
});

test("no periodic request while the tab is hidden; it drains once visible again", async () => {
  let hidden = true;
  const s = setup([stored()], { storage: keptStorage("old"), hidden: () => hidden });
  s.saver.startRetrying();
  await s.timers.fire();
  await s.timers.fire();
  assert.equal(s.calls.length, 0);
  hidden = false;
  await s.timers.fire();
  assert.deepEqual(s.calls.map((c) => c.body.run_id), ["old"]);
  assert.deepEqual(s.queue.all(), []);
});

test("stopRetrying cancels the timer; startRetrying twice keeps one timer", () => {
  const s = setup([]);
  s.saver.startRetrying();
  s.saver.startRetrying();
  assert.equal(s.timers.pending.length, 1);
  s.saver.stopRetrying();
  assert.equal(s.timers.pending.length, 0);
});

// A fetch whose answers the test releases one by one, to interleave saves and drains.
function gatedFetch() {
  const calls = [];
  const gates = [];
  const fetch = (url, init) => {
    calls.push(JSON.parse(init.body).run_id);
    return new Promise((resolve) => gates.push(resolve));
  };
  const answer = async (status) => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()({ status, ok: status < 300, json: async () => ({ rank: 1, total: 1, stored: {} }) });
    await new Promise((r) => setImmediate(r));
  };
  return { fetch, calls, answer };
}

test("a run is never in flight twice: drains skip the run submit is retrying and share one pass", async () => {
  const storage = keptStorage("old");
  const queue = createQueue(storage);
  const g = gatedFetch();
  const timers = fakeTimers();
  const clock = fakeClock();
  const saver = createSaver({
    queue, fetch: g.fetch, now: clock.now, sleep: clock.sleep, random: () => 0,
    setTimer: timers.setTimer, clearTimer: timers.clearTimer, hidden: () => false,
  });
  saver.startRetrying();
  const submitted = saver.submit(entry("new")); // "new" is queued and in flight
  const tick = timers.fire(); // the periodic drain: "old" only, never "new"
  const flushed = saver.flush(); // joins that drain instead of starting another
  await g.answer(503); // new: retry
  await g.answer(200); // old: stored
  await Promise.all([tick, flushed]);
  await g.answer(200); // new, second try: stored; then its drain finds nothing left
  assert.equal(await submitted, "settled");
  assert.deepEqual(g.calls.sort(), ["new", "new", "old"]);
  assert.deepEqual(queue.all(), []);
});
