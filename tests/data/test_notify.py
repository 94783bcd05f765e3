"""Live top 10 across replicas, the data side: which writes NOTIFY, and the listener's
burst coalescing, heartbeat, reconnect-then-re-query and clean stop, on real PostgreSQL."""

import asyncio
import time

import psycopg

from drafty_bird.data.engine import PgOptions
from drafty_bird.data.notify import follow_top, listener_name
from drafty_bird.data.store import TOP_CHANNEL, open_store
from tests.aio import run_async
from tests.pg import query, throwaway_db


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_only_writes_that_change_the_top_10_notify_with_a_version() -> None:
    with throwaway_db() as url, psycopg.connect(libpq(url), autocommit=True) as listen:
        listen.execute(f"LISTEN {TOP_CHANNEL}")
        store, _ = open_store(url, fallback="fail")

        async def writes() -> None:
            for i in range(10):
                await store.add("p", 100 + i, f"hi-{i}")
            await store.add("p", 5, "low")  # below ten others: the board does not change
            await store.add("p", 999, "hi-0")  # a retry of a stored run: nothing new

        try:
            run_async(writes())
        finally:
            store.close()
        payloads = [n.payload for n in listen.notifies(timeout=1.0)]
    assert len(payloads) == 10
    assert payloads == sorted(payloads, key=int) and all(p.isdigit() for p in payloads), payloads


def test_listener_coalesces_bursts_reconnects_after_terminate_and_stops_cleanly() -> None:
    with throwaway_db() as url:
        calls: list[float] = []
        lag: list[float] = []

        async def refresh() -> None:
            calls.append(time.monotonic())
            await asyncio.sleep(0.2)  # a top-10 query that takes a while: notifications pile up meanwhile

        def listener_pids() -> list[int]:
            return [
                r[0]
                for r in query(url, "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (listener_name(),))
            ]

        async def until(predicate, timeout: float, what: str) -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                await asyncio.sleep(0.05)

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(
                follow_top(url, PgOptions(connect_timeout_s=2), refresh, stop, heartbeat_s=0.5, backoff_s=(0.1, 1.0))
            )

            async def ticker() -> None:  # the event loop must stay free throughout
                while not stop.is_set():
                    t = time.monotonic()
                    await asyncio.sleep(0.02)
                    lag.append(time.monotonic() - t - 0.02)

            tick = asyncio.create_task(ticker())
            await until(lambda: len(listener_pids()) == 1, 10, "the listener to connect")
            first_pid = listener_pids()[0]
            assert calls == [], "no re-query at the first connect"

            with psycopg.connect(libpq(url), autocommit=True) as notifier:
                for version in range(50):  # 50 commits in a burst
                    notifier.execute("SELECT pg_notify(%s, %s)", (TOP_CHANNEL, str(version)))
            await until(lambda: len(calls) >= 1, 2, "a re-query after the burst")
            await asyncio.sleep(1.0)
            assert 1 <= len(calls) <= 3, f"{len(calls)} re-queries for one burst of 50"

            # Kill the listener's backend: it reconnects (new pid) and re-queries once, unprompted.
            before = len(calls)
            query(url, "SELECT pg_terminate_backend(%s)", (first_pid,))
            await until(lambda: listener_pids() not in ([], [first_pid]), 10, "the listener to reconnect")
            await until(lambda: len(calls) == before + 1, 3, "the re-query after reconnecting")
            with psycopg.connect(libpq(url), autocommit=True) as notifier:
                notifier.execute("SELECT pg_notify(%s, 'after')", (TOP_CHANNEL,))
            await until(lambda: len(calls) == before + 2, 3, "a notification on the new connection")

            stop.set()
            await asyncio.wait_for(task, 5)
            await tick

        run_async(scenario())
        assert max(lag) < 0.25, f"event loop stalled {max(lag):.2f}s"
        time.sleep(0.2)
        assert query(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (listener_name(),)) == [
            (0,)
        ]
