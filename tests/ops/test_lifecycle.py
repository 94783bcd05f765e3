"""Process lifecycle under concurrent POST load, with real signals to a real server.

SIGTERM (what ACA sends when a revision or replica stops): /readyz answers 503 at
once, every request already sent gets its answer, the writer lease is released, and
the process exits 0 within 10 s. SIGKILL (a crash or OOM kill): no acknowledged score
is lost and the file passes integrity_check after restart.
"""

import signal
import threading
import time

import httpx
import pytest

from tests.ops.scrape import scrape, value
from tests.scoreload import ScoreLoad, assert_every_ack_stored_once, integrity
from tests.server import launch, wait_healthy, wait_until

ENV = {"RATE_LIMIT_SCORE": "off", "WRITER_LEASE_TTL_S": "3"}


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_and_exits_0_within_10s(tmp_path) -> None:
    server = launch(tmp_path, ENV)  # production defaults for the drain itself (SHUTDOWN_DELAY_S=2)
    lease_file = server.db_path.with_name(server.db_path.name + ".writer-lease")
    try:
        wait_healthy(server)
        assert lease_file.exists()
        # A load balancer stand-in: it stops routing here once /readyz says 503.
        routed = threading.Event()
        routed.set()
        first_503: list[float] = []

        def balancer() -> None:
            while routed.is_set():
                try:
                    if httpx.get(server.url + "/readyz", timeout=2).status_code == 503:
                        first_503.append(time.monotonic())
                        routed.clear()
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)

        watcher = threading.Thread(target=balancer, daemon=True)
        watcher.start()
        load = ScoreLoad(lambda: [server.url] if routed.is_set() else [], threads=6).start()
        load.wait_for_acks(60, 30)

        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: bool(first_503), 1.0, interval=0.01, message="/readyz answers 503 right after SIGTERM")
        code = server.proc.wait(15)
        exit_s = time.monotonic() - sent
        load.stop(finish_within=1)  # the server is gone: unacknowledged runs stay unacknowledged
        watcher.join(5)
    finally:
        server.stop()

    assert code == 0, server.raw_log()[-2000:]
    assert exit_s < 10, f"exit took {exit_s:.1f}s"
    assert first_503[0] - sent < 1.0
    # Every request that reached the server before the balancer moved away got an answer.
    assert not load.dropped, load.dropped[:5]
    assert load.statuses[500] == 0, load.statuses
    assert not lease_file.exists(), "the writer lease was not released"
    messages = [line.get("message") for line in server.logs()]
    assert "writer lease released" in messages and messages[-1] == "shutdown complete", messages[-5:]
    assert integrity(server.db_path) == ["ok"]
    assert_every_ack_stored_once(load, server.db_path)


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_score(tmp_path) -> None:
    first = launch(tmp_path, ENV, name="first")
    servers = [first]
    try:
        wait_healthy(first)
        # 16 clients: enough that scores wait for each other's commit and share one (group commit).
        load = ScoreLoad(lambda: [s.url for s in servers if s.proc.poll() is None], threads=16).start()
        load.wait_for_acks(150, 30)

        def batched() -> bool:
            samples = scrape(first.url)
            return value(samples, "drafty_bird_db_write_batch_size_sum") > value(
                samples, "drafty_bird_db_write_batch_size_count"
            )

        wait_until(batched, 30, interval=0.2, message="a group commit of more than one score")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(5)
        acked_at_kill = len(load.acked)
        assert integrity(first.db_path) == ["ok"]  # before anything else opens it
        assert_every_ack_stored_once(load, first.db_path)

        # Restart on the same file: it waits out the dead writer's lease, then writes again;
        # the runs that were in flight at the kill are retried and stored exactly once.
        second = launch(tmp_path, ENV, db_path=first.db_path, name="second")
        servers.append(second)
        wait_healthy(second)
        load.wait_for_acks(acked_at_kill + 50, 30)
        load.stop(finish_within=30)
    finally:
        for server in servers:
            server.stop()

    assert load.statuses[500] == 0, load.statuses
    assert not load.unacked, f"{len(load.unacked)} runs never acknowledged"
    assert integrity(first.db_path) == ["ok"]
    assert_every_ack_stored_once(load, first.db_path)


def test_a_slow_request_still_running_when_the_listener_closes_gets_its_answer(tmp_path) -> None:
    """Chaos latency (2.5 s on /leaderboard) keeps requests in flight across the moment
    uvicorn stops listening (SHUTDOWN_DELAY_S after SIGTERM); each must still get its 200."""
    env = {
        "CHAOS_ENABLED": "true",
        "CHAOS_LATENCY_MS_P50": "2500",
        "CHAOS_LATENCY_MS_P99": "2500",
        "CHAOS_ROUTES": "/leaderboard",
        "SHUTDOWN_DELAY_S": "1",
    }
    server = launch(tmp_path, env)
    results: dict[str, object] = {}

    def slow_get(name: str) -> None:
        started = time.monotonic()
        try:
            response = httpx.get(server.url + "/leaderboard", timeout=15)
            results[name] = (response.status_code, time.monotonic() - started)
        except httpx.HTTPError as exc:
            results[name] = exc

    try:
        wait_healthy(server)
        early = threading.Thread(target=slow_get, args=("before-signal",))
        early.start()
        time.sleep(0.3)
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # still inside the 1 s drain delay: the listener is open
        late = threading.Thread(target=slow_get, args=("during-drain",))
        late.start()
        code = server.proc.wait(15)
        exit_s = time.monotonic() - sent
        early.join(10)
        late.join(10)
    finally:
        server.stop()
    assert code == 0 and exit_s < 10, (code, exit_s)
    for name in ("before-signal", "during-drain"):
        outcome = results[name]
        assert isinstance(outcome, tuple) and outcome[0] == 200, f"{name}: {outcome!r}"
        assert outcome[1] >= 2.0, f"{name} was not slowed down by chaos: {outcome!r}"
    # The late request was still running when the listener closed (1 s after the signal).
    assert exit_s > 0.5 + 2.0
