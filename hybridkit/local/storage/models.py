"""The Storage API's state: rows in ``storage.buckets``/``storage.objects``, bytes on disk.

Every query runs through :class:`~hybridkit.local.db.Database` as the identity the
real server would use (shared/reference/storage-api.md §8): the caller's JWT role
for what RLS must decide, the service role for the server's own bookkeeping
(bucket look-ups before an upload, the final write of an upload, public and signed
downloads). Bytes are handled by :class:`~hybridkit.local.storage.blobs.BlobStore`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg import errors as pgerrors
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from hybridkit.local.db import Database, Identity
from hybridkit.local.storage.blobs import BlobStore
from hybridkit.local.storage.buckets import BucketState, Row, owner_columns
from hybridkit.local.storage.errors import (
    DeleteAccessDenied,
    KeyAlreadyExists,
    NoSuchKey,
    ResourceAlreadyExists,
)

__all__ = ["ObjectMetadata", "Row", "Storage", "dumps", "iso", "object_metadata"]


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``, as JavaScript's ``Date.toJSON``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class ObjectMetadata:
    """What the server records about stored bytes (``objects.metadata``)."""

    etag: str
    size: int
    mimetype: str
    cache_control: str
    last_modified: datetime
    x_robots_tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "eTag": f'"{self.etag}"',
            "size": self.size,
            "mimetype": self.mimetype,
            "cacheControl": self.cache_control,
            "lastModified": iso(self.last_modified),
            "contentLength": self.size,
            "httpStatusCode": 200,
        }
        if self.x_robots_tag is not None:
            data["xRobotsTag"] = self.x_robots_tag
        return data


def object_metadata(
    md5: str, size: int, mimetype: str, cache_control: str, **kw: Any
) -> ObjectMetadata:
    """Metadata for bytes just written (``lastModified`` = now)."""
    return ObjectMetadata(md5, size, mimetype, cache_control, datetime.now(UTC), **kw)


def _lock_key(bucket: str, key: str) -> str:
    return f"{bucket}/{key}"


async def _test_insert(
    conn: AsyncConnection[DictRow],
    identity: Identity,
    bucket: str,
    key: str,
    owner: str | None,
    upsert: bool,
    user_metadata: Mapping[str, Any] | None,
) -> None:
    """The INSERT (or upsert) an upload would make, as ``identity``, undone (RLS decides).

    One statement: ``_hybridkit.test_upload`` (hybridkit/local/sql/30_upload_test.sql)
    sets the identity's settings transaction-locally, tries the row and undoes it —
    what a rolled-back transaction of four round trips did before.

    Raises:
        KeyAlreadyExists: the key exists and ``upsert`` is false.
        psycopg.errors.InsufficientPrivilege: RLS said no (mapped by the caller).
    """
    owner_uuid, owner_id = owner_columns(owner)
    settings = [item for pair in identity.config_pairs() for item in pair]
    metadata = None if user_metadata is None else Jsonb(dict(user_metadata))
    try:
        await conn.execute(
            "select _hybridkit.test_upload(%s::text[], %s::text, %s::text, %s::uuid, %s::text,"
            " %s::jsonb, %s::boolean)",
            [settings, bucket, key, owner_uuid, owner_id, metadata, upsert],
        )
    except pgerrors.UniqueViolation:
        raise KeyAlreadyExists() from None


class Storage(BucketState):
    """Buckets and objects of one local stack.

    Args:
        database: the stack's connection pool.
        blobs: where object bytes live.
    """

    def __init__(self, database: Database, blobs: BlobStore) -> None:
        self.db = database
        self.blobs = blobs

    # --- objects: reads -------------------------------------------------------------
    async def find_object(self, identity: Identity, bucket: str, key: str) -> Row:
        """An object row as ``identity`` sees it; ``NoSuchKey`` when missing or hidden."""
        async with self.db.transaction(identity) as conn:
            row = await (
                await conn.execute(
                    "select id, name, bucket_id, owner, owner_id, version, metadata, user_metadata,"
                    " created_at, updated_at, last_accessed_at"
                    " from storage.objects where bucket_id = %s and name = %s",
                    [bucket, key],
                )
            ).fetchone()
        if row is None or row["metadata"] is None:
            raise NoSuchKey()
        return row

    async def existing_names(
        self, identity: Identity, bucket: str, names: Sequence[str]
    ) -> set[str]:
        """Which of ``names`` exist in ``bucket`` and are visible to ``identity``."""
        async with self.db.transaction(identity) as conn:
            rows = await (
                await conn.execute(
                    "select name from storage.objects where bucket_id = %s and name = any(%s)",
                    [bucket, list(names)],
                )
            ).fetchall()
        return {row["name"] for row in rows}

    # --- objects: uploads -----------------------------------------------------------
    async def test_upload(
        self,
        identity: Identity,
        bucket: str,
        key: str,
        *,
        owner: str | None,
        upsert: bool,
        user_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Would this upload pass RLS? An INSERT (or upsert) as the caller, rolled back.

        Raises:
            KeyAlreadyExists: the key exists and ``upsert`` is false.
            psycopg.errors.InsufficientPrivilege: RLS said no (mapped by the caller).
        """
        async with self.db.connection() as conn:
            await _test_insert(conn, identity, bucket, key, owner, upsert, user_metadata)

    async def prepare_upload(
        self,
        bucket: str,
        key: str,
        *,
        tester: Identity | None,
        owner: str | None,
        upsert: bool,
        user_metadata: Mapping[str, Any] | None,
        check: Callable[[Row], None],
    ) -> Row:
        """The checks before an upload's first byte is stored, on one connection.

        In order, as :meth:`find_bucket`, ``check`` and :meth:`test_upload` would
        run them: the bucket as the server sees it (``NoSuchBucket``),
        ``check(bucket)`` (limits, MIME type), then the RLS test as ``tester``
        (skipped when ``None``) — two statements in all, where two rolled-back
        transactions took ten.

        Returns:
            The bucket row.
        """
        async with self.db.connection() as conn:
            # As the pool's superuser, which sees every bucket as the service role does.
            row = await self._select_bucket(conn, bucket)
            check(row)
            if tester is not None:
                await _test_insert(conn, tester, bucket, key, owner, upsert, user_metadata)
        return row

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        *,
        version: str,
        metadata: ObjectMetadata,
        user_metadata: Mapping[str, Any] | None,
        owner: str | None,
        upsert: bool,
        settings: Mapping[str, str],
    ) -> Row:
        """Record uploaded bytes as the object (service role), replacing any previous version.

        The bytes of ``version`` must already be in place; the previous version's
        bytes are removed after the row commits.

        Raises:
            KeyAlreadyExists: the key appeared meanwhile and ``upsert`` is false.
        """
        owner_uuid, owner_id = owner_columns(owner)
        meta = Jsonb(metadata.to_json())
        user_meta = None if user_metadata is None else Jsonb(dict(user_metadata))
        async with self.db.transaction(Identity.service(settings=settings)) as conn:
            # Serialise writers of one key, as the real server does.
            await conn.execute(
                "select pg_advisory_xact_lock(hashtext(%s))", [_lock_key(bucket, key)]
            )
            current = await (
                await conn.execute(
                    "select id, version from storage.objects"
                    " where bucket_id = %s and name = %s for update",
                    [bucket, key],
                )
            ).fetchone()
            if current is not None and not upsert:
                raise KeyAlreadyExists()
            if current is None:
                row = await (
                    await conn.execute(
                        "insert into storage.objects (bucket_id, name, owner, owner_id, version,"
                        " metadata, user_metadata) values (%s, %s, %s, %s, %s, %s, %s)"
                        " returning *",
                        [bucket, key, owner_uuid, owner_id, version, meta, user_meta],
                    )
                ).fetchone()
            else:
                row = await (
                    await conn.execute(
                        "update storage.objects set owner = %s, owner_id = %s, version = %s,"
                        " metadata = %s, user_metadata = %s, last_accessed_at = now()"
                        " where id = %s returning *",
                        [owner_uuid, owner_id, version, meta, user_meta, current["id"]],
                    )
                ).fetchone()
        assert row is not None
        if current is not None and current["version"] != version:
            await self.blobs.delete(current["version"])
        return row

    # --- housekeeping ---------------------------------------------------------------
    async def sweep_orphans(self, *, min_age: float = 3600.0, batch: int = 1000) -> int:
        """Remove object files no row refers to; return how many went.

        A crash between an upload's rename into ``objects/`` and its row's commit
        leaves such a file (the client never heard "done"). Files younger than
        ``min_age`` seconds are left alone: they may belong to an upload that is
        committing right now.
        """
        cutoff = time.time() - min_age
        candidates = await asyncio.to_thread(self.blobs.versions_older_than, cutoff)
        removed = 0
        for start in range(0, len(candidates), batch):
            chunk = candidates[start : start + batch]
            async with self.db.transaction(None) as conn:
                rows = await (
                    await conn.execute(
                        "select version from storage.objects where version = any(%s)", [chunk]
                    )
                ).fetchall()
            known = {row["version"] for row in rows}
            orphans = [version for version in chunk if version not in known]
            await self.blobs.delete(*orphans)
            removed += len(orphans)
        return removed

    # --- objects: delete, move, copy ----------------------------------------------
    async def delete_objects(
        self, identity: Identity, bucket: str, names: Sequence[str]
    ) -> list[Row]:
        """Delete exactly these names (RLS-filtered); return the deleted rows."""
        deleted: list[Row] = []
        for start in range(0, len(names), 500):
            batch = list(names[start : start + 500])
            async with self.db.transaction(identity) as conn:
                rows = await (
                    await conn.execute(
                        "delete from storage.objects where bucket_id = %s and name = any(%s)"
                        " returning name, bucket_id, owner, owner_id, version, id, updated_at,"
                        " created_at, last_accessed_at, metadata, user_metadata",
                        [bucket, batch],
                    )
                ).fetchall()
            await self.blobs.delete(*(row["version"] for row in rows))
            deleted.extend(rows)
        return deleted

    async def delete_object(self, identity: Identity, bucket: str, key: str) -> None:
        """Delete one object: 404 if the caller cannot see it, 403 if it cannot delete it."""
        async with self.db.transaction(identity) as conn:
            found = await (
                await conn.execute(
                    # No FOR UPDATE: under RLS it would need an UPDATE policy too.
                    "select id from storage.objects where bucket_id = %s and name = %s",
                    [bucket, key],
                )
            ).fetchone()
            if found is None:
                raise NoSuchKey()
            row = await (
                await conn.execute(
                    "delete from storage.objects where id = %s returning version", [found["id"]]
                )
            ).fetchone()
            if row is None:
                raise DeleteAccessDenied()
        await self.blobs.delete(row["version"])

    async def move_object(
        self, identity: Identity, bucket: str, key: str, dest_bucket: str, dest_key: str
    ) -> None:
        """Rename an object (RLS: the caller must see and update it). The id stays."""
        if bucket == dest_bucket and key == dest_key:
            return
        new_version = _new_version()
        async with self.db.transaction(identity) as conn:
            source = await (
                await conn.execute(
                    "select id, version from storage.objects"
                    " where bucket_id = %s and name = %s for update",
                    [bucket, key],
                )
            ).fetchone()
            if source is None:
                raise NoSuchKey()
            await conn.execute(
                "select pg_advisory_xact_lock(hashtext(%s))", [_lock_key(dest_bucket, dest_key)]
            )
            # The bytes are immutable: the new version is a hard link to the old one.
            self.blobs.link(source["version"], new_version)
            try:
                moved = await (
                    await conn.execute(
                        "update storage.objects set bucket_id = %s, name = %s, version = %s,"
                        " metadata = jsonb_set(coalesce(metadata, '{}'), '{lastModified}',"
                        " to_jsonb(%s::text))"
                        " where id = %s returning id",
                        [dest_bucket, dest_key, new_version, iso(datetime.now(UTC)), source["id"]],
                    )
                ).fetchone()
                if moved is None:
                    raise NoSuchKey()
            except BaseException as exc:
                await self.blobs.delete(new_version)
                if isinstance(exc, pgerrors.UniqueViolation):
                    raise ResourceAlreadyExists() from None
                raise
        await self.blobs.delete(source["version"])

    async def copy_object(
        self,
        identity: Identity,
        *,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        owner: str | None,
        upsert: bool,
        copy_metadata: bool,
        metadata_override: Mapping[str, Any] | None,
        user_metadata: Mapping[str, Any] | None,
    ) -> Row:
        """Copy an object (RLS: see the source, insert/upsert the destination)."""
        source = await self.find_object(identity, bucket, key)
        await self.test_upload(
            identity, dest_bucket, dest_key, owner=owner, upsert=upsert, user_metadata=user_metadata
        )
        version = _new_version()
        self.blobs.link(source["version"], version)
        meta = dict(source["metadata"])
        if metadata_override:
            if metadata_override.get("cacheControl"):
                meta["cacheControl"] = str(metadata_override["cacheControl"])
            if metadata_override.get("mimetype"):
                meta["mimetype"] = str(metadata_override["mimetype"])
        stored = ObjectMetadata(
            etag=str(meta.get("eTag", "")).strip('"'),
            size=int(meta.get("size", 0)),
            mimetype=str(meta.get("mimetype", "application/octet-stream")),
            cache_control=str(meta.get("cacheControl", "no-cache")),
            last_modified=datetime.now(UTC),
            x_robots_tag=meta.get("xRobotsTag"),
        )
        target_user_metadata = source["user_metadata"] if copy_metadata else user_metadata
        try:
            return await self.complete_upload(
                dest_bucket,
                dest_key,
                version=version,
                metadata=stored,
                user_metadata=target_user_metadata,
                owner=owner,
                upsert=upsert,
                settings=identity.settings,
            )
        except BaseException:
            await self.blobs.delete(version)
            raise

    # --- listing --------------------------------------------------------------------
    async def search(
        self,
        identity: Identity,
        bucket: str,
        *,
        prefix: str,
        limit: int,
        offset: int,
        search: str,
        sort_column: str,
        sort_order: str,
    ) -> list[Row]:
        """List v1 through ``storage.search`` as the caller."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        levels = len(prefix.split("/"))
        async with self.db.transaction(identity) as conn:
            return await (
                await conn.execute(
                    "select * from storage.search(%s, %s, %s, %s, %s, %s, %s, %s)",
                    [prefix, bucket, limit, levels, offset, search, sort_column, sort_order],
                )
            ).fetchall()


def _new_version() -> str:
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    """Compact JSON with datetimes as ISO strings (the real server's serialisation)."""
    return json.dumps(value, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)
