"""The local stack's HTTP application: one ASGI app, mounted like Supabase's gateway.

``/storage/v1`` is the Storage API, ``/rest/v1`` the PostgREST subset and ``/v1``
the Management API subset (project ref ``local``). ``/health`` answers when the app and its
database pool are ready; ``hybridkit local start`` waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from hybridkit.local import management as management_service
from hybridkit.local import rest as rest_service
from hybridkit.local import storage as storage_service
from hybridkit.local.config import ServerConfig
from hybridkit.local.db import Database

if TYPE_CHECKING:
    from hybridkit.local.storage.models import Storage

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(config: ServerConfig) -> Starlette:
    """Build the ASGI app; the database pool opens in the lifespan."""
    database = Database(config.db_dsn)
    rest = rest_service.create_app(config)
    management = management_service.create_app(config)
    storage_app = storage_service.create_app(config, database)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        await rest.open()
        await management.open()
        # In the background: a start never waits for a walk over every object file.
        sweep = asyncio.create_task(_sweep(storage_app.state.storage))
        try:
            yield
        finally:
            sweep.cancel()
            with contextlib.suppress(BaseException):
                await sweep
            await management.close()
            await rest.close()
            await database.close()

    async def health(request: Request) -> Response:
        ok = await database.ping()
        return JSONResponse({"status": "ok" if ok else "database unavailable"}, 200 if ok else 503)

    async def not_found(request: Request) -> Response:
        # The gateway's answer for a path no service serves (Kong's shape).
        return JSONResponse({"message": "no Route matched with those values"}, status_code=404)

    return Starlette(
        routes=[
            Route("/health", health),
            Mount("/storage/v1", app=storage_app),
            Mount("/rest/v1", app=rest),
            Mount("/v1", app=management),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
        lifespan=lifespan,
    )


async def _sweep(storage: Storage) -> None:
    """Remove object files orphaned by a crash (see ``Storage.sweep_orphans``); log the count."""
    try:
        removed = await storage.sweep_orphans()
    except Exception:  # housekeeping must never take the stack down
        logger.exception("sweeping orphaned object files failed")
        return
    if removed:
        logger.warning("removed %d object file(s) no object refers to (left by a crash)", removed)
