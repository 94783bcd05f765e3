"""DATABASE_AUTH=entra: the token is the password of each new connection.

Azure cannot be reached from here, so the credential is a stand-in that hands out tokens
with expiry times; the PostgreSQL server is real (our own instance with scram-sha-256 on
TCP), and the role's password is set to the current token, so a connection only opens if
the hook really sent that token.
"""

import pytest
from azure.core.credentials import AccessToken
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from drafty_bird.data.engine import PgOptions, make_pg_engine
from drafty_bird.data.entra import ENTRA_RECYCLE_S, REFRESH_MARGIN_S, SCOPE, EntraPassword
from drafty_bird.settings import SettingsError, load_settings
from tests.pg import private_server
from tests.server import free_port


class FakeCredential:
    """Stands in for DefaultAzureCredential: token N expires an hour after it is issued."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.issued: list[str] = []
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        self.issued.append(f"tok-{len(self.issued) + 1}")
        return AccessToken(self.issued[-1], int(self.clock[0]) + 3600)


def test_tokens_are_cached_until_near_expiry_then_renewed() -> None:
    now = [1_000_000.0]
    credential = FakeCredential(now)
    password = EntraPassword(credential, clock=lambda: now[0])
    assert password() == password() == "tok-1"
    now[0] += 3600 - REFRESH_MARGIN_S - 1
    assert password() == "tok-1"
    now[0] += 2  # inside the margin: a connection opened now might outlive the token's check
    assert password() == "tok-2"
    assert credential.scopes == [(SCOPE,), (SCOPE,)]


def test_each_new_connection_authenticates_with_the_current_token() -> None:
    now = [1_000_000.0]
    credential = FakeCredential(now)
    token = EntraPassword(credential, clock=lambda: now[0])
    hook_calls: list[str] = []

    def password() -> str:
        hook_calls.append(token())
        return hook_calls[-1]

    port = free_port()
    with private_server(port, host_auth="scram-sha-256") as pg:
        with pg.admin() as admin:
            admin.execute("CREATE ROLE \"drafty-mi\" LOGIN PASSWORD 'tok-1'")
        # The managed identity's name is the user; no password in the URL. No TLS on this test server.
        url = f"postgresql+psycopg://drafty-mi@127.0.0.1:{port}/postgres?sslmode=disable"
        engine = make_pg_engine(url, PgOptions(pool_size=3, password=password))
        assert engine.pool._recycle <= ENTRA_RECYCLE_S  # private: no public accessor for the recycle age
        try:
            conns = [engine.connect() for _ in range(3)]  # three physical connections: three hook calls
            assert all(c.execute(text("SELECT current_user")).scalar() == "drafty-mi" for c in conns)
            for c in conns:
                c.close()
            assert hook_calls == ["tok-1"] * 3 and credential.issued == ["tok-1"]

            # The token expires; the server now only accepts its successor.
            with pg.admin() as admin:
                admin.execute("ALTER ROLE \"drafty-mi\" PASSWORD 'tok-2'")
            engine.dispose()  # what pool recycling does to old connections
            now[0] += 3600
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
            assert hook_calls[-1] == "tok-2" and credential.issued == ["tok-1", "tok-2"]
        finally:
            engine.dispose()

        # Without the hook the same URL is refused: the token really is the password.
        bare = make_pg_engine(url, PgOptions(connect_timeout_s=2))
        with pytest.raises(OperationalError, match="password"):
            bare.connect()
        bare.dispose()


def test_entra_needs_a_postgresql_url() -> None:
    with pytest.raises(SettingsError, match="DATABASE_AUTH"):
        load_settings(database_auth="entra", storage_fallback="memory")
    settings = load_settings(database_auth="ENTRA", database_url="postgresql://mi@host/db")
    assert settings.database_auth == "entra"
    assert settings.db_url == "postgresql+psycopg://mi@host/db"
