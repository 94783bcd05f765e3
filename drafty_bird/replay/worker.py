"""The replay worker process: `python -m drafty_bird.replay.worker`.

The server replays runs here, not in its own process: a replay is pure CPU, and in the
server it would take the GIL from the event loop (measured: /healthz p50 went from 6 to
29 ms at 10 verified runs/s on a busy 2-core box). One JSON line in per run, one out:

  in:  [id, seed, ticks, claimed_score, elapsed_ms]
  out: [id, "ok", score, ticks, flaps, y] or [id, "refused", reason, message]

This loop on stdin/stdout is the package's only I/O; the process ends at end of input.
"""

import json
import sys

from drafty_bird.replay.verify import RunRefused, replay


def handle(line: str) -> list:
    request_id, seed, ticks, claimed, elapsed_ms = json.loads(line)
    try:
        out = replay(seed, ticks, claimed, elapsed_ms)
    except RunRefused as exc:
        return [request_id, "refused", exc.reason, str(exc)]
    return [request_id, "ok", out.score, out.ticks, out.flaps, out.y]


def main() -> None:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(handle(line)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
