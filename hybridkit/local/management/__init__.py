"""A Supabase Management API subset under ``/v1``, for the local stack.

It serves what hybridkit's Management API client needs, for real: SQL queries
(with ``read_only``), the migration ledger, storage settings, advisors and
branches. The stack answers to the project ref ``local`` (:data:`LOCAL_REF`):
point a client at it with ``SUPABASE_MANAGEMENT_URL=http://127.0.0.1:54321``,
``SUPABASE_PROJECT_REF=local`` and ``SUPABASE_ACCESS_TOKEN`` = the stack's
access token. A branch answers to its own ref on the same routes.

The local services' shape (docs/local-stack.md): :func:`create_app` here builds the app,
:mod:`~.routes` holds the Starlette routes, :mod:`~.parsing` reads the request bodies,
:mod:`~.models` the state (databases, ledger, branches), :mod:`~.errors` the wire errors;
:mod:`~.advisors` runs the lints.

Example::

    management = create_app(config)
    app = Starlette(routes=[Mount("/v1", app=management)])
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from hybridkit.local.config import ServerConfig
from hybridkit.local.management.models import Databases
from hybridkit.local.management.routes import ManagementRoutes

__all__ = ["LOCAL_REF", "ManagementService", "create_app"]

LOCAL_REF = "local"


class ManagementService:
    """The ``/v1`` ASGI app.

    Args:
        dsn: the superuser DSN of the stack's main database.
        access_token: the token every request must carry (``Authorization: Bearer``).
        project_ref: the ref the main database answers to.
        jwt_secret: reported as a branch's ``jwt_secret`` (branches share the stack's).
    """

    def __init__(
        self,
        dsn: str,
        *,
        access_token: str,
        project_ref: str = LOCAL_REF,
        jwt_secret: str = "",
    ) -> None:
        self.databases = Databases(dsn, project_ref)
        routes = ManagementRoutes(self.databases, access_token, jwt_secret)
        self.app = Starlette(routes=routes.routes())

    async def open(self) -> None:
        """Nothing to open: every request has its own connection."""

    async def close(self) -> None:
        """Nothing to close."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(config: ServerConfig) -> ManagementService:
    """Build the Management API subset's ASGI app (mount it at ``/v1``).

    Args:
        config: the stack's settings (database, access token, JWT secret).
    """
    return ManagementService(
        config.db_dsn, access_token=config.keys.access_token, jwt_secret=config.keys.jwt_secret
    )
