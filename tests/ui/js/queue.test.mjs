import assert from "node:assert/strict";
import { test } from "node:test";
import { createQueue, QUEUE_KEY } from "../../../drafty_bird/ui/queue.js";
import { memoryStorage } from "./fakes.mjs";

const run = (id, score = 1) => ({ run_id: id, player: "Ada", score, inputs: [] });

test("put keeps one entry per run_id: the latest, moved to the end", () => {
  const q = createQueue(memoryStorage());
  q.put(run("a", 1));
  q.put(run("b", 2));
  q.put(run("a", 3));
  assert.deepEqual(q.all().map((e) => [e.run_id, e.score]), [["b", 2], ["a", 3]]);
});

test("remove drops only that run", () => {
  const q = createQueue(memoryStorage());
  q.put(run("a"));
  q.put(run("b"));
  q.remove("a");
  q.remove("never-queued");
  assert.deepEqual(q.all().map((e) => e.run_id), ["b"]);
});

test("the queue survives a new page: it lives in storage under draftyBird.queue", () => {
  const storage = memoryStorage();
  createQueue(storage).put(run("a"));
  assert.equal(QUEUE_KEY, "draftyBird.queue");
  assert.deepEqual(JSON.parse(storage.raw.get(QUEUE_KEY)).map((e) => e.run_id), ["a"]);
  assert.deepEqual(createQueue(storage).all().map((e) => e.run_id), ["a"]);
});

test("corrupt, non-array, missing or throwing storage reads as an empty queue", () => {
  for (const raw of ["{not json", '{"run_id":"a"}', "null"]) {
    const storage = memoryStorage();
    storage.setItem(QUEUE_KEY, raw);
    assert.deepEqual(createQueue(storage).all(), [], raw);
  }
  const q = createQueue(null); // window.localStorage blocked
  q.put(run("a"));
  assert.deepEqual(q.all(), []);
  const full = { getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); } };
  assert.doesNotThrow(() => createQueue(full).put(run("a")));
});
