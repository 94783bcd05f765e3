"""The page socket's limits (issue 17, item 1): the largest message a client may send,
and the tally of page events ignored because they were malformed, named an unknown run or
came too often.

socket.io takes messages of up to 1,000,000 bytes by default (python-engineio's
max_http_buffer_size; NiceGUI never changes it), and one socket sending 900 KB events took
the replica to its memory limit. The page's largest legitimate message is its
"restore_mine" event with MINE_KEEP run ids, about 1.6 KB (measured, docs/DECISIONS.md
section 10), so MAX_MESSAGE_BYTES leaves a margin of about 5x. Two layers refuse more:
uvicorn's websocket protocol (ws_max_size: it reads the frame header and closes with 1009
before buffering the message) and engine.io (the same number; it also caps a long-polling
POST, which the HTTP body limit caps too).
"""

import logging

from nicegui import core
from prometheus_client import Counter

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024

# Bounded label values: the page's own events, and why one was ignored.
PAGE_EVENTS = ("score_saved", "restore_mine", "run_began")
REASONS = ("malformed", "unknown_run", "too_often", "lookup_failed")
PAGE_EVENTS_IGNORED = Counter(
    "drafty_bird_page_events_ignored_total",
    "Page socket events ignored: malformed arguments, a run_id the store does not have, too often, or a failed lookup.",
    ["event", "reason"],
)
for _event in PAGE_EVENTS:
    for _reason in REASONS:
        PAGE_EVENTS_IGNORED.labels(_event, _reason)

_logged: set[tuple[str, str]] = set()


def ignored(event: str, reason: str) -> None:
    """Count an ignored page event; log the first of each kind once per process (a flood
    of them must not become a flood of log lines: the counter carries the rate)."""
    PAGE_EVENTS_IGNORED.labels(event, reason).inc()
    if (event, reason) not in _logged:
        _logged.add((event, reason))
        log.warning(
            "page event ignored (logged once per kind; drafty_bird_page_events_ignored_total counts them)",
            extra={"page_event": event, "reason": reason},
        )


def install() -> None:
    """Cap engine.io's messages (before serving: read per message and sent in each handshake).
    ui.run gets ws_max_size=MAX_MESSAGE_BYTES for uvicorn's layer (app.serve)."""
    core.sio.eio.max_http_buffer_size = MAX_MESSAGE_BYTES
