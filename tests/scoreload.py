"""Concurrent POST /score load that behaves like the browser: on 503/429 or a dropped
connection it retries the same run_id (on any live server) until it is acknowledged.

Every acknowledged run_id is recorded, so a test can prove none was lost or doubled.
Bounded: workers stop starting new runs on stop(), and give up retrying at the deadline.
"""

import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

# A request that was sent but got no answer: what "in-flight requests finish" forbids.
DROPPED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.WriteError)


class ScoreLoad:
    def __init__(self, urls: Callable[[], list[str]], threads: int = 4, distinct_scores: int = 500) -> None:
        self.urls = urls
        self.distinct_scores = distinct_scores  # few: writers contend on the same score_counts rows
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(threads)]
        self.acked: dict[str, int] = {}
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.dropped: list[str] = []  # "url: error" for requests sent but never answered
        self.unacked: set[str] = set()
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._lock = threading.Lock()

    def start(self) -> "ScoreLoad":
        for t in self.threads:
            t.start()
        return self

    def stop(self, finish_within: float = 30) -> None:
        """Stop starting runs; keep retrying started ones for up to finish_within seconds."""
        self._deadline = time.monotonic() + finish_within
        self._stop.set()
        for t in self.threads:
            t.join(finish_within + 15)

    def _worker(self, index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(timeout=15) as http:
            while not self._stop.is_set():
                run_id = uuid.uuid4().hex
                score = rng.randrange(0, self.distinct_scores)
                with self._lock:
                    self.unacked.add(run_id)
                self._submit(http, rng, run_id, score)

    def _submit(self, http: httpx.Client, rng: random.Random, run_id: str, score: int) -> None:
        while time.monotonic() < self._deadline:
            urls = self.urls()
            if not urls:
                time.sleep(0.05)
                continue
            url = rng.choice(urls)
            try:
                response = http.post(f"{url}/score", json={"player": "load", "score": score, "run_id": run_id})
            except httpx.HTTPError as exc:
                with self._lock:
                    self.errors[type(exc).__name__] += 1
                    if isinstance(exc, DROPPED):
                        self.dropped.append(f"{url}: {type(exc).__name__}: {exc}")
                time.sleep(0.05)
                continue
            with self._lock:
                self.statuses[response.status_code] += 1
            if response.status_code in (200, 201):
                with self._lock:
                    self.acked[run_id] = score
                    self.unacked.discard(run_id)
                return
            if response.status_code in (429, 503):
                time.sleep(min(float(response.headers.get("retry-after", "1")), 0.2))
                continue
            return  # anything else is a bug the test reports through self.statuses

    def wait_for_acks(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.acked) >= n:
                return
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.acked)} of {n} scores acknowledged in {timeout}s: {self.statuses}")


def _rows(db: Path | str, sql: str) -> list[tuple]:
    """Rows from a SQLite file (a Path) or a PostgreSQL database (its URL)."""
    if isinstance(db, str):
        from tests.pg import query

        return query(db, sql)
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def integrity(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [r[0] for r in db.execute("PRAGMA integrity_check")]


def stored_run_ids(db: Path | str) -> Counter[str]:
    return Counter(r[0] for r in _rows(db, "SELECT run_id FROM scores WHERE run_id IS NOT NULL"))


def assert_every_ack_stored_once(load: ScoreLoad, db_path: Path | str) -> None:
    stored = stored_run_ids(db_path)
    missing = [r for r in load.acked if stored[r] == 0]
    doubled = [r for r, n in stored.items() if n > 1]
    assert not missing, f"{len(missing)} acknowledged scores lost, e.g. {missing[:3]}"
    assert not doubled, f"scores stored twice: {doubled[:3]}"
    tallied = _rows(db_path, "SELECT coalesce(sum(n), 0) FROM score_counts")[0][0]
    rows = _rows(db_path, "SELECT count(*) FROM scores")[0][0]
    assert rows == tallied, f"score_counts ({tallied}) disagrees with scores ({rows})"
