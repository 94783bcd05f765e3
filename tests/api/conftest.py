"""The API suite runs twice from one pytest run: on a SQLite file and on PostgreSQL.

Each module gets its own throwaway PostgreSQL database (created on the shared server at
127.0.0.1:5432, dropped after the module), so suites never see each other's rows.
"""

import contextlib
from collections.abc import Iterator

import pytest

from tests.pg import create_db, drop_db, pg_url
from tests.server import RunningServer, start_server


class Backend:
    """Environment for a server on this module's backend; fresh_env() gives an empty database."""

    def __init__(self, name: str, stack: contextlib.ExitStack) -> None:
        self.name = name
        self._stack = stack

    def fresh_env(self) -> dict[str, str]:
        if self.name == "sqlite":
            return {}  # each server gets its own file under its tmp_path
        db = create_db()
        self._stack.callback(drop_db, db)
        return {"DATABASE_URL": pg_url(db)}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with contextlib.ExitStack() as stack:
        yield Backend(request.param, stack)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("server"), backend.fresh_env()) as running:
        yield running
