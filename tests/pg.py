"""Real PostgreSQL for tests: a throwaway database per use on the shared server
(127.0.0.1:5432, trust auth, user postgres), or a private server on its own port
(initdb + pg_ctl) for tests that must stop and start it.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")


def pg_url(dbname: str, *, port: int = PG_PORT, driver: str = "postgresql+psycopg") -> str:
    return f"{driver}://{PG_USER}@{PG_HOST}:{port}/{dbname}"


def admin(port: int = PG_PORT) -> psycopg.Connection:
    try:
        return psycopg.connect(host=PG_HOST, port=port, user=PG_USER, dbname="postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        raise AssertionError(
            f"PostgreSQL is not reachable at {PG_HOST}:{port} as {PG_USER} ({exc}); "
            "start it (Debian: service postgresql start) or set TEST_PG_HOST/TEST_PG_PORT"
        ) from None


def create_db(port: int = PG_PORT) -> str:
    name = "db_test_" + uuid.uuid4().hex[:12]
    with admin(port) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_db(name: str, port: int = PG_PORT) -> None:
    with admin(port) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_db(port: int = PG_PORT) -> Iterator[str]:
    """A fresh empty database's SQLAlchemy URL; dropped afterwards (even with connections open)."""
    name = create_db(port)
    try:
        yield pg_url(name, port=port)
    finally:
        drop_db(name, port)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description is not None else []


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise AssertionError(f"{name} not found: apt-get install postgresql (make test runs scripts/system-deps.sh)")


@dataclass
class PrivateServer:
    """Our own PostgreSQL on its own port and data directory, to stop and start at will."""

    datadir: Path
    port: int

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [pg_bin("pg_ctl"), "-D", str(self.datadir), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            **_as_postgres_user(),
        )

    def admin(self) -> psycopg.Connection:
        """Superuser over the Unix socket (trust), whatever host_auth says."""
        return psycopg.connect(host=str(self.datadir), port=self.port, user=PG_USER, dbname="postgres", autocommit=True)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._ctl("-w", "-l", str(self.datadir / "server.log"), "-o", opts, "start")

    def kill(self) -> None:
        """Immediate shutdown: every connection dropped at once, no checkpoint (a crash, recovered at start)."""
        self._ctl("-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop", check=False)


def _as_postgres_user() -> dict:
    # initdb and postgres refuse to run as root: drop to the postgres account when we are root.
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@contextlib.contextmanager
def private_server(port: int, host_auth: str = "trust") -> Iterator[PrivateServer]:
    """initdb + pg_ctl start on port; stopped and deleted afterwards.

    host_auth applies to TCP connections (e.g. "scram-sha-256" to check passwords); the
    Unix socket in the data directory stays trust, for the test's own admin connection.

    Its own directory under /tmp: pytest's tmp dirs are private to root, and postgres
    (which refuses to run as root) must reach its data directory.
    """
    datadir = Path(tempfile.mkdtemp(prefix="drafty-pg-")) / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        datadir.parent.chmod(0o755)
        shutil.chown(datadir, "postgres", "postgres")
    subprocess.run(
        [
            pg_bin("initdb"),
            *("-D", str(datadir), "-U", PG_USER, "-E", "UTF8", "--no-sync"),
            *("--auth-local=trust", f"--auth-host={host_auth}"),
        ],
        capture_output=True,
        check=True,
        timeout=120,
        **_as_postgres_user(),
    )
    server = PrivateServer(datadir, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(datadir.parent, ignore_errors=True)
