"""The runbook's backup and restore drill, with the real CLI against a real server."""

import os
import sqlite3
import subprocess
import sys

import httpx

from drafty_bird.data.lease import WriterLease, lease_path
from tests.scoreload import ScoreLoad, integrity, stored_run_ids
from tests.server import ROOT, start_server, wait_until


def cli(*args: str, db=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if db is not None:
        env["SCORE_DB_PATH"] = str(db)
    return subprocess.run(
        [sys.executable, "-m", "drafty_bird", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def count(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM scores").fetchone()[0]


def test_backup_during_load_then_restore_to_a_fresh_path(tmp_path) -> None:
    backups = tmp_path / "backups"
    with start_server(tmp_path, {"RATE_LIMIT_SCORE": "off"}) as server:
        load = ScoreLoad(lambda: [server.url], threads=4).start()
        load.wait_for_acks(100, 30)
        acked_before = set(load.acked)
        done = cli("backup", "--to", str(backups), "--keep", "2", db=server.db_path)
        acked_during = len(load.acked) - len(acked_before)
        load.wait_for_acks(len(load.acked) + 30, 30)  # the server kept writing after the snapshot
        load.stop()
        for _ in range(3):
            assert cli("backup", "--to", str(tmp_path / "rotating"), "--keep", "2", db=server.db_path).returncode == 0
    assert done.returncode == 0, done.stderr
    snapshot = tmp_path / done.stdout.strip()
    assert "verified: integrity_check ok" in done.stderr and "pages" in done.stderr  # progress
    assert snapshot.exists() and snapshot.parent == backups
    assert len(list((tmp_path / "rotating").glob("db-*.sqlite"))) == 2, "keep the newest 2"
    assert not list(backups.glob("*.partial"))
    # The snapshot is consistent and holds everything acknowledged before it started.
    assert integrity(snapshot) == ["ok"]
    in_snapshot = stored_run_ids(snapshot)
    assert acked_before <= set(in_snapshot), "an acknowledged score is missing from the backup"
    assert count(snapshot) < count(server.db_path), "the load went on after the snapshot"
    print(f"backup under load: {count(snapshot)} rows; {acked_during} scores acknowledged meanwhile")

    fresh = tmp_path / "restored" / "db.sqlite"
    restored = cli("restore", "--from", str(snapshot), db=fresh)
    assert restored.returncode == 0, restored.stderr
    assert count(fresh) == count(snapshot) and integrity(fresh) == ["ok"]
    assert stored_run_ids(fresh) == in_snapshot

    # Serving from the restored file works: the drill ends with a healthy server.
    with start_server(tmp_path, db_path=fresh, name="restored") as again:
        http = httpx.Client(base_url=again.url, timeout=10)
        assert http.get("/readyz").json()["writer"] is True
        assert http.post("/score", json={"score": 1, "run_id": "after-restore"}).status_code == 201


def test_restore_refuses_while_another_process_holds_the_lease(tmp_path) -> None:
    with start_server(tmp_path) as server:
        httpx.post(server.url + "/score", json={"score": 5, "run_id": "one"})
        backup = cli("backup", "--to", str(tmp_path / "b"), db=server.db_path)
        assert backup.returncode == 0, backup.stderr
        httpx.post(server.url + "/score", json={"score": 6, "run_id": "two"})
        refused = cli("restore", "--from", backup.stdout.strip(), db=server.db_path)
        assert refused.returncode == 1 and "holds the writer lease" in refused.stderr, refused.stderr
        assert count(server.db_path) == 2  # untouched
    # Server stopped (lease released): the restore goes through and keeps the replaced file.
    done = cli("restore", "--from", backup.stdout.strip(), db=server.db_path)
    assert done.returncode == 0, done.stderr
    kept = done.stdout.strip()
    assert count(server.db_path) == 1 and count(kept) == 2
    assert not lease_path(server.db_path).exists(), "restore must give its lease back"

    # A holder that died without releasing: refused until --force.
    assert WriterLease(lease_path(server.db_path), ttl_s=60).tick()
    assert cli("restore", "--from", backup.stdout.strip(), db=server.db_path).returncode == 1
    forced = cli("restore", "--from", backup.stdout.strip(), "--force", db=server.db_path)
    assert forced.returncode == 0 and "--force" in forced.stderr, forced.stderr


def test_restore_refuses_a_backup_that_fails_verification(tmp_path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    db = tmp_path / "db.sqlite"
    done = cli("restore", "--from", str(bad), db=db)
    assert done.returncode == 1 and "drafty-bird restore:" in done.stderr
    assert not db.exists()


def test_periodic_backups_by_the_writer_keep_the_newest(tmp_path) -> None:
    backups = tmp_path / "periodic"
    env = {"BACKUP_INTERVAL_S": "1", "BACKUP_DIR": str(backups), "BACKUP_KEEP": "2"}
    with start_server(tmp_path, env) as server:
        httpx.post(server.url + "/score", json={"score": 9, "run_id": "p"})
        wait_until(lambda: len(list(backups.glob("db-*.sqlite"))) >= 2, 15, message="two periodic backups")
        wait_until(lambda: "backup written" in server.raw_log() and server.raw_log().count("backup written") >= 3, 15)
        files = list(backups.glob("db-*.sqlite"))
    assert len(files) == 2
    assert all(integrity(f) == ["ok"] for f in files)


def test_forced_restore_under_a_running_server_makes_it_not_ready_until_restarted(tmp_path) -> None:
    with start_server(tmp_path) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        assert http.post("/score", json={"score": 5, "run_id": "one"}).status_code == 201
        backup = cli("backup", "--to", str(tmp_path / "b"), db=server.db_path)
        assert backup.returncode == 0, backup.stderr
        assert http.post("/score", json={"score": 6, "run_id": "two"}).status_code == 201

        forced = cli("restore", "--from", backup.stdout.strip(), "--force", db=server.db_path)
        assert forced.returncode == 0, forced.stderr
        assert "holds the writer lease" in forced.stderr and "restart it now" in forced.stderr

        # The next write must not be acknowledged into the replaced file, nor land anywhere.
        refused = http.post("/score", json={"score": 7, "run_id": "three"})
        assert refused.status_code == 503 and refused.headers["retry-after"], refused.text
        assert "restart this process" in refused.json()["error"]
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "replaced" in ready.json()["reason"], ready.text
        assert http.get("/leaderboard").status_code == 503  # no reads from the old file either
        assert "drafty_bird_storage_ready 0.0" in http.get("/metrics").text
        assert any(ln.get("message") == "database file replaced: not ready until restarted" for ln in server.logs())
        assert server.stop() == 0
    assert count(server.db_path) == 1  # the backup's one row; "two" is in the kept file

    # Restarted: serves the restored file, and the refused score, retried, lands there.
    with start_server(tmp_path, db_path=server.db_path, name="restarted") as again:
        http = httpx.Client(base_url=again.url, timeout=10)
        assert http.get("/readyz").json()["writer"] is True
        assert http.post("/score", json={"score": 7, "run_id": "three"}).status_code == 201
        assert [row["score"] for row in http.get("/leaderboard").json()["leaderboard"]] == [7, 5]


def test_readiness_alone_notices_a_forced_restore(tmp_path) -> None:
    # No write after the swap: the readiness probe (what ACA polls) must see it by itself.
    with start_server(tmp_path) as server:
        assert httpx.post(server.url + "/score", json={"score": 5, "run_id": "one"}).status_code == 201
        backup = cli("backup", "--to", str(tmp_path / "b"), db=server.db_path)
        assert cli("restore", "--from", backup.stdout.strip(), "--force", db=server.db_path).returncode == 0
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and "restart this process" in ready.json()["reason"], ready.text
        assert ready.json()["status"] == "not_ready"
