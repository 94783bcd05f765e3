"""The start-up and shutdown sequence in-process, on a real SQLite file and a real lease.

No server: the test plays uvicorn's part (stop_listening schedules Lifecycle.stop, as
uvicorn runs on_shutdown once in-flight requests are done) and records what each step
finds when it runs. tests/ops/test_lifecycle.py covers the same sequence end to end
with real signals to a real server.
"""

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from drafty_bird.data.errors import NotWriter
from drafty_bird.data.lease import lease_path
from drafty_bird.ops.lifecycle import Lifecycle
from drafty_bird.settings import Settings, load_settings
from tests.aio import run_async

DELAY_S = 0.4


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "score_db_path": tmp_path / "data" / "db.sqlite",
        "shutdown_delay_s": DELAY_S,
        "writer_lease_ttl_s": 3,
    }
    return load_settings(**(values | overrides))


async def poll(predicate, timeout: float, message: str) -> None:
    """Async wait_until: the loop keeps running the lifecycle's tasks meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.02)


class Recorder:
    """Stands in for uvicorn (stop_listening) and the trace exporter (flush)."""

    def __init__(self) -> None:
        self._life: Lifecycle | None = None
        self.steps: list[tuple[str, dict]] = []
        self.stopping: asyncio.Task | None = None

    def stop_listening(self) -> None:
        life = self.life
        lease_file = lease_path(life.settings.score_db_path)
        self.steps.append(
            (
                "stop_listening",
                {
                    "at": time.monotonic(),
                    "draining": life.readiness.draining,
                    "lease_file": lease_file.exists(),
                    "writer": life.store.is_writer(),
                    "tasks_running": sum(not t.done() for t in life.tasks),
                },
            )
        )
        self.stopping = asyncio.get_running_loop().create_task(life.stop())

    async def flush(self) -> None:
        life = self.life
        self.steps.append(("flush", {"tasks_running": sum(not t.done() for t in life.tasks)}))

    @property
    def life(self) -> Lifecycle:
        assert self._life is not None, "open() first"
        return self._life

    def open(self, settings: Settings) -> Lifecycle:
        self._life = Lifecycle.open(settings, stop_listening=self.stop_listening, flush=self.flush)
        return self._life


def test_sigterm_runs_every_shutdown_step_in_order(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, backup_interval_s=1, sqlite_busy_timeout_ms=3000)
    lease_file = lease_path(settings.score_db_path)
    rec = Recorder()

    async def scenario() -> dict:
        life = rec.open(settings)
        previous = signal.getsignal(signal.SIGTERM)
        try:
            await life.start()
            assert signal.getsignal(signal.SIGTERM) is not previous, "start() installed no SIGTERM handler"
            assert lease_file.exists() and life.store.is_writer()
            assert (await life.readiness.probe())[0]
            assert len(life.tasks) == 2  # lease renewal and backups
            # A write in flight at the signal: another connection holds the file's write lock.
            locker = sqlite3.connect(settings.score_db_path, isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")
            lease_at_write_end: list[bool] = []

            async def write() -> None:
                try:
                    await life.store.add("queued", 5, "run-queued")
                finally:  # in the same loop step the write's result arrives in
                    lease_at_write_end.append(lease_file.exists())

            queued = asyncio.create_task(write())
            await asyncio.sleep(0.2)
            sent = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            # The handler flips readiness synchronously, before the drain task even starts.
            await asyncio.sleep(0)
            ready_after_signal = (await life.readiness.probe())[0]
            await asyncio.sleep(0.3)
            lease_while_writing = lease_file.exists()
            locker.execute("ROLLBACK")
            locker.close()
            # Stopped writing at the signal: the write re-checks the lease before commit and is refused.
            with pytest.raises(NotWriter):
                await queued
            await poll(lambda: rec.stopping is not None, 5, "stop_listening")
            with pytest.raises(NotWriter):
                await life.store.add("late", 1, "run-late")
            assert rec.stopping is not None
            await rec.stopping
        finally:
            signal.signal(signal.SIGTERM, previous)
        return {
            "sent": sent,
            "ready_after_signal": ready_after_signal,
            "lease_while_writing": lease_while_writing,
            "lease_at_write_end": lease_at_write_end,
        }

    out = run_async(scenario())

    assert out["ready_after_signal"] is False
    # Hand-over waited for the write in flight before releasing the lease.
    assert out["lease_while_writing"] is True, "lease released while a write was still running"
    assert out["lease_at_write_end"] == [True]
    assert [name for name, _ in rec.steps] == ["stop_listening", "flush"]
    listening = rec.steps[0][1]
    # Readiness dropped and writes handed over before the wait; the wait before the listener closes.
    assert listening["draining"] is True
    assert listening["lease_file"] is False, "lease not released before the listener closed"
    assert listening["writer"] is False
    assert listening["at"] - out["sent"] >= DELAY_S * 0.95, "the listener closed before SHUTDOWN_DELAY_S"
    assert listening["tasks_running"] == 2, "background tasks stopped before the listener closed"
    # Background tasks stopped, storage closed, then traces flushed.
    assert rec.steps[1][1]["tasks_running"] == 0
    assert all(task.done() and task.exception() is None for task in rec.life.tasks)
    with sqlite3.connect(settings.score_db_path) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (0,)


def test_stop_without_a_drain_still_hands_over_and_stops_every_task_at_once(tmp_path: Path) -> None:
    """Ctrl+C: uvicorn runs on_shutdown directly. The loops wake from their waits at once."""
    # Intervals far longer than the test: a loop that sleeps through stop would hang here.
    settings = settings_for(tmp_path, backup_interval_s=3600, writer_lease_ttl_s=300)
    lease_file = lease_path(settings.score_db_path)
    rec = Recorder()

    async def scenario() -> float:
        life = rec.open(settings)
        await life.start(handle_sigterm=False)
        await poll(lambda: all(not t.done() for t in life.tasks) and len(life.tasks) == 2, 2, "tasks running")
        started = time.monotonic()
        await asyncio.wait_for(life.stop(), 10)
        return time.monotonic() - started

    took = run_async(scenario())
    assert took < 2, f"stop took {took:.1f}s: a background loop did not wake on stop"
    assert rec.life.readiness.draining is True
    assert not lease_file.exists()
    assert [name for name, _ in rec.steps] == ["flush"]
    assert rec.steps[0][1]["tasks_running"] == 0


def test_storage_unusable_at_start_up_is_reopened_and_the_loop_stops_on_shutdown(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, storage_reopen_s=0.5)
    # load_settings created the directory (it checks that it is writable).
    settings.score_db_path.write_bytes(b"this is not a database" * 100)
    rec = Recorder()

    async def scenario() -> tuple[str, bool, int]:
        life = rec.open(settings)
        assert life.readiness.storage_mode == "unavailable"
        assert not (await life.readiness.probe())[0]
        await life.start(handle_sigterm=False)
        assert len(life.tasks) == 1  # only the reopen loop: no lease yet
        # The operator moves the corrupt file away; the next try opens a fresh one.
        settings.score_db_path.rename(tmp_path / "corrupt.sqlite")
        await poll(lambda: life.store.unavailable is None, 10, "storage reopened")
        await poll(lambda: life.store.is_writer(), 10, "writer after reopening")
        ready = (await life.readiness.probe())[0]
        tasks = len(life.tasks)  # + the lease renewal started by the reopen
        await asyncio.wait_for(life.stop(), 10)
        return life.readiness.storage_mode, ready, tasks

    mode, ready, tasks = run_async(scenario())
    assert (mode, ready, tasks) == ("sqlite", True, 2)
    assert all(task.done() for task in rec.life.tasks)
    assert not lease_path(settings.score_db_path).exists()
