"""A PostgREST subset under ``/rest/v1``, run against the local stack's PostgreSQL.

The local services' shape (docs/local-stack.md): :func:`create_app` here builds the app,
:mod:`~.routes` holds the Starlette routes (HTTP in, PostgREST's answers out),
:mod:`~.parsing` reads the request (query string, ``Prefer``, ``Range``) and
:mod:`~.errors` holds PostgREST's wire errors. PostgREST keeps no state of its own: what
a ``models`` module is elsewhere is here the SQL it runs — :mod:`~.catalog` reads the
schema, :mod:`~.compose`, :mod:`~.statements`, :mod:`~.embed` and :mod:`~.relationships`
build statements with quoted identifiers and bound values.

Connections log in as ``authenticator`` (the Supabase CLI's password), exactly
as PostgREST does, and switch to the JWT's role per transaction; a JWT naming a
role that ``authenticator`` may not become fails with PostgreSQL's own 42501.

Example::

    rest = create_app(config)
    await rest.open()
    app = Starlette(routes=[Mount("/rest/v1", app=rest)])
"""

from __future__ import annotations

from psycopg.conninfo import make_conninfo
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from hybridkit.local.config import ServerConfig
from hybridkit.local.db import Database
from hybridkit.local.rest.routes import RestRoutes

__all__ = ["AUTHENTICATOR", "RestService", "create_app"]

AUTHENTICATOR = "authenticator"
# The Supabase CLI gives authenticator the same local password as postgres.
_AUTHENTICATOR_PASSWORD = "postgres"


class RestService:
    """The ``/rest/v1`` ASGI app with its own pool of ``authenticator`` connections.

    Args:
        dsn: any DSN of the stack's database; user and password are replaced by
            ``authenticator``'s.
        jwt_secret: the secret JWTs are verified with.
    """

    def __init__(
        self, dsn: str, jwt_secret: str, *, max_size: int = 8, max_rows: int | None = 1000
    ) -> None:
        login = make_conninfo(dsn, user=AUTHENTICATOR, password=_AUTHENTICATOR_PASSWORD)
        self.database = Database(login, min_size=1, max_size=max_size)
        routes = RestRoutes(self.database, jwt_secret, max_rows=max_rows)
        self.app = Starlette(routes=routes.routes())

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(config: ServerConfig) -> RestService:
    """Build the PostgREST subset's ASGI app (mount it at ``/rest/v1``; open it in the lifespan).

    Args:
        config: the stack's settings (database, JWT secret, ``max_rows``).
    """
    return RestService(config.db_dsn, config.keys.jwt_secret, max_rows=config.max_rows)
