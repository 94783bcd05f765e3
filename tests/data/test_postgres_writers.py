"""Several replicas writing to one PostgreSQL database: two real server processes take
scores at once (no writer lease), and the counters behind rank and total match a recount."""

import concurrent.futures
import uuid

import httpx
import pytest

from tests.pg import query, throwaway_db
from tests.scoreload import ScoreLoad, assert_every_ack_stored_once
from tests.server import launch, wait_healthy

pytestmark = pytest.mark.slow


def test_two_processes_write_at_once_and_counts_match_a_recount(tmp_path) -> None:
    with throwaway_db() as url:
        env = {"DATABASE_URL": url, "DB_POOL_SIZE": "4"}
        # Both start (and migrate) at the same moment: the advisory lock lets one migrate.
        servers = [launch(tmp_path, env, name=name) for name in ("a", "b")]
        try:
            for server in servers:
                wait_healthy(server)
            urls = [s.url for s in servers]
            load = ScoreLoad(lambda: urls, threads=6, distinct_scores=3).start()
            load.wait_for_acks(200, timeout=90)
            load.stop()
            assert set(load.statuses) <= {200, 201}, load.statuses
            assert not load.errors, load.errors
            assert_every_ack_stored_once(load, url)

            # Retrying each acked run on the *other* replica stores nothing new.
            sample = list(load.acked.items())[:40]

            def retry(item: tuple[str, int]) -> httpx.Response:
                run_id, score = item
                return httpx.post(
                    f"{urls[hash(run_id) % 2]}/score", json={"player": "again", "score": score, "run_id": run_id}
                )

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                retries = list(pool.map(retry, sample))
            assert {r.status_code for r in retries} == {200}
            assert all(r.json()["duplicate"] and r.json()["stored"]["player"] == "load" for r in retries)

            # The counters are the recount, score by score.
            counts = dict(query(url, "SELECT score, n FROM score_counts WHERE n > 0"))
            recount = dict(query(url, "SELECT score, count(*) FROM scores GROUP BY score"))
            assert counts == recount
            # Both replicas wrote: no single-writer lease on PostgreSQL.
            writers = query(url, "SELECT count(DISTINCT writer_id) FROM scores")[0][0]
            assert writers == 2

            # Rank and total of a fresh score equal what a recount says.
            probe = httpx.post(urls[1] + "/score", json={"score": 1, "run_id": uuid.uuid4().hex}).json()
            above, total = query(url, "SELECT count(*) FILTER (WHERE score > 1), count(*) FROM scores")[0]
            assert (probe["rank"], probe["total"]) == (above + 1, total)
        finally:
            for server in servers:
                server.stop()
