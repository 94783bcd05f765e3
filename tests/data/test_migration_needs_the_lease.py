"""A migration is a write: only the lease holder runs it. A newer release that starts
while the old one still holds the lease (revision overlap) leaves the file alone, and
migrates the moment it takes the lease over, before its first write."""

import sqlite3

import httpx
import pytest

from drafty_bird.data.lease import WriterLease, lease_path
from drafty_bird.data.store import NotWriter, open_store
from tests.aio import run_async
from tests.server import launch, wait_healthy, wait_until


def tables(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_non_writer_never_migrates_and_migrates_once_it_holds_the_lease(tmp_path) -> None:
    db = tmp_path / "share" / "db.sqlite"
    db.parent.mkdir()
    holder = WriterLease(lease_path(db), owner="old-revision", ttl_s=60)
    assert holder.tick()
    server = launch(
        tmp_path, {"WRITER_LEASE_TTL_S": "6"}, db_path=db
    )  # held 4 s past each renewal: room for a slow one
    try:
        wait_healthy(server)
        http = httpx.Client(base_url=server.url, timeout=10)
        refused = http.post("/score", json={"score": 4, "run_id": "early"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2", refused.text
        assert http.get("/readyz").status_code == 503  # nothing to read yet
        assert tables(db) == set(), "a process without the lease wrote to the file"

        holder.release()  # the old revision stops
        wait_until(lambda: http.get("/readyz").status_code == 200, 10, message="new writer migrated and ready")
        assert http.get("/readyz").json()["writer"] is True
        assert {"scores", "score_counts", "alembic_version"} <= tables(db)
        accepted = http.post("/score", json={"score": 4, "run_id": "early"})
        assert accepted.status_code == 201, (accepted.text, accepted.headers)
    finally:
        server.stop()
    assert any(rec.get("message") == "database migrated by the new writer" for rec in server.logs())


def test_a_writer_that_took_the_lease_over_is_not_ready_until_migrated(tmp_path) -> None:
    """Readiness follows the migration, not the lease: between taking the lease and
    finishing the migration, writes are refused, so /readyz must not say 200 yet."""
    db = tmp_path / "db.sqlite"
    holder = WriterLease(lease_path(db), owner="old-revision", ttl_s=60)
    assert holder.tick()
    store, _ = open_store(f"sqlite:///{db}", fallback="fail", lease_path=lease_path(db), lease_ttl_s=6)
    try:
        holder.release()
        assert store.lease is not None and store.lease.tick()  # what lease.keep does next
        assert store.is_writer() and not store.schema_current
        with pytest.raises(NotWriter, match="migration pending"):
            run_async(store.ping())
        run_async(store.ensure_schema())
        run_async(store.ping())
        assert run_async(store.add("after", 4, "after-1")).row.score == 4
    finally:
        store.close()
