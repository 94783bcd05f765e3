"""The replay worker pool: real worker processes, replaced when one dies."""

import pytest

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from drafty_bird.replay.verify import RunRefused
from drafty_bird.verification import ReplayPool
from tests.aio import run_async


def test_runs_replay_in_a_worker_process_and_a_dead_worker_is_replaced() -> None:
    flaps = list(range(0, 200, 20))
    assert physics.simulate(9, flaps).ticks > flaps[-1]
    want = physics.simulate(9, flaps)
    encoded = encode_ticks(flaps)

    async def scenario() -> None:
        pool = ReplayPool(1)
        try:
            got = await pool.replay(9, encoded, want.score, 60_000)
            assert (got.score, got.ticks, got.y) == (want.score, want.ticks, want.y)
            with pytest.raises(RunRefused) as err:
                await pool.replay(9, encoded, want.score + 1, 60_000)
            assert err.value.reason == "score_mismatch"

            (worker,) = pool._procs
            worker.kill()
            await worker.wait()
            with pytest.raises(Exception):  # noqa: B017, PT011 - the dead pipe's error, whichever it is
                await pool.replay(9, encoded, want.score, 60_000)
            (replacement,) = pool._procs
            assert replacement.pid != worker.pid
            assert (await pool.replay(9, encoded, want.score, 60_000)).score == want.score
        finally:
            pool.close()

    run_async(scenario())
