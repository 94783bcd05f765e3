"""Storage gauges, read at scrape time from the live store (no update calls to forget).

drafty_bird_storage_ready drives the DraftyBirdStorageNotReady alert; degraded and
writer show the fallback state and the single-writer role per replica.
"""

from collections.abc import Callable

from prometheus_client import Gauge

STORAGE_READY = Gauge("drafty_bird_storage_ready", "1 when the score store can serve reads.")
STORAGE_DEGRADED = Gauge(
    "drafty_bird_storage_degraded",
    "1 when scores are kept in memory (STORAGE_FALLBACK=memory) or the last write failed (disk full, read-only).",
)
STORAGE_WRITER = Gauge("drafty_bird_storage_writer", "1 when this process holds the single-writer lease.")


def bind(ready: Callable[[], bool], degraded: Callable[[], bool], writer: Callable[[], bool]) -> None:
    STORAGE_READY.set_function(lambda: float(ready()))
    STORAGE_DEGRADED.set_function(lambda: float(degraded()))
    STORAGE_WRITER.set_function(lambda: float(writer()))
