"""The event loop's fixed costs with many open pages (docs/PERFORMANCE.md "Open pages").

Profiled at 300-1,000 pages, three costs are not the app's own code:
- `asyncio.wait_for` on Python 3.11 wraps what it waits for in a new Task with its own
  timer. NiceGUI's outbox waits this way once a second per page, and engine.io's writer
  once per message per socket. Python 3.12 rewrote it on `asyncio.timeout` (no Task);
  `use_fast_wait_for` installs that implementation on 3.11.
- The garbage collector's full passes walk every live object, the ~170,000 that the
  imports and the app's set-up leave behind included. `freeze_startup_objects` moves
  those out of its reach once serving (they live as long as the process anyway).
- With CPython's default thresholds (700, 10, 10) every page load and every board push
  promote short-lived objects into the old generation, and each 25% of growth there
  costs a full pass: 8 of them, up to 0.4-0.9 s of CPU each, while 1,000 pages opened or
  reloaded. GC_THRESHOLDS lets young objects die young: no full pass in the same run,
  the longest pause a 0.1-0.2 s collection of the middle generation.
- Those pauses stop the event loop, so every page and probe waits: they are measured
  as `drafty_bird_gc_pause_seconds`.
And one that is configurable: engine.io pings every page every PAGE_PING_INTERVAL_S.
"""

import asyncio
import gc
import sys
import time
from asyncio import exceptions, tasks, timeouts
from collections.abc import Awaitable
from typing import Any, TypeVar

from prometheus_client import Histogram

T = TypeVar("T")

GC_PAUSE = Histogram(
    "drafty_bird_gc_pause_seconds",
    "Garbage-collector passes by generation: the event loop, so every page and probe, waits meanwhile.",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_GENERATIONS = [GC_PAUSE.labels(str(g)) for g in range(3)]


async def wait_for(fut: Awaitable[T], timeout: float | None) -> T:
    """asyncio.wait_for as CPython 3.12 has it (Lib/asyncio/tasks.py): no Task per call."""
    if timeout is not None and timeout <= 0:
        fut = tasks.ensure_future(fut)
        if fut.done():
            return fut.result()
        fut.cancel()
        await asyncio.wait({fut})  # its cancellation has run (3.12: tasks._cancel_and_wait)
        try:
            return fut.result()
        except exceptions.CancelledError as exc:
            raise TimeoutError from exc
    async with timeouts.timeout(timeout):
        return await fut


def use_fast_wait_for() -> bool:
    """Install 3.12's wait_for process-wide (before serving); False when already there."""
    if sys.version_info >= (3, 12):
        return False
    asyncio.wait_for = wait_for  # type: ignore[assignment]  # NiceGUI and engine.io look it up per call
    tasks.wait_for = wait_for  # type: ignore[assignment]
    return True


# Collect the young generation after 20,000 net allocations instead of 700 (the other two as
# CPython's): measured at 400 and 1,000 pages in docs/PERFORMANCE.md "Open pages".
GC_THRESHOLDS = (20_000, 10, 10)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_objects() -> int:
    """Once serving: what the imports and the set-up built is never scanned again. Returns the count."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


_started = 0.0


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        _GENERATIONS[info["generation"]].observe(time.perf_counter() - _started)


def measure_gc_pauses() -> None:
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def set_page_ping_interval(seconds: float) -> None:
    """engine.io's ping interval, once NiceGUI's start-up has set its own (call on startup)."""
    from nicegui import core

    core.sio.eio.ping_interval = seconds
