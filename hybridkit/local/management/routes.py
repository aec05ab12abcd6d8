"""HTTP handling for the Management API subset (``/v1``).

Routes, with the hosted API's paths and shapes:

* ``GET /v1/projects``, ``GET /v1/projects/{ref}``
* ``POST /v1/projects/{ref}/database/query`` (``{"query", "read_only"}``) and
  ``POST .../database/query/read-only``
* ``GET|POST /v1/projects/{ref}/database/migrations`` (``Idempotency-Key`` honoured),
  ``GET .../database/migrations/{version}``
* ``GET|PATCH /v1/projects/{ref}/config/storage``
* ``GET /v1/projects/{ref}/advisors/{security|performance}``
* ``GET|POST /v1/projects/{ref}/branches``; ``GET|DELETE /v1/branches/{id}``;
  ``POST /v1/branches/{id}/{reset|merge|push}``

Every request needs ``Authorization: Bearer <access token>`` (the stack's
``Keys.access_token``). ``{ref}`` is the stack's ref (``local``) or a branch's ref.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.management.advisors import run_advisors
from hybridkit.local.management.errors import ManagementError
from hybridkit.local.management.models import MAIN_DATABASE, Databases, jsonable
from hybridkit.local.management.parsing import json_object

__all__ = ["DEFAULT_STORAGE_CONFIG", "ManagementRoutes"]

# The Supabase CLI's local defaults ([storage] file_size_limit = "50MiB").
DEFAULT_STORAGE_CONFIG: dict[str, Any] = {
    "fileSizeLimit": 52_428_800,
    "features": {
        "imageTransformation": {"enabled": True},
        "s3Protocol": {"enabled": True},
    },
}

Endpoint = Callable[[Request], Awaitable[Response]]


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


#: How long one read-only query may run.
READ_ONLY_TIMEOUT = "60s"


async def _last_result(conn: AsyncConnection[DictRow], query: str) -> list[dict[str, Any]]:
    """Run ``query`` (several statements allowed) and return the last result's rows."""
    cursor = await conn.execute(query.encode())
    rows: list[dict[str, Any]] = []
    while True:
        rows = [dict(r) for r in await cursor.fetchall()] if cursor.description else []
        if not cursor.nextset():
            break
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


async def _read_only_result(conn: AsyncConnection[DictRow], query: str) -> list[dict[str, Any]]:
    """Run one statement as the read-only user, in a READ ONLY transaction rolled back.

    The text cannot leave read-only: the extended protocol takes one statement (no
    ``COMMIT; BEGIN READ WRITE``), the transaction's first query is ours (so a
    ``SET TRANSACTION READ WRITE`` comes after a snapshot and is refused), and the
    login is the read-only user's (no role to switch to). A SECURITY DEFINER
    function that writes fails in the READ ONLY transaction.
    """
    await conn.set_read_only(True)
    async with conn.transaction(force_rollback=True):
        await conn.execute("SELECT set_config('statement_timeout', %s, true)", [READ_ONLY_TIMEOUT])
        async with conn.pipeline() as pipeline:
            cursor = await conn.execute(query.encode())
            await pipeline.sync()
        rows = [dict(r) for r in await cursor.fetchall()] if cursor.description else []
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


class ManagementRoutes:
    """The endpoints, over one :class:`Databases`."""

    def __init__(self, databases: Databases, access_token: str, jwt_secret: str = "") -> None:
        self.db = databases
        self._token = access_token
        self._jwt_secret = jwt_secret

    def routes(self) -> list[BaseRoute]:
        """Every route, each behind :meth:`guard` (the access token, the API's JSON errors)."""
        g = self.guard
        project = "/projects/{ref}"
        return [
            Route("/projects", g(self.list_projects), methods=["GET"]),
            Route(project, g(self.get_project), methods=["GET"]),
            Route(f"{project}/database/query", g(self.query), methods=["POST"]),
            Route(f"{project}/database/query/read-only", g(self.query), methods=["POST"]),
            Route(f"{project}/database/migrations", g(self.list_migrations), methods=["GET"]),
            Route(f"{project}/database/migrations", g(self.apply_migration), methods=["POST"]),
            Route(
                f"{project}/database/migrations/{{version}}",
                g(self.get_migration),
                methods=["GET"],
            ),
            Route(f"{project}/config/storage", g(self.get_storage_config), methods=["GET"]),
            Route(f"{project}/config/storage", g(self.update_storage_config), methods=["PATCH"]),
            Route(f"{project}/advisors/{{kind}}", g(self.advisors), methods=["GET"]),
            Route(f"{project}/branches", g(self.list_branches), methods=["GET"]),
            Route(f"{project}/branches", g(self.create_branch), methods=["POST"]),
            Route("/branches/{id}", g(self.get_branch), methods=["GET"]),
            Route("/branches/{id}", g(self.delete_branch), methods=["DELETE"]),
            Route("/branches/{id}/reset", g(self.reset_branch), methods=["POST"]),
            Route("/branches/{id}/merge", g(self.merge_branch), methods=["POST"]),
            Route("/branches/{id}/push", g(self.push_branch), methods=["POST"]),
        ]

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """Check the access token and turn errors into the API's JSON answers."""

        async def wrapped(request: Request) -> Response:
            try:
                header = request.headers.get("authorization", "")
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    token.strip().encode(), self._token.encode()
                ):
                    raise ManagementError.unauthorized()
                return await endpoint(request)
            except ManagementError as exc:
                return exc.response()
            except psycopg.OperationalError as exc:
                # The database is down or refused us: the hosted API's 503 equivalent.
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else "unavailable"
                return ManagementError(503, f"Database unavailable: {message}").response()
            except psycopg.Error as exc:
                return ManagementError.sql_failed(exc, status=500).response()

        return wrapped

    # -- projects ----------------------------------------------------------------------------

    def _project(self, ref: str) -> dict[str, Any]:
        host, _port = self.db.host
        return {
            "id": ref,
            "ref": ref,
            "name": ref,
            "organization_id": "local",
            "region": "local",
            "status": "ACTIVE_HEALTHY",
            "database": {"host": host, "version": "", "postgres_engine": "15"},
        }

    async def list_projects(self, request: Request) -> Response:
        return JSONResponse([self._project(self.db.project_ref)])

    async def get_project(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        await self.db.database_for(ref)
        return JSONResponse(self._project(ref))

    # -- database query ---------------------------------------------------------------------------

    async def _sql_request(self, request: Request) -> tuple[str, dict[str, Any], str]:
        """The project's database, the JSON body and its ``query`` (a non-empty string) of a
        request that runs SQL (a query, a migration)."""
        database = await self.db.database_for(request.path_params["ref"])
        body = await json_object(request)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ManagementError.bad_request("query must be a non-empty string")
        return database, body, query

    async def query(self, request: Request) -> Response:
        database, body, query = await self._sql_request(request)
        read_only = bool(body.get("read_only")) or request.url.path.endswith("/read-only")
        if body.get("parameters"):
            raise ManagementError.bad_request(
                "parameters are not supported by the local stack; inline the values"
            )
        async with self.db.connect(database, read_only=read_only) as conn:
            try:
                if read_only:
                    rows = await _read_only_result(conn, query)
                else:
                    rows = await _last_result(conn, query)
            except psycopg.Error as exc:
                raise ManagementError.sql_failed(exc) from None
        return JSONResponse(rows, status_code=201)

    # -- migrations --------------------------------------------------------------------------------

    async def list_migrations(self, request: Request) -> Response:
        database = await self.db.database_for(request.path_params["ref"])
        async with self.db.connect(database) as conn:
            rows = await self.db.read_ledger(conn)
        return JSONResponse([{"version": r.version, "name": r.name} for r in rows])

    async def get_migration(self, request: Request) -> Response:
        database = await self.db.database_for(request.path_params["ref"])
        version = request.path_params["version"]
        async with self.db.connect(database) as conn:
            rows = {r.version: r for r in await self.db.read_ledger(conn)}
            extra = await (
                await conn.execute(
                    "SELECT rollback FROM _hybridkit.migration_requests WHERE version = %s",
                    [version],
                )
            ).fetchone()
        row = rows.get(version)
        if row is None:
            raise ManagementError.not_found(f"Migration {version}")
        return JSONResponse(
            {
                "version": row.version,
                "name": row.name,
                "statements": list(row.statements),
                "rollback": list(extra["rollback"]) if extra and extra["rollback"] else None,
            }
        )

    async def apply_migration(self, request: Request) -> Response:
        """Run ``query`` and record it under a server-assigned version, atomically."""
        database, body, query = await self._sql_request(request)
        name = body.get("name") or ""
        rollback = body.get("rollback")
        rollback_list = [rollback] if isinstance(rollback, str) else rollback
        key = request.headers.get("idempotency-key")
        async with self.db.connect(database) as conn:
            try:
                async with conn.transaction():
                    await self.db.ensure_ledger(conn)
                    await conn.execute(
                        "LOCK TABLE supabase_migrations.schema_migrations IN EXCLUSIVE MODE"
                    )
                    if key:
                        seen = await (
                            await conn.execute(
                                "SELECT m.version, m.name FROM _hybridkit.migration_requests r "
                                "JOIN supabase_migrations.schema_migrations m USING (version) "
                                "WHERE r.idempotency_key = %s",
                                [key],
                            )
                        ).fetchone()
                        if seen is not None:  # a retry of a request that already landed
                            return JSONResponse({"version": seen["version"], "name": seen["name"]})
                    version = await self.db.next_version(conn)
                    await conn.execute(query.encode())
                    await conn.execute(
                        "INSERT INTO supabase_migrations.schema_migrations "
                        "(version, name, statements) VALUES (%s, %s, %s)",
                        [version, name, [query]],
                    )
                    await conn.execute(
                        "INSERT INTO _hybridkit.migration_requests "
                        "(version, idempotency_key, rollback) VALUES (%s, %s, %s)",
                        [version, key, rollback_list],
                    )
            except psycopg.Error as exc:
                raise ManagementError.sql_failed(exc) from None
        return JSONResponse({"version": version, "name": name})

    # -- storage config ----------------------------------------------------------------------------

    async def _storage_config(self, conn: AsyncConnection[DictRow], ref: str) -> dict[str, Any]:
        row = await (
            await conn.execute(
                "SELECT config FROM _hybridkit.storage_config WHERE project_ref = %s", [ref]
            )
        ).fetchone()
        return (
            _merge(DEFAULT_STORAGE_CONFIG, row["config"]) if row else dict(DEFAULT_STORAGE_CONFIG)
        )

    async def get_storage_config(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        await self.db.database_for(ref)
        async with self.db.connect(MAIN_DATABASE) as conn:
            return JSONResponse(await self._storage_config(conn, ref))

    async def update_storage_config(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        await self.db.database_for(ref)
        patch = await json_object(request)
        limit = patch.get("fileSizeLimit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0
        ):
            raise ManagementError.bad_request("fileSizeLimit must be a positive integer (bytes)")
        unknown = set(patch) - {"fileSizeLimit", "features", "external"}
        if unknown:
            raise ManagementError.bad_request(
                f"unknown storage settings: {', '.join(sorted(unknown))}"
            )
        async with self.db.connect(MAIN_DATABASE) as conn:
            merged = _merge(await self._storage_config(conn, ref), patch)
            await conn.execute(
                "INSERT INTO _hybridkit.storage_config (project_ref, config) "
                "VALUES (%s, %s::jsonb) ON CONFLICT (project_ref) "
                "DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
                [ref, json.dumps(merged)],
            )
        return JSONResponse(merged)

    # -- advisors ----------------------------------------------------------------------------------

    async def advisors(self, request: Request) -> Response:
        database = await self.db.database_for(request.path_params["ref"])
        kind = request.path_params["kind"]
        if kind not in ("security", "performance"):
            raise ManagementError.not_found("Advisor")
        async with self.db.connect(database, read_only=True) as conn:
            lints = await run_advisors(conn, kind.upper())
        return JSONResponse({"lints": lints})

    # -- branches ----------------------------------------------------------------------------------

    async def list_branches(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        if ref != self.db.project_ref:
            raise ManagementError.not_found(f"Project {ref}")
        branches = [b.to_json() for b in await self.db.list_branches()]
        return JSONResponse([self._default_branch(), *branches])

    def _default_branch(self) -> dict[str, Any]:
        ref = self.db.project_ref
        return {
            "id": ref,
            "name": "main",
            "project_ref": ref,
            "parent_project_ref": ref,
            "is_default": True,
            "git_branch": None,
            "persistent": True,
            "status": "MIGRATIONS_PASSED",
            "with_data": True,
            "created_at": None,
            "updated_at": None,
        }

    async def create_branch(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        if ref != self.db.project_ref:
            raise ManagementError(422, "Branches can only be created from the main project")
        body = await json_object(request)
        name = body.get("branch_name")
        if not isinstance(name, str):
            raise ManagementError.bad_request("branch_name is required")
        if body.get("with_data"):
            raise ManagementError.bad_request("with_data is not supported by the local stack")
        branch = await self.db.create_branch(
            name, git_branch=body.get("git_branch"), persistent=bool(body.get("persistent"))
        )
        return JSONResponse(branch.to_json(), status_code=201)

    async def get_branch(self, request: Request) -> Response:
        branch = await self.db.get_branch(request.path_params["id"])
        host, port = self.db.host
        return JSONResponse(
            {
                "ref": branch.project_ref,
                "status": "ACTIVE_HEALTHY"
                if branch.status != "MIGRATIONS_FAILED"
                else "ACTIVE_UNHEALTHY",
                "postgres_version": "15",
                "postgres_engine": "15",
                "release_channel": "ga",
                "db_host": host,
                "db_port": port,
                "db_user": "postgres",
                "db_pass": "postgres",
                "db_name": branch.database,
                "jwt_secret": self._jwt_secret,
            }
        )

    async def delete_branch(self, request: Request) -> Response:
        id_or_ref = request.path_params["id"]
        if id_or_ref == self.db.project_ref:
            raise ManagementError.bad_request("the default branch cannot be deleted")
        await self.db.delete_branch(id_or_ref)
        return JSONResponse({"message": "ok"})

    async def reset_branch(self, request: Request) -> Response:
        body = await json_object(request)
        version = body.get("migration_version")
        branch = await self.db.reset_branch(
            request.path_params["id"], None if version is None else str(version)
        )
        return JSONResponse({"workflow_run_id": branch.id, "message": "ok"}, status_code=201)

    async def merge_branch(self, request: Request) -> Response:
        body = await json_object(request)
        version = body.get("migration_version")
        branch, applied, failure = await self.db.merge_branch(
            request.path_params["id"], None if version is None else str(version)
        )
        if failure:
            raise ManagementError(400, f"Failed to merge branch {branch.name}: {failure}")
        return JSONResponse(
            {"workflow_run_id": branch.id, "message": "ok", "applied": applied}, status_code=201
        )

    async def push_branch(self, request: Request) -> Response:
        branch, applied, failure = await self.db.push_branch(request.path_params["id"])
        if failure:
            raise ManagementError(400, f"Failed to push to branch {branch.name}: {failure}")
        return JSONResponse(
            {"workflow_run_id": branch.id, "message": "ok", "applied": applied}, status_code=201
        )
