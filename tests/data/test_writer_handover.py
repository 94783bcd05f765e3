"""Two real server processes on one SQLite file, under concurrent POST load on both,
while the lease holder is stopped (SIGTERM), restarted, and later killed (SIGKILL).

Both processes run on this host, so SQLite's own file locks still serialise them; what
this proves is the lease protocol, which is all that protects the file on Azure Files
with nobrl: every row records the writer_id that committed it, and the rows of each
writer must form one contiguous block in commit order (nobody wrote while another held
the lease), in the order the lease changed hands.
"""

import signal
import sqlite3
import time

import httpx
import pytest

from tests.scoreload import ScoreLoad, assert_every_ack_stored_once, integrity
from tests.server import RunningServer, launch, wait_healthy, wait_until

TTL_S = 3.0
ENV = {"WRITER_LEASE_TTL_S": str(TTL_S), "RATE_LIMIT_SCORE": "off", "SHUTDOWN_DELAY_S": "1"}


def ready_body(server: RunningServer) -> dict:
    try:
        response = httpx.get(server.url + "/readyz", timeout=2)
    except httpx.HTTPError:
        return {}
    return response.json() if response.status_code == 200 else {}


def is_writer(server: RunningServer) -> bool:
    return ready_body(server).get("writer") is True


def writer_blocks(db_path) -> list[str]:
    """writer_id of each row in commit (id) order, runs collapsed: A A B B A -> [A, B, A]."""
    with sqlite3.connect(db_path) as db:
        ids = [r[0] for r in db.execute("SELECT writer_id FROM scores ORDER BY id")]
        created = [r[0] for r in db.execute("SELECT created_at FROM scores ORDER BY id")]
    assert created == sorted(created), "rows were committed out of time order"
    blocks: list[str] = []
    for writer in ids:
        if not blocks or blocks[-1] != writer:
            blocks.append(writer)
    return blocks


def lease_owner(server: RunningServer) -> str:
    import json

    return json.loads(server.db_path.with_name(server.db_path.name + ".writer-lease").read_text())["owner"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_lease_hands_over_on_sigterm_and_after_kill_without_losing_or_doubling(tmp_path) -> None:
    db = tmp_path / "share" / "db.sqlite"
    a = launch(tmp_path, ENV, db_path=db, name="a")
    servers: dict[str, RunningServer] = {"a": a}
    try:
        wait_healthy(a)
        wait_until(lambda: is_writer(a), 10, message="first server becomes the writer")
        owner_a = lease_owner(a)
        b = servers["b"] = launch(tmp_path, ENV, db_path=db, name="b")
        wait_healthy(b)
        body = ready_body(b)
        assert body["writer"] is False, body  # stays ready (200) without the lease

        load = ScoreLoad(lambda: [s.url for s in servers.values() if s.proc.poll() is None], threads=4).start()
        load.wait_for_acks(40, 30)

        # 1. Graceful handover: the holder's SIGTERM hands the lease to B within 2 s.
        sent = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: is_writer(b), 2.0, interval=0.02, message="B takes the lease within 2 s of A's SIGTERM")
        handover_s = time.monotonic() - sent
        assert a.proc.wait(15) == 0
        owner_b = lease_owner(b)
        acked_before = len(load.acked)
        load.wait_for_acks(acked_before + 40, 30)

        # 2. A comes back: it reads, refuses writes with 503 + Retry-After: 2, stays ready.
        a2 = servers["a"] = launch(tmp_path, ENV, db_path=db, name="a2")
        wait_healthy(a2)
        assert ready_body(a2)["writer"] is False
        refused = httpx.post(a2.url + "/score", json={"player": "x", "score": 1, "run_id": "probe-a2"}, timeout=5)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2", refused.text
        load.wait_for_acks(len(load.acked) + 40, 30)

        # 3. The holder is killed: A2 takes over once the lease expires (within the TTL).
        b.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        b.proc.wait(5)
        wait_until(lambda: is_writer(a2), TTL_S + 2, interval=0.05, message="A2 takes over after B is killed")
        takeover_s = time.monotonic() - killed
        load.wait_for_acks(len(load.acked) + 40, 30)
        load.stop(finish_within=30)
        owner_a2 = lease_owner(a2)
    finally:
        for server in servers.values():
            server.stop()

    print(f"handover after SIGTERM {handover_s:.2f}s, takeover after SIGKILL {takeover_s:.2f}s (TTL {TTL_S}s)")
    assert takeover_s <= TTL_S + 1.0
    assert load.statuses[500] == 0, load.statuses
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert not load.unacked, f"{len(load.unacked)} runs never acknowledged"
    assert integrity(db) == ["ok"]
    assert_every_ack_stored_once(load, db)
    # One writer at a time, in the order the lease moved: A, then B, then A2.
    assert writer_blocks(db) == [owner_a, owner_b, owner_a2]
