"""PostgreSQL down or restarting under load: /readyz 503, writes 503 with Retry-After,
never a 500; the process recovers by itself and no acknowledged score is lost.

Our own server (initdb + pg_ctl on a free port), killed with an immediate shutdown (every
connection dropped, crash recovery at the next start) while clients keep posting.
"""

from collections.abc import Iterator

import httpx
import pytest

from tests.pg import PrivateServer, pg_url, private_server
from tests.scoreload import ScoreLoad, assert_every_ack_stored_once
from tests.server import free_port, start_server, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivateServer]:
    with private_server(free_port()) as server:
        yield server


def test_kill_and_restart_under_load_answers_503_then_recovers_losing_nothing(tmp_path, pg: PrivateServer) -> None:
    if True:
        url = pg_url("postgres", port=pg.port)
        env = {"DATABASE_URL": url, "DB_CONNECT_TIMEOUT_S": "2", "DB_POOL_SIZE": "3"}
        with start_server(tmp_path, env) as app, httpx.Client(base_url=app.url, timeout=10) as http:
            load = ScoreLoad(lambda: [app.url], threads=4).start()
            load.wait_for_acks(40, timeout=30)

            pg.kill()
            refusals: list[httpx.Response] = []

            def refused() -> bool:
                response = http.post("/score", json={"score": 1, "run_id": "probe-while-down"})
                refusals.append(response)
                return response.status_code == 503 and http.get("/readyz").status_code == 503

            wait_until(refused, 15, message="503s while PostgreSQL is down")
            assert refusals[-1].headers["retry-after"].isdigit()
            assert set(refusals[-1].json()) == {"error", "request_id"}
            assert http.get("/healthz").status_code == 200  # alive: no restart wanted, just no traffic
            down_at = len(load.acked)

            pg.start()
            wait_until(lambda: http.get("/readyz").status_code == 200, 30, message="ready again")
            load.wait_for_acks(down_at + 40, timeout=30)
            load.stop()

            assert app.proc.poll() is None, "the server died"
            assert 500 not in load.statuses and not any(r.status_code >= 500 and r.status_code != 503 for r in refusals)
            assert set(load.statuses) <= {200, 201, 503}, load.statuses
            assert load.statuses[503] > 0, "the outage was never seen by the load"
            assert not load.unacked, f"{len(load.unacked)} runs never acknowledged"
            assert_every_ack_stored_once(load, url)
            assert "Traceback" not in app.raw_log()


def test_database_down_at_start_up_is_not_ready_then_ready_once_it_returns(tmp_path, pg: PrivateServer) -> None:
    pg.stop()
    env = {"DATABASE_URL": pg_url("postgres", port=pg.port), "DB_CONNECT_TIMEOUT_S": "2", "STORAGE_REOPEN_S": "0.5"}
    with start_server(tmp_path, env) as app, httpx.Client(base_url=app.url, timeout=10) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "unreachable" in ready.json()["reason"], ready.text
        refused = http.post("/score", json={"score": 3, "run_id": "early"})
        assert refused.status_code == 503 and refused.headers["retry-after"].isdigit(), refused.text
        assert http.get("/leaderboard").status_code == 503
        pg.start()
        wait_until(lambda: http.get("/readyz").status_code == 200, 30, message="ready once PostgreSQL is up")
        assert http.post("/score", json={"score": 3, "run_id": "early"}).status_code == 201
        assert http.get("/readyz").json()["storage_mode"] == "postgresql"
