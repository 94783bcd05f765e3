"""Engine creation, SQLite pragmas and start-up checks (migrate, quick_check)."""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from drafty_bird.data.errors import StorageCorrupt, StorageUnavailable, StorageWriteFailed, classify

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

__all__ = [
    "StorageCorrupt",
    "make_engine",
    "migrate",
    "open_database",
    "prepare_sqlite_file",
    "quick_check",
    "schema_is_current",
]


def make_engine(url: str, *, journal_mode: str = "delete", busy_timeout_ms: int = 5000) -> Engine:
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
    url: str, *, journal_mode: str = "delete", busy_timeout_ms: int = 5000, migrate_schema: bool = True
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
        engine = make_engine(url, journal_mode=journal_mode, busy_timeout_ms=busy_timeout_ms)
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


def schema_is_current(engine: Engine) -> bool:
    """Read-only: is the file at the newest migration? (False for an empty file.)"""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent; runs at each start-up)."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
