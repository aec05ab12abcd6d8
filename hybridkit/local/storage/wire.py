"""The HTTP edge of the Storage API: authentication per route, error rendering, JSON.

:func:`endpoint` wraps every handler: it authenticates the caller as the route
demands (see :mod:`.context`) and renders any failure as the real server would —
the wire errors of :mod:`.errors`, with database failures translated here, in
one place (:func:`translate`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import PoolTimeout
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hybridkit.local.auth import bearer_token
from hybridkit.local.storage.context import AuthMode, Caller, authenticate, route_path
from hybridkit.local.storage.errors import (
    DatabaseError,
    DatabaseTimeout,
    InternalError,
    RelatedResourceNotFound,
    ResourceAlreadyExists,
    RLSViolation,
    RouteNotFound,
    SlowDown,
    StorageError,
    TusError,
)
from hybridkit.local.storage.models import dumps, iso
from hybridkit.local.storage.parsing import Schema, read_json_body, validate

__all__ = [
    "Handler",
    "bucket_json",
    "endpoint",
    "json_response",
    "not_found",
    "object_json",
    "translate",
]

logger = logging.getLogger("hybridkit.local.storage")
Handler = Callable[[Request], Awaitable[Response]]
CallerHandler = Callable[[Request, Caller], Awaitable[Response]]


def translate(exc: BaseException) -> StorageError | None:
    """The wire error the real server sends for a database failure (``None``: not one)."""
    if isinstance(exc, PoolTimeout | pgerrors.QueryCanceled):
        return DatabaseTimeout()
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return RLSViolation()
    if isinstance(exc, pgerrors.ForeignKeyViolation):
        return RelatedResourceNotFound()
    if isinstance(exc, pgerrors.UniqueViolation):
        return ResourceAlreadyExists()
    if isinstance(exc, pgerrors.TooManyConnections):
        return SlowDown()
    if isinstance(exc, psycopg.Error):
        return DatabaseError(exc.sqlstate)
    return None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, datetimes as ``2026-11-22T10:36:13.087Z``."""
    return Response(
        dumps(body),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def endpoint(
    secret: str,
    mode: AuthMode,
    operation: str,
    *,
    tus: bool = False,
    body: Schema | None = None,
    query: Schema | None = None,
) -> Callable[[CallerHandler], Handler]:
    """Wrap a handler: authenticate, then render any failure as the real server would.

    Args:
        secret: the JWT secret.
        mode: how the route treats a missing or bad token.
        operation: the ``storage.operation`` setting policies can read.
        tus: render storage errors as TUS does (text/plain, real status), except
            for JWT failures, which the real server answers in JSON before TUS runs.
        body: the route's body schema, and
        query: its querystring schema: fastify validates both before the headers,
            so a request without credentials meets their errors first.
    """

    def decorator(handler: CallerHandler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                if mode == "header" and bearer_token(request.headers) is None:
                    if body is not None:
                        validate(await read_json_body(request), body)
                    if query is not None:
                        validate(dict(request.query_params), query, "querystring")
                caller = authenticate(request, secret, mode, operation)
            except StorageError as exc:
                return exc.response()
            try:
                return await handler(request, caller)
            except TusError as exc:
                return exc.response()
            except StorageError as exc:
                return TusError.from_storage(exc).response() if tus else exc.response()
            except ClientDisconnect:
                # Nobody is listening; the real server logs a 499.
                return Response(status_code=499)
            except Exception as exc:
                wire = translate(exc)
                if wire is None:
                    logger.exception(
                        "storage request failed: %s %s", request.method, request.url.path
                    )
                    wire = InternalError()
                elif isinstance(wire, DatabaseError):
                    logger.warning(
                        "database error on %s %s: %s", request.method, request.url.path, exc
                    )
                return TusError.from_storage(wire).response() if tus else wire.response()

        wrapped.__name__ = handler.__name__
        return wrapped

    return decorator


_STORAGE_PREFIXES = re.compile(r"^/(bucket|object|render)(/|$)")


async def not_found(request: Request) -> Response:
    """Fastify's 404: storage-shaped under /bucket, /object, /render; stock elsewhere."""
    path = route_path(request)
    if request.url.query:
        path = f"{path}?{request.url.query}"
    legacy = not _STORAGE_PREFIXES.match(route_path(request))
    return RouteNotFound(request.method, path, legacy=legacy).response()


def bucket_json(row: dict[str, Any], *, with_type: bool) -> dict[str, Any]:
    """A bucket as the real server serialises it (``owner`` is ``""`` when NULL)."""
    body: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "owner": "" if row["owner"] is None else str(row["owner"]),
        "public": bool(row["public"]),
    }
    if with_type:
        body["type"] = row.get("type") or "STANDARD"
    body.update(
        {
            "file_size_limit": row["file_size_limit"],
            "allowed_mime_types": row["allowed_mime_types"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }
    )
    return body


# objectSchema's columns, in its order; fast-json-stringify writes a null ``string`` as "".
_OBJECT_COLUMNS = (
    "name", "bucket_id", "owner", "owner_id", "version", "id", "updated_at",
    "created_at", "last_accessed_at", "metadata", "user_metadata",
)  # fmt: skip
_STRING_COLUMNS = frozenset({"name", "bucket_id", "owner", "owner_id", "version"})


def object_json(row: dict[str, Any]) -> dict[str, Any]:
    """An object row as the real server's ``objectSchema`` serialises it (copy, delete-many).

    ``owner`` and ``owner_id`` (the JWT's ``sub``) are strings: ``""`` when the
    caller had no ``sub`` (a service key), as fast-json-stringify writes a null string.
    """
    body: dict[str, Any] = {}
    for name in _OBJECT_COLUMNS:
        value = row.get(name)
        if name in _STRING_COLUMNS:
            value = "" if value is None else str(value)
        elif name == "id" and value is not None:
            value = str(value)
        body[name] = value
    return body


_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def client_wants_type(client_info: str | None) -> bool:
    """``GET /bucket`` omits ``type`` for storage3 < 0.12.1 and supabase-py < 2.18.0."""
    if not client_info:
        return True
    for marker, minimum in (("storage3 v", (0, 12, 1)), ("supabase-py/", (2, 18, 0))):
        at = client_info.find(marker)
        if at < 0:
            continue
        match = _VERSION.match(client_info, at + len(marker))
        if match is not None:
            version = tuple(int(part) for part in match.groups())
            return version >= minimum
    return True
