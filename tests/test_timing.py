"""wait_or_stop: the one pause every background loop (lease, backups, storage reopen) uses."""

import asyncio
import time

from drafty_bird.timing import wait_or_stop
from tests.aio import run_async


def test_times_out_false_when_not_stopped() -> None:
    async def scenario() -> tuple[bool, float]:
        started = time.monotonic()
        result = await wait_or_stop(asyncio.Event(), 0.2)
        return result, time.monotonic() - started

    stopped, took = run_async(scenario())
    assert stopped is False
    assert took >= 0.19


def test_wakes_at_once_when_stopped_during_a_long_wait() -> None:
    async def scenario() -> tuple[bool, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        started = time.monotonic()
        result = await wait_or_stop(stop, 3600)
        return result, time.monotonic() - started

    stopped, took = run_async(scenario())
    assert stopped is True
    assert took < 2, f"woke after {took:.1f}s"


def test_already_stopped_returns_true_without_waiting() -> None:
    async def scenario() -> bool:
        stop = asyncio.Event()
        stop.set()
        return await asyncio.wait_for(wait_or_stop(stop, 3600), 2)

    assert run_async(scenario()) is True
