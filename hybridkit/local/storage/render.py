"""The image transformation routes: ``/render/image/{authenticated,public,sign}/<bucket>/<key>``.

As the real server (src/http/routes/render): ``authenticated`` reads the object as
the caller (RLS; a missing token is ``Invalid Compact JWS``), ``public`` as the server
once the bucket is public, ``sign`` as the server once the URL's token checks out —
and renders with the token's transformations, never the query's. The pixels are
:mod:`.images`' work; this module is the HTTP edge: headers as the real renderer
sets them (``ETag`` of the original, ``Cache-Control`` or ``Expires``,
``X-Transformations``, ``Content-Disposition``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.storage.context import AuthMode, Caller
from hybridkit.local.storage.errors import NoSuchBucket, ResourceMissing
from hybridkit.local.storage.images import Transform, render_in_thread
from hybridkit.local.storage.models import Row, Storage
from hybridkit.local.storage.parsing import validate
from hybridkit.local.storage.responses import content_disposition
from hybridkit.local.storage.schemas import RENDER_QUERY, SIGNED_QUERY
from hybridkit.local.storage.signing import verify_signed
from hybridkit.local.storage.wire import CallerHandler, endpoint

__all__ = ["RenderRoutes"]


class RenderRoutes:
    """The render handlers of one stack's Storage API.

    Args:
        storage: buckets and objects.
        secret: the JWT secret (tokens and signed URLs).
        concurrency: renders at once (each is CPU work in a worker thread).
    """

    def __init__(self, storage: Storage, *, secret: str, concurrency: int = 2) -> None:
        self.storage = storage
        self.secret = secret
        self.slots = asyncio.Semaphore(concurrency)

    def routes(self) -> list[BaseRoute]:
        """The three render routes (GET, and HEAD as fastify exposes it)."""
        base = "/render/image"
        table: list[tuple[str, AuthMode, str, CallerHandler]] = [
            ("authenticated", "jwt", "render.image.authenticated", self.render_authenticated),
            ("public", "none", "render.image.public", self.render_public),
            ("sign", "none", "render.image.sign", self.render_signed),
        ]
        return [
            Route(
                f"{base}/{kind}/{{bucket}}/{{key:path}}",
                endpoint(self.secret, mode, f"storage.{operation}")(handler),
                methods=["GET", "HEAD"],
            )
            for kind, mode, operation, handler in table
        ]

    async def render_authenticated(self, request: Request, caller: Caller) -> Response:
        query = validate(dict(request.query_params), RENDER_QUERY, "querystring")
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        row = await self.storage.find_object(caller.identity, bucket, key)
        return await self._render(request, row, Transform.from_options(query))

    async def render_public(self, request: Request, caller: Caller) -> Response:
        query = validate(dict(request.query_params), RENDER_QUERY, "querystring")
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        try:
            found = await self.storage.find_bucket(bucket, caller.service())
        except NoSuchBucket:
            found = None
        if found is None or not found["public"]:
            raise NoSuchBucket()
        row = await self.storage.find_object(caller.service(), bucket, key)
        return await self._render(request, row, Transform.from_options(query))

    async def render_signed(self, request: Request, caller: Caller) -> Response:
        query = validate(dict(request.query_params), SIGNED_QUERY, "querystring")
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        payload = verify_signed(
            query["token"], self.secret, bucket=bucket, key=key, scope="download"
        )
        row = await self.storage.find_object(caller.service(), bucket, key)
        transform = Transform.from_token(str(payload.get("transformations") or ""))
        return await self._render(request, row, transform, expires=payload.get("exp"))

    async def _render(
        self, request: Request, row: Row, transform: Transform, *, expires: int | None = None
    ) -> Response:
        segments = transform.segments()
        path = self.storage.blobs.path(row["version"]) if row["version"] else None
        if path is None or not path.is_file():
            raise ResourceMissing()
        try:
            image = await render_in_thread(
                path, transform, accept=self._accept(request, transform), slots=self.slots
            )
        except FileNotFoundError:
            # Overwritten between the query and the read: the old bytes are gone.
            raise ResourceMissing() from None
        meta = row["metadata"] or {}
        etag = str(meta.get("eTag", ""))
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Type": image.mimetype,
            "ETag": etag,
            "X-Robots-Tag": str(meta.get("xRobotsTag") or "none"),
            "Content-Length": str(len(image.body)),
        }
        if expires is not None:
            headers["Expires"] = format_datetime(datetime.fromtimestamp(expires, UTC), usegmt=True)
        else:
            cache_control = [str(meta.get("cacheControl") or "no-cache")]
            sent = request.headers.get("if-none-match")
            if sent and sent != etag:
                cache_control.append("stale-while-revalidate=30")
            headers["Cache-Control"] = ", ".join(cache_control)
        if segments:
            headers["X-Transformations"] = ",".join(segments)
        disposition = content_disposition(request)
        if disposition is not None:
            headers["Content-Disposition"] = disposition
        body = b"" if request.method == "HEAD" else image.body
        return Response(body, status_code=200, headers=headers)

    @staticmethod
    def _accept(request: Request, transform: Transform) -> str:
        # The real renderer forwards Accept to imgproxy unless the format is "origin".
        return "" if transform.format == "origin" else request.headers.get("accept", "")
