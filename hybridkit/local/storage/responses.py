"""Download and info responses: headers as the real server sends them, bodies streamed.

``GET`` sends ``Accept-Ranges: bytes``, ``Content-Type``, ``ETag`` (quoted md5),
``X-Robots-Tag`` (``none`` unless the upload set one), ``Last-Modified``,
``Content-Length`` and ``Cache-Control`` (signed downloads: ``Expires`` instead);
``Range`` gives 206 with ``Content-Range`` (416 when unsatisfiable);
``If-None-Match``/``If-Modified-Since`` give 304. Bytes are read from disk in
1 MiB blocks as the client takes them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hybridkit.local.storage.blobs import BlobStore
from hybridkit.local.storage.errors import InvalidRange, ResourceMissing
from hybridkit.local.storage.models import Row, iso
from hybridkit.local.storage.parsing import parse_range

__all__ = ["info_response", "object_response"]


def _http_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return format_datetime(parsed.astimezone(UTC), usegmt=True)


def _not_modified(request: Request, etag: str, last_modified: str | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return if_none_match == etag
    since = request.headers.get("if-modified-since")
    if since and last_modified:
        try:
            since_at = parsedate_to_datetime(since)
            modified = datetime.fromisoformat(last_modified.replace("Z", "+00:00"))
        except (TypeError, ValueError):
            return False
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= since_at
    return False


def content_disposition(request: Request) -> str | None:
    """``?download`` → ``attachment;``; ``?download=name`` → a named attachment."""
    if "download" not in request.query_params:
        return None
    name = request.query_params.get("download", "")
    if not name:
        return "attachment;"
    encoded = quote(name, safe="-_.!~*'()")
    return f"attachment; filename={encoded}; filename*=UTF-8''{encoded}"


async def object_response(
    request: Request,
    blobs: BlobStore,
    row: Row,
    *,
    head: bool = False,
    expires: int | None = None,
    refetch: Callable[[], Awaitable[Row]] | None = None,
) -> Response:
    """The download (or ``HEAD``) response for an object row.

    Args:
        request: the download request (Range, conditionals, ``download``).
        blobs: where the bytes are.
        row: the object's row (``version``, ``metadata``).
        head: headers only.
        expires: a signed URL's expiry (epoch seconds) → ``Expires`` header.
        refetch: reloads the row when its bytes vanished under us (a concurrent
            overwrite removed the old version between the query and the open).
    """
    for attempt in range(3):
        try:
            handle = open(blobs.path(row["version"]), "rb")  # noqa: SIM115
            break
        except (FileNotFoundError, TypeError):
            if refetch is None or attempt == 2:
                raise ResourceMissing() from None
            row = await refetch()
    meta: dict[str, Any] = row["metadata"] or {}
    size = int(meta.get("size", 0))
    etag = str(meta.get("eTag", ""))
    last_modified = meta.get("lastModified")
    cache_control = str(meta.get("cacheControl") or "no-cache")
    headers: dict[str, str] = {"Accept-Ranges": "bytes", "ETag": etag}
    http_date = _http_date(last_modified)
    if http_date:
        headers["Last-Modified"] = http_date
    if expires is not None:
        headers["Expires"] = format_datetime(datetime.fromtimestamp(expires, UTC), usegmt=True)
    else:
        headers["Cache-Control"] = cache_control
        if request.headers.get("if-none-match") is not None:
            headers["Cache-Control"] = f"{cache_control}, stale-while-revalidate=30"

    if _not_modified(request, etag, last_modified):
        handle.close()
        headers.pop("Accept-Ranges", None)
        return Response(status_code=304, headers=headers)

    headers["Content-Type"] = str(meta.get("mimetype") or "application/octet-stream")
    headers["X-Robots-Tag"] = str(meta.get("xRobotsTag") or "none")
    disposition = content_disposition(request)
    if disposition is not None:
        headers["Content-Disposition"] = disposition

    status = 200
    start, length = 0, size
    wanted = parse_range(request.headers.get("range"), size) if not head else None
    if wanted is False:
        handle.close()
        raise InvalidRange()
    if isinstance(wanted, tuple):
        start, end = wanted
        length = end - start + 1
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)

    if head:
        handle.close()
        return Response(status_code=status, headers=headers)
    return StreamingResponse(blobs.read(handle, start, length), status_code=status, headers=headers)


def info_response(row: Row) -> Response:
    """``GET /object/info/...``: the object's facts as JSON (with its cache headers)."""
    meta: dict[str, Any] = row["metadata"] or {}
    body = {
        "id": str(row["id"]),
        "name": row["name"],
        "version": row["version"],
        "bucket_id": row["bucket_id"],
        "size": meta.get("size"),
        "content_type": meta.get("mimetype"),
        "cache_control": meta.get("cacheControl"),
        "etag": meta.get("eTag"),
        "metadata": row["user_metadata"],
        "last_modified": iso(row["updated_at"]),
        "created_at": iso(row["created_at"]),
    }
    headers = {
        "ETag": str(meta.get("eTag", "")),
        "Cache-Control": str(meta.get("cacheControl") or "no-cache"),
    }
    http_date = _http_date(meta.get("lastModified"))
    if http_date:
        headers["Last-Modified"] = http_date
    return Response(
        json.dumps(body, separators=(",", ":")),
        media_type="application/json; charset=utf-8",
        headers=headers,
    )
