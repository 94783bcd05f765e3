"""The writer lease on a real file: exclusive, renewed, released, taken over only after
expiry, and never held by two contenders at once even when they race."""

import json
import os
import random
import threading
import time

from drafty_bird.data.lease import WriterLease
from tests.server import wait_until


def test_first_contender_holds_and_others_wait(tmp_path) -> None:
    path = tmp_path / "db.sqlite.writer-lease"
    first, second = WriterLease(path, ttl_s=5), WriterLease(path, ttl_s=5)
    assert first.tick() and first.held()
    assert not second.tick() and not second.held()
    body = json.loads(path.read_text())
    assert body["owner"] == first.owner and body["expires"] > time.time() + 4
    assert body["pid"] == os.getpid()


def test_release_hands_over_at_the_next_tick(tmp_path) -> None:
    path = tmp_path / "lease"
    first, second = WriterLease(path, ttl_s=30), WriterLease(path, ttl_s=30)
    assert first.tick()
    first.stop_writing()
    assert not first.held()  # writes stop before the file goes
    first.release()
    assert not path.exists()
    assert second.tick()
    assert not first.tick()  # a released lease never comes back in the same process


def test_renewal_keeps_it_and_takeover_waits_for_expiry(tmp_path) -> None:
    path = tmp_path / "lease"
    holder, contender = WriterLease(path, ttl_s=1.5), WriterLease(path, ttl_s=1.5)
    assert holder.tick()
    until = time.monotonic() + 2.5
    while time.monotonic() < until:  # renewing holder: the contender never gets in
        assert holder.tick()
        assert not contender.tick()
        time.sleep(0.1)
    # The holder stalls (no renewal): it stops writing before the lease expires ...
    stalled_at = time.time()
    wait_until(lambda: not holder.held(), 1.5, message="holder stops writing before expiry")
    expires = json.loads(path.read_text())["expires"]
    assert time.time() < expires
    assert not contender.tick()  # ... and nobody may take over until it has expired
    wait_until(contender.tick, 3, interval=0.05, message="takeover after expiry")
    assert time.time() >= expires and time.time() - stalled_at < 3
    assert not holder.tick()  # the old holder sees the new owner and stays out


def test_a_half_written_lease_from_a_crash_expires_after_a_ttl(tmp_path) -> None:
    path = tmp_path / "lease"
    path.write_bytes(b'{"owner": "crashed", "exp')
    lease = WriterLease(path, ttl_s=1)
    assert not lease.tick()
    old = time.time() - 5
    os.utime(path, (old, old))
    assert lease.tick()


def test_racing_contenders_never_overlap(tmp_path) -> None:
    """Eight threads fight over one short lease; holders randomly stall past expiry.

    Each success records the window in which its holder believed it could write; the
    windows of different owners must never overlap.
    """
    path = tmp_path / "lease"
    windows: list[tuple[float, float, str]] = []
    lock = threading.Lock()
    stop = time.monotonic() + 6

    def contender(seed: int) -> None:
        rng = random.Random(seed)
        lease = WriterLease(path, ttl_s=0.6)
        while time.monotonic() < stop:
            now = time.time()
            if lease.tick():
                with lock:
                    windows.append((now, lease._expires - lease.safety_s, lease.owner))
                if rng.random() < 0.15:
                    time.sleep(rng.uniform(0.6, 1.2))  # stall: the lease lapses under us
            time.sleep(rng.uniform(0, 0.03))

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    owners = {w[2] for w in windows}
    assert len(owners) >= 3, f"too few handovers to prove anything: {len(owners)}"
    latest_end: dict[str, float] = {}
    for start, end, owner in sorted(windows):
        for other, other_end in latest_end.items():
            assert other == owner or start >= other_end, (
                f"{owner} held from {start} while {other} held until {other_end}"
            )
        latest_end[owner] = max(end, latest_end.get(owner, end))
