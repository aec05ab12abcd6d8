"""A Supabase Management API subset under ``/v1``, for the local stack.

It serves what hybridkit's Management API client needs, for real: SQL queries
(with ``read_only``), the migration ledger, storage settings, advisors and
branches. The stack answers to the project ref ``local`` (:data:`LOCAL_REF`):
point a client at it with ``SUPABASE_MANAGEMENT_URL=http://127.0.0.1:54321``,
``SUPABASE_PROJECT_REF=local`` and ``SUPABASE_ACCESS_TOKEN`` = the stack's
access token. A branch answers to its own ref on the same routes.

Layout: :mod:`~.models` (state: databases, ledger, branches),
:mod:`~.handlers` (HTTP), :mod:`~.advisors` (lints), :mod:`~.errors` (wire errors).

Example::

    management = ManagementService(dsn, access_token=keys.access_token)
    app = Starlette(routes=[Mount("/v1", app=management)])
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hybridkit.local.management.handlers import ManagementHandlers
from hybridkit.local.management.models import Databases

__all__ = ["LOCAL_REF", "ManagementService"]

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
        h = ManagementHandlers(self.databases, access_token, jwt_secret)
        g = h.guard
        project = "/projects/{ref}"
        self.app = Starlette(
            routes=[
                Route("/projects", g(h.list_projects), methods=["GET"]),
                Route(project, g(h.get_project), methods=["GET"]),
                Route(f"{project}/database/query", g(h.query), methods=["POST"]),
                Route(f"{project}/database/query/read-only", g(h.query), methods=["POST"]),
                Route(f"{project}/database/migrations", g(h.list_migrations), methods=["GET"]),
                Route(f"{project}/database/migrations", g(h.apply_migration), methods=["POST"]),
                Route(
                    f"{project}/database/migrations/{{version}}",
                    g(h.get_migration),
                    methods=["GET"],
                ),
                Route(f"{project}/config/storage", g(h.get_storage_config), methods=["GET"]),
                Route(f"{project}/config/storage", g(h.update_storage_config), methods=["PATCH"]),
                Route(f"{project}/advisors/{{kind}}", g(h.advisors), methods=["GET"]),
                Route(f"{project}/branches", g(h.list_branches), methods=["GET"]),
                Route(f"{project}/branches", g(h.create_branch), methods=["POST"]),
                Route("/branches/{id}", g(h.get_branch), methods=["GET"]),
                Route("/branches/{id}", g(h.delete_branch), methods=["DELETE"]),
                Route("/branches/{id}/reset", g(h.reset_branch), methods=["POST"]),
                Route("/branches/{id}/merge", g(h.merge_branch), methods=["POST"]),
                Route("/branches/{id}/push", g(h.push_branch), methods=["POST"]),
            ]
        )

    async def open(self) -> None:
        """Nothing to open: every request has its own connection."""

    async def close(self) -> None:
        """Nothing to close."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
