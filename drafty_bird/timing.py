"""Small asyncio helpers with no dependency on the rest of the package (data/ and ops/ both use them)."""

import asyncio
import contextlib


async def wait_or_stop(stop: asyncio.Event, timeout_s: float) -> bool:
    """Sleep up to timeout_s, waking at once when `stop` is set; returns whether it is set.

    The one way background loops pause: `while not await wait_or_stop(stop, period): ...`.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout_s)
    return stop.is_set()
