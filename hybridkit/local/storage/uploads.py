"""The upload pipeline shared by ``POST/PUT /object``, signed uploads, copy and TUS.

Order (shared/reference/storage-api.md §4.1): the bucket is looked up as the
server; the MIME type and declared size are checked; an RLS permission test (an
INSERT, or an upsert, as the caller, rolled back) runs **before** any byte is
written (the three in one rolled-back transaction, ``Storage.prepare_upload``);
then the body streams into a temporary file, hashed as it goes; the file is
renamed to its version's place and the row is committed (service role, advisory
lock on the key, upsert); the previous version's bytes go last.

Size limits, as the real server enforces them: a raw body's ``Content-Length`` over
the limit is refused before reading (413); a multipart file part is counted as it
streams (413 once over). A raw body without a ``Content-Length`` (chunked) is not
limited at all — the real server's quirk (storage-api.md §4.1: "Chunked bodies
without Content-Length are NOT size-limited"). ``UploadLimits.strict_chunked``
(``HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS=1``) counts those too, and refuses them
with 413 once over the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request

from hybridkit.local.db import Identity
from hybridkit.local.storage.errors import EntityTooLarge, InvalidRequest
from hybridkit.local.storage.models import Row, Storage, object_metadata
from hybridkit.local.storage.parsing import (
    MultipartReader,
    cache_control_from_seconds,
    is_multipart,
    parse_json_metadata,
    parse_x_metadata,
)
from hybridkit.local.storage.validation import is_empty_folder_placeholder, validate_mime_type

__all__ = ["UploadLimits", "UploadTarget", "Uploader"]


@dataclass(frozen=True)
class UploadLimits:
    """The stack's global limits (bytes)."""

    global_limit: int
    standard_limit: int
    strict_chunked: bool = False

    def rest(self, bucket: Mapping[str, Any], key: str) -> int:
        """REST uploads: min(global, standard, bucket); folder placeholders hold 0 bytes."""
        if is_empty_folder_placeholder(key):
            return 0
        limit = self.global_limit
        if self.standard_limit > 0:
            limit = min(limit, self.standard_limit)
        if bucket.get("file_size_limit") is not None:
            limit = min(limit, int(bucket["file_size_limit"]))
        return limit

    def tus(self, bucket: Mapping[str, Any], key: str) -> int:
        """TUS uploads: the bucket's limit, else the global one (capped at the global)."""
        if is_empty_folder_placeholder(key):
            return 0
        if bucket.get("file_size_limit") is not None:
            return min(int(bucket["file_size_limit"]), self.global_limit)
        return self.global_limit


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes and under which rules.

    Attributes:
        bucket: the bucket id.
        key: the object key.
        owner: the JWT ``sub`` recorded as the owner.
        upsert: whether an existing object may be replaced.
        tester: the identity whose RLS must allow the write (``None``: the server's
            own write, as for signed uploads).
        settings: transaction settings (``storage.operation``, ...).
    """

    bucket: str
    key: str
    owner: str | None
    upsert: bool
    tester: Identity | None
    settings: Mapping[str, str]


class Uploader:
    """Runs uploads for one stack."""

    def __init__(self, storage: Storage, limits: UploadLimits) -> None:
        self.storage = storage
        self.limits = limits

    async def upload_body(self, request: Request, target: UploadTarget) -> Row:
        """Store the body of ``request`` (multipart or raw) as ``target``; return its row."""
        content_type = request.headers.get("content-type")
        placeholder = is_empty_folder_placeholder(target.key)
        x_robots_tag = request.headers.get("x-robots-tag")
        declared: int | None = None
        part = None

        if is_multipart(content_type):
            assert content_type is not None
            reader = MultipartReader(request.stream(), content_type)
            fields, part = await reader.read_until_file()
            mimetype = fields.get("contentType") or (part.content_type if part else None)
            mimetype = mimetype or "text/plain"
            cache_control = cache_control_from_seconds(fields.get("cacheControl"))
            raw_meta = fields.get("metadata", fields.get("userMetadata"))
            user_metadata: dict[str, Any] = parse_json_metadata(raw_meta) if raw_meta else {}
            chunks: AsyncIterator[bytes] = reader.file_chunks()
        else:
            length = request.headers.get("content-length")
            declared = int(length) if length is not None and length.isdigit() else None
            mimetype = content_type or "application/octet-stream"
            cache_control = request.headers.get("cache-control") or "no-cache"
            user_metadata = parse_x_metadata(request.headers.get("x-metadata")) or {}
            chunks = request.stream()
        no_file = part is None and is_multipart(content_type)

        def check(bucket: Row) -> None:
            # In the real server's order, once the bucket is known.
            if no_file:
                raise InvalidRequest("No content provided")
            if declared is not None and declared > self.limits.rest(bucket, target.key):
                raise EntityTooLarge()
            if not placeholder:
                validate_mime_type(mimetype, bucket.get("allowed_mime_types"))

        bucket = await self.storage.prepare_upload(
            target.bucket,
            target.key,
            tester=target.tester,
            owner=target.owner,
            upsert=target.upsert,
            user_metadata=user_metadata,
            check=check,
        )
        limit: int | None = self.limits.rest(bucket, target.key)
        if not (is_multipart(content_type) or declared is not None or self.limits.strict_chunked):
            limit = None  # chunked raw bodies pass every limit on the real server

        writer = self.storage.blobs.new_writer(limit=limit)
        try:
            async for chunk in chunks:
                if chunk:
                    await writer.write(chunk)
            md5 = await writer.finish()
        except BaseException:
            await writer.close()
            self.storage.blobs.discard(writer.path)
            raise
        return await self.commit(
            writer.path,
            writer.size,
            md5,
            target,
            mimetype=mimetype,
            cache_control=cache_control,
            user_metadata=user_metadata,
            x_robots_tag=x_robots_tag,
        )

    async def commit(
        self,
        path: Path,
        size: int,
        md5: str,
        target: UploadTarget,
        *,
        mimetype: str,
        cache_control: str,
        user_metadata: Mapping[str, Any] | None,
        x_robots_tag: str | None = None,
        version: str | None = None,
    ) -> Row:
        """Move finished bytes into place and record them (the completion path)."""
        version = version or str(uuid.uuid4())
        self.storage.blobs.commit(path, version)
        metadata = object_metadata(md5, size, mimetype, cache_control, x_robots_tag=x_robots_tag)
        try:
            return await self.storage.complete_upload(
                target.bucket,
                target.key,
                version=version,
                metadata=metadata,
                user_metadata=user_metadata,
                owner=target.owner,
                upsert=target.upsert,
                settings=target.settings,
            )
        except BaseException:
            await self.storage.blobs.delete(version)
            raise
