"""The local stack's Storage API: Supabase Storage's routes over PostgreSQL and local disk.

Mounted by :func:`hybridkit.local.app.create_app` at ``/storage/v1``, it answers the
unchanged official clients (storage3, storage-js, tuspy, tus-js-client) as Supabase's
Storage API does (shared/reference/storage-api.md). The local services' shape
(docs/local-stack.md): :func:`create_app` here builds the app, :mod:`.routes` (with
:mod:`.tus` and :mod:`.render`) hold the Starlette routes, :mod:`.parsing` (with :mod:`.schemas` and
:mod:`.validation`) reads the request, :mod:`.models` (with :mod:`.buckets`, :mod:`.listing`,
:mod:`.uploads` and :mod:`.blobs`) the state, :mod:`.images` the image transformations,
:mod:`.errors` the wire errors; :mod:`.wire`,
:mod:`.context` and :mod:`.responses` are the HTTP edge (authentication, error rendering,
download headers).

Example::

    app = create_app(config, Database(config.db_dsn))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Route

from hybridkit.local.storage.blobs import BlobStore
from hybridkit.local.storage.models import Storage
from hybridkit.local.storage.render import RenderRoutes
from hybridkit.local.storage.routes import StorageRoutes
from hybridkit.local.storage.tus import TusUploads
from hybridkit.local.storage.uploads import Uploader, UploadLimits
from hybridkit.local.storage.wire import not_found

if TYPE_CHECKING:
    from hybridkit.local.config import ServerConfig
    from hybridkit.local.db import Database

__all__ = ["create_app"]

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(config: ServerConfig, database: Database) -> Starlette:
    """Build the Storage API's ASGI app (mount it at ``/storage/v1``).

    Args:
        config: the stack's settings (data folder, JWT secret, limits).
        database: the stack's connection pool (opened by the parent app).

    Returns:
        A Starlette app serving ``/bucket``, ``/object``, ``/render/image``,
        ``/upload/resumable``, ``/status`` and ``/version``; anything else is fastify's 404.
    """
    blobs = BlobStore(config.data_dir)
    storage = Storage(database, blobs)
    limits = UploadLimits(
        global_limit=config.upload_file_size_limit,
        standard_limit=config.upload_file_size_limit_standard,
        strict_chunked=config.strict_chunked_uploads,
    )
    uploader = Uploader(storage, limits)
    secret = config.keys.jwt_secret
    rest = StorageRoutes(
        storage,
        uploader,
        secret=secret,
        global_limit=config.upload_file_size_limit,
        signed_upload_expiry=config.signed_upload_url_expiration,
    )
    tus = TusUploads(storage, uploader, secret=secret, limits=limits)
    render = RenderRoutes(storage, secret=secret)
    routes = [
        *rest.routes(),
        *render.routes(),
        *tus.routes(),
        Route("/{path:path}", not_found, methods=_ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    # The parent app's lifespan sweeps orphaned object files once the pool is open.
    app.state.storage = storage
    return app
