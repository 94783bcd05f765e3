// The offline queue: finished runs not yet answered by the server, kept in localStorage
// so a tab closed mid-retry still sends them on the next visit. One entry per run_id.
export const QUEUE_KEY = "draftyBird.queue";

// `storage` is a Storage-like object (getItem/setItem); a missing, full or disabled
// storage degrades to an empty queue, and the run is still retried while the page is open.
export function createQueue(storage, key = QUEUE_KEY) {
  function all() {
    try {
      const q = JSON.parse(storage.getItem(key) || "[]");
      return Array.isArray(q) ? q : [];
    } catch {
      return [];
    }
  }
  function write(q) {
    try {
      storage.setItem(key, JSON.stringify(q));
    } catch {
      /* storage full or disabled */
    }
  }
  return {
    all,
    // A run queued again replaces its earlier entry and moves to the end.
    put(entry) {
      write(all().filter((e) => e.run_id !== entry.run_id).concat([entry]));
    },
    remove(runId) {
      write(all().filter((e) => e.run_id !== runId));
    },
  };
}
