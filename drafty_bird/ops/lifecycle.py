"""SIGTERM handling that drains before uvicorn stops listening (podinfo style).

uvicorn's own SIGTERM handler stops accepting connections at once, so /readyz could
never be seen answering 503. install_sigterm() replaces it once the server is up:
the signal flips readiness synchronously, then `drain` runs on the loop and ends by
asking the server to stop (which then finishes in-flight requests and runs
on_shutdown). As uvicorn never captured the signal it does not re-raise it after
shutdown, so the process exits 0.
"""

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def install_sigterm(on_signal: Callable[[], None], drain: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Call from app.on_startup (main thread, inside uvicorn's serve)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    signalled = False

    def start_drain() -> None:
        task = loop.create_task(drain())
        tasks.add(task)  # keep a reference until done
        task.add_done_callback(tasks.discard)

    def handler(signum: int, _frame: object) -> None:
        nonlocal signalled
        if signalled:
            return  # already draining; a second SIGTERM changes nothing
        signalled = True
        on_signal()  # runs between bytecodes on the main thread: keep it to flag flips
        loop.call_soon_threadsafe(start_drain)

    signal.signal(signal.SIGTERM, handler)
