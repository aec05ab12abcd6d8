"""Bucket state: ``storage.buckets`` rows, read and written as the real server does.

Bucket CRUD runs as the caller (RLS on ``storage.buckets`` decides); deleting a
bucket first checks, as the server, that it holds no object; emptying one
(service role only) deletes its objects and their bytes in batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, LiteralString

from psycopg import AsyncConnection, sql
from psycopg import errors as pgerrors
from psycopg.rows import DictRow

from hybridkit.local.db import Database, Identity
from hybridkit.local.storage.blobs import BlobStore
from hybridkit.local.storage.errors import (
    BucketAlreadyExists,
    BucketNotEmptyEnough,
    NoSuchBucket,
    ResourceNotEmpty,
)
from hybridkit.local.storage.validation import is_uuid

__all__ = ["EMPTY_BUCKET_MAX", "BucketState", "Row", "owner_columns"]

EMPTY_BUCKET_MAX = 200_000
Row = dict[str, Any]


def owner_columns(owner: str | None) -> tuple[str | None, str | None]:
    """``(owner, owner_id)``: the uuid column only holds a ``sub`` that is a UUID."""
    if owner is None:
        return None, None
    return (owner if is_uuid(owner) else None), owner


class BucketState:
    """The bucket half of :class:`~hybridkit.local.storage.models.Storage`."""

    db: Database
    blobs: BlobStore

    async def list_buckets(
        self,
        identity: Identity,
        *,
        limit: int | None,
        offset: int | None,
        sort_column: str | None,
        sort_order: str | None,
        search: str | None,
    ) -> list[Row]:
        """Buckets the caller can see (RLS), optionally filtered, sorted and paged."""
        query = (
            "select id, name, owner, public, type::text as type, file_size_limit,"
            " allowed_mime_types, created_at, updated_at from storage.buckets"
        )
        params: list[Any] = []
        if search:
            query += " where name ilike %s"
            params.append(f"%{search}%")
        if sort_column in ("id", "name", "created_at", "updated_at"):
            direction = "desc" if sort_order == "desc" else "asc"
            query += f" order by {sort_column} {direction}"
        if limit is not None:
            query += " limit %s"
            params.append(limit)
        if offset is not None:
            query += " offset %s"
            params.append(offset)
        async with self.db.transaction(identity) as conn:
            return await (await conn.execute(query, params)).fetchall()

    async def get_bucket(self, identity: Identity, bucket_id: str) -> Row:
        """One bucket as the caller sees it; ``NoSuchBucket`` when missing or hidden."""
        async with self.db.transaction(identity) as conn:
            return await self._select_bucket(
                conn,
                bucket_id,
                "id, name, owner, public, type::text as type, file_size_limit,"
                " allowed_mime_types, created_at, updated_at",
            )

    async def find_bucket(self, bucket_id: str, identity: Identity | None = None) -> Row:
        """A bucket as the server itself sees it (service role); ``NoSuchBucket`` if none."""
        async with self.db.transaction(identity or Identity.service()) as conn:
            return await self._select_bucket(conn, bucket_id)

    @staticmethod
    async def _select_bucket(
        conn: AsyncConnection[DictRow],
        bucket_id: str,
        columns: LiteralString = "id, name, public, file_size_limit, allowed_mime_types",
    ) -> Row:
        """The bucket's ``columns`` (a constant select list); ``NoSuchBucket`` if none."""
        query = sql.SQL("select {} from storage.buckets where id = %s").format(sql.SQL(columns))
        row = await (await conn.execute(query, [bucket_id])).fetchone()
        if row is None:
            raise NoSuchBucket()
        return row

    async def create_bucket(
        self,
        identity: Identity,
        *,
        bucket_id: str,
        name: str,
        owner: str | None,
        public: bool,
        bucket_type: str | None,
        file_size_limit: int | None,
        allowed_mime_types: list[str] | None,
    ) -> None:
        """Insert a bucket as the caller (RLS decides)."""
        owner_uuid, owner_id = owner_columns(owner)
        try:
            async with self.db.transaction(identity) as conn:
                await conn.execute(
                    "insert into storage.buckets (id, name, owner, owner_id, public, type,"
                    " file_size_limit, allowed_mime_types)"
                    " values (%s, %s, %s, %s, %s, coalesce(%s::storage.buckettype, 'STANDARD'),"
                    " %s, %s)",
                    [
                        bucket_id,
                        name,
                        owner_uuid,
                        owner_id,
                        public,
                        bucket_type,
                        file_size_limit,
                        allowed_mime_types,
                    ],
                )
        except pgerrors.UniqueViolation:
            raise BucketAlreadyExists() from None

    async def update_bucket(
        self, identity: Identity, bucket_id: str, changes: Mapping[str, Any]
    ) -> None:
        """Update ``public``/``file_size_limit``/``allowed_mime_types`` as the caller."""
        async with self.db.transaction(identity) as conn:
            if not changes:
                found = await (
                    await conn.execute("select id from storage.buckets where id = %s", [bucket_id])
                ).fetchone()
            else:
                assignments = ", ".join(f"{column} = %s" for column in changes)
                found = await (
                    await conn.execute(
                        f"update storage.buckets set {assignments} where id = %s returning id",
                        [*changes.values(), bucket_id],
                    )
                ).fetchone()
        if found is None:
            raise NoSuchBucket()

    async def delete_bucket(self, identity: Identity, bucket_id: str) -> None:
        """Refuse non-empty buckets (checked as the server), then delete as the caller."""
        async with self.db.transaction(Identity.service(settings=identity.settings)) as conn:
            found = await (
                await conn.execute(
                    "select id from storage.buckets where id = %s for update", [bucket_id]
                )
            ).fetchone()
            if found is None:
                raise NoSuchBucket()
            has_objects = await (
                await conn.execute(
                    "select 1 from storage.objects where bucket_id = %s limit 1", [bucket_id]
                )
            ).fetchone()
            if has_objects is not None:
                raise ResourceNotEmpty()
        async with self.db.transaction(identity) as conn:
            deleted = await (
                await conn.execute(
                    "delete from storage.buckets where id = %s returning id", [bucket_id]
                )
            ).fetchone()
        if deleted is None:
            raise NoSuchBucket()

    async def empty_bucket(self, identity: Identity, bucket_id: str) -> None:
        """Delete every object created before now (synchronously, in batches)."""
        async with self.db.transaction(identity) as conn:
            found = await (
                await conn.execute("select id from storage.buckets where id = %s", [bucket_id])
            ).fetchone()
            if found is None:
                raise NoSuchBucket()
            count = await (
                await conn.execute(
                    "select count(*) as n from (select 1 from storage.objects"
                    " where bucket_id = %s limit %s) as o",
                    [bucket_id, EMPTY_BUCKET_MAX + 1],
                )
            ).fetchone()
            if count is not None and count["n"] > EMPTY_BUCKET_MAX:
                raise BucketNotEmptyEnough()
        before = datetime.now(UTC)
        while True:
            async with self.db.transaction(identity) as conn:
                rows = await (
                    await conn.execute(
                        "delete from storage.objects where id in (select id from storage.objects"
                        " where bucket_id = %s and created_at < %s limit 1000) returning version",
                        [bucket_id, before],
                    )
                ).fetchall()
            await self.blobs.delete(*(row["version"] for row in rows))
            if len(rows) < 1000:
                return
