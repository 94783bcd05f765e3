"""Run a coroutine to completion from a synchronous test, wherever it runs.

pytest-playwright's session-wide sync Playwright marks the main thread's event loop as
running for the rest of the process (its loop runs in a greenlet), so a plain
asyncio.run() in any test that follows a browser test on the same pytest worker fails
("cannot be called from a running event loop"). With pytest-xdist any file may follow a
browser file. The coroutine still runs on this thread (SQLite connections and signal
handlers are tied to it): Playwright's mark is set aside for the call and put back after.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    marked = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return asyncio.run(coro)
    finally:
        asyncio.events._set_running_loop(marked)
