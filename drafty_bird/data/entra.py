"""DATABASE_AUTH=entra: Azure Database for PostgreSQL with a Microsoft Entra token as the password.

The server checks the token only when a connection opens, so every new connection asks
for a current one (cached until it nears expiry), and the pool recycles connections long
before a token's lifetime (~1 h) ends. The URL names the managed identity as the user.
"""

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from azure.core.credentials import AccessToken
from sqlalchemy import Dialect, Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
# Ask for a new token this long before the cached one expires: a connection opened with
# it must still be accepted after the request (clock skew, slow TLS handshake).
REFRESH_MARGIN_S = 300
# Pooled connections are replaced this often: well inside a token's ~60-90 min lifetime.
ENTRA_RECYCLE_S = 1200


class TokenCredential(Protocol):
    def get_token(self, *scopes: str) -> AccessToken: ...


class EntraPassword:
    """A current token for each new connection; thread-safe (the store's threads connect)."""

    def __init__(self, credential: TokenCredential, *, clock: Callable[[], float] = time.time) -> None:
        self.credential = credential
        self.clock = clock
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_on - REFRESH_MARGIN_S <= self.clock():
                self._token = self.credential.get_token(SCOPE)
                log.info("database token refreshed", extra={"expires_on": self._token.expires_on})
            return self._token.token


@functools.cache
def process_password() -> EntraPassword:
    """One token cache per process, shared by the pool and the LISTEN connection."""
    # Managed identity in Azure (AZURE_CLIENT_ID picks a user-assigned one), az login on a laptop.
    from azure.identity import DefaultAzureCredential

    return EntraPassword(DefaultAzureCredential(exclude_interactive_browser_credential=True))


def use_entra(engine: Engine, password: Callable[[], str]) -> None:
    """Every new physical connection of engine authenticates with password() over TLS."""

    @event.listens_for(engine, "do_connect")
    def _token_as_password(
        _dialect: Dialect, _record: ConnectionPoolEntry, _cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> None:
        cparams["password"] = password()
        cparams.setdefault("sslmode", "require")  # Azure refuses plain connections; the token must not travel in clear
