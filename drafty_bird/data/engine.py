"""Engine creation (SQLite pragmas, PostgreSQL pool and timeouts) and start-up checks (migrate, quick_check)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, StaticPool

from drafty_bird.data.entra import ENTRA_RECYCLE_S, use_entra
from drafty_bird.data.errors import StorageCorrupt, StorageUnavailable, StorageWriteFailed, classify

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any constant both replicas agree on: pg_advisory_xact_lock(this) serialises their migrations.
MIGRATION_LOCK_KEY = 0x0D4AF7B1D

__all__ = [
    "PgOptions",
    "StorageCorrupt",
    "make_engine",
    "migrate",
    "open_database",
    "prepare_sqlite_file",
    "quick_check",
    "schema_is_current",
]


@dataclass(frozen=True)
class PgOptions:
    """PostgreSQL pool and timeouts (settings DB_POOL_SIZE, DB_STATEMENT_TIMEOUT_MS, DB_CONNECT_TIMEOUT_S)."""

    pool_size: int = 5
    statement_timeout_ms: int = 5000
    connect_timeout_s: int = 5
    # Reconnect well before any server-side or token lifetime runs out.
    recycle_s: int = 1800
    # DATABASE_AUTH=entra: called for each new connection, returns a current token (data.entra).
    password: Callable[[], str] | None = None


def pg_connect_args(opts: PgOptions, application_name: str = "drafty-bird") -> dict[str, object]:
    return {
        "connect_timeout": opts.connect_timeout_s,
        "options": f"-c statement_timeout={int(opts.statement_timeout_ms)}",
        "application_name": application_name,
        # Notice a peer that vanished (failover, network cut) in ~1 min instead of TCP's ~2 h.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def make_pg_engine(url: str, opts: PgOptions) -> Engine:
    engine = create_engine(
        url,
        pool_size=opts.pool_size,
        max_overflow=0,
        # Waiting for a free connection counts as "slow database": 503, not a hung request.
        pool_timeout=opts.connect_timeout_s,
        # A restarted server leaves dead connections in the pool: test each on checkout.
        pool_pre_ping=True,
        pool_recycle=opts.recycle_s if opts.password is None else min(opts.recycle_s, ENTRA_RECYCLE_S),
        connect_args=pg_connect_args(opts),
    )
    if opts.password is not None:
        use_entra(engine, opts.password)
    return engine


def make_listener_engine(url: str, opts: PgOptions, application_name: str) -> Engine:
    """Unpooled: the LISTEN connection is held for hours and replaced only when it breaks."""
    engine = create_engine(url, poolclass=NullPool, connect_args=pg_connect_args(opts, application_name))
    if opts.password is not None:
        use_entra(engine, opts.password)
    return engine


def make_engine(
    url: str, *, journal_mode: str = "delete", busy_timeout_ms: int = 5000, pg: PgOptions | None = None
) -> Engine:
    if url.startswith("postgresql"):
        return make_pg_engine(url, pg or PgOptions())
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        # Connections are used from the store's worker threads, never concurrently.
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # An in-memory DB lives as long as its one connection.
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # DELETE journal by default: WAL needs shared memory on one host, which an
        # SMB share (Azure Files) cannot give. FULL sync: an acknowledged score survives power loss.
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute(f"PRAGMA journal_mode={journal_mode.upper()}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def prepare_sqlite_file(path: Path) -> None:
    path.expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def quick_check(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("PRAGMA quick_check")).fetchall()]
    if rows != ["ok"]:
        raise StorageCorrupt("PRAGMA quick_check: " + "; ".join(rows[:5]))


def open_database(
    url: str,
    *,
    journal_mode: str = "delete",
    busy_timeout_ms: int = 5000,
    migrate_schema: bool = True,
    pg: PgOptions | None = None,
) -> Engine:
    """Start-up: create the directory, check an existing file, migrate, check again.

    An existing file is checked before migrating, so a corrupt one is never written to.
    migrate_schema=False stops after the read-only check (the caller migrates only once
    it holds the writer lease). Raises a data.errors.StorageUnavailable subclass; the
    caller decides fail vs memory.
    """
    engine = None
    try:
        path = None if not url.startswith("sqlite:///") else Path(url.removeprefix("sqlite:///"))
        if path is not None and str(path) != ":memory:":
            prepare_sqlite_file(path)
        engine = make_engine(url, journal_mode=journal_mode, busy_timeout_ms=busy_timeout_ms, pg=pg)
        if path is not None and path.exists() and path.stat().st_size > 0:
            quick_check(engine)
        if migrate_schema:
            migrate(engine)
            quick_check(engine)
        return engine
    except (SQLAlchemyError, OSError, StorageUnavailable) as exc:
        if engine is not None:
            engine.dispose()
        domain = classify(exc) or StorageWriteFailed(f"cannot open database: {exc}".splitlines()[0])
        raise domain from exc


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def revisions() -> list[str]:
    """Every revision id, oldest first (tests migrate from each)."""
    return [
        script.revision for script in reversed(list(ScriptDirectory.from_config(_alembic_config()).walk_revisions()))
    ]


def schema_is_current(engine: Engine) -> bool:
    """Read-only: is the file at the newest migration? (False for an empty file.)"""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply every Alembic migration up to revision (idempotent; runs at each start-up).

    On PostgreSQL every replica may start at once: a transaction-scoped advisory lock lets
    one migrate while the others wait, then find nothing to do. DDL is transactional there,
    so a failed migration leaves the old schema. No statement timeout: an index build may be long.
    """
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
