"""A PostgREST subset under ``/rest/v1``, run against the local stack's PostgreSQL.

Layout (moto's split): :mod:`~hybridkit.local.rest.parse` reads the request,
:mod:`~hybridkit.local.rest.compose` and :mod:`~hybridkit.local.rest.statements`
build SQL with quoted identifiers and bound values, :mod:`~hybridkit.local.rest.catalog`
reads the schema, :mod:`~hybridkit.local.rest.errors` holds PostgREST's wire errors
and :mod:`~hybridkit.local.rest.handlers` speaks HTTP.

Connections log in as ``authenticator`` (the Supabase CLI's password), exactly
as PostgREST does, and switch to the JWT's role per transaction; a JWT naming a
role that ``authenticator`` may not become fails with PostgreSQL's own 42501.

Example::

    rest = RestService(dsn, keys.jwt_secret)
    await rest.open()
    app = Starlette(routes=[Mount("/rest/v1", app=rest)])
"""

from __future__ import annotations

from psycopg.conninfo import make_conninfo
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hybridkit.local.db import Database
from hybridkit.local.rest.handlers import RestHandlers

__all__ = ["AUTHENTICATOR", "RestService"]

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
        handlers = RestHandlers(self.database, jwt_secret, max_rows=max_rows)

        async def root(request: Request) -> Response:
            # PostgREST answers the root with its OpenAPI document; a stub is enough here.
            return JSONResponse({"swagger": "2.0", "info": {"title": "hybridkit local PostgREST"}})

        self.app = Starlette(
            routes=[
                Route("/", root, methods=["GET", "HEAD"]),
                Route("/rpc/{name}", handlers.rpc, methods=["GET", "HEAD", "POST"]),
                Route(
                    "/{table}",
                    handlers.table,
                    methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
                ),
            ]
        )

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
