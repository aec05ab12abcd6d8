"""List v2 (``POST /object/list-v2/{bucket}``): cursor pages, optionally one level deep.

The response is what storage3's ``SearchV2Result`` and storage-js parse::

    {"hasNext": bool, "nextCursor"?: str, "nextCursorKey"?: str,
     "folders": [{"key", "name": "dir/sub/", "id": null, ...}],
     "objects": [{"key"?, "name", "id", "updated_at", "created_at", "last_accessed_at",
                  "metadata"}]}

Without ``with_delimiter`` every object under the (plain, case-sensitive) prefix
is listed with its full ``name``. With it, deeper paths fold into folder entries
whose ``name`` ends in ``/``; every entry then also carries ``key``, its path
segment below the prefix's folder. The cursor is opaque to clients: base64 of
``l:<last name>`` plus the sort it belongs to. The query runs as the caller, so
RLS decides what is listed.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from psycopg import sql

from hybridkit.local.db import Database, Identity
from hybridkit.local.storage.errors import InvalidRequest
from hybridkit.local.storage.models import iso

__all__ = ["list_v2"]

_COLUMNS = ("name", "updated_at", "created_at")


def _encode_cursor(fields: dict[str, str]) -> str:
    text = "\n".join(f"{name}:{value}" for name, value in fields.items())
    return base64.b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, str]:
    try:
        text = base64.b64decode(cursor, validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Invalid cursor") from None
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            fields[name] = value
    if "l" not in fields:
        raise InvalidRequest("Invalid cursor")
    return fields


async def list_v2(
    db: Database,
    identity: Identity,
    bucket: str,
    *,
    prefix: str,
    limit: int,
    cursor: str | None,
    with_delimiter: bool,
    sort_column: str,
    sort_order: str,
) -> dict[str, Any]:
    """One page of list v2 for ``bucket`` as ``identity``."""
    column = sort_column if sort_column in _COLUMNS else "name"
    descending = sort_order == "desc"
    direction = sql.SQL("desc" if descending else "asc")
    compare = sql.SQL("<" if descending else ">")
    after = _decode_cursor(cursor) if cursor else None

    params: dict[str, Any] = {"bucket": bucket, "prefix": prefix, "limit": limit + 1}
    if with_delimiter:
        source = sql.SQL(
            """
            with matched as (
              select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
                     position('/' in substring(o.name from length(%(prefix)s) + 1)) as slash
              from storage.objects as o
              where o.bucket_id = %(bucket)s and starts_with(o.name, %(prefix)s)
            ), entries as (
              select distinct left(m.name, length(%(prefix)s) + m.slash) as name, null::uuid as id,
                     null::timestamptz as updated_at, null::timestamptz as created_at,
                     null::timestamptz as last_accessed_at, null::jsonb as metadata, 0 as rank
              from matched as m where m.slash > 0
              union all
              select m.name, m.id, m.updated_at, m.created_at, m.last_accessed_at, m.metadata, 1
              from matched as m where m.slash = 0
            )
            select * from entries as e
            """
        )
    else:
        source = sql.SQL(
            """
            select e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata,
                   1 as rank
            from storage.objects as e
            where e.bucket_id = %(bucket)s and starts_with(e.name, %(prefix)s)
            """
        )

    name = sql.SQL('e.name collate "C"')
    if column == "name":
        order = sql.SQL("{} {}").format(name, direction)
        condition = sql.SQL("{} {} %(after_name)s").format(name, compare)
    else:
        # Folders (rank 0, no timestamps) come first, then objects by the column.
        stamp = sql.SQL("coalesce(e.{}, '-infinity'::timestamptz)").format(sql.Identifier(column))
        order = sql.SQL("e.rank asc, {stamp} {d}, {name} {d}").format(
            stamp=stamp, d=direction, name=name
        )
        condition = sql.SQL(
            "(e.rank > %(after_rank)s or (e.rank = %(after_rank)s and ({stamp} {c} %(after_stamp)s"
            " or ({stamp} = %(after_stamp)s and {name} {c} %(after_name)s))))"
        ).format(stamp=stamp, c=compare, name=name)

    query = sql.SQL("select * from ({source}) as e").format(source=source)
    if after is not None:
        params["after_name"] = after["l"]
        params["after_rank"] = int(after.get("r", "1") or 1)
        params["after_stamp"] = after.get("t") or "-infinity"
        query = sql.SQL("{} where {}").format(query, condition)
    query = sql.SQL("{} order by {} limit %(limit)s").format(query, order)

    async with db.transaction(identity) as conn:
        rows = await (await conn.execute(query, params)).fetchall()

    has_next = len(rows) > limit
    rows = rows[:limit]
    base = prefix[: prefix.rfind("/") + 1]
    folders: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for row in rows:
        if row["id"] is None:
            folders.append(
                {
                    "key": row["name"][len(base) :].rstrip("/"),
                    "name": row["name"],
                    "id": None,
                    "updated_at": None,
                    "created_at": None,
                    "last_accessed_at": None,
                    "metadata": None,
                }
            )
            continue
        entry: dict[str, Any] = {}
        if with_delimiter:
            entry["key"] = row["name"][len(base) :]
        entry.update(
            {
                "name": row["name"],
                "id": str(row["id"]),
                "updated_at": iso(row["updated_at"]),
                "created_at": iso(row["created_at"]),
                "last_accessed_at": iso(row["last_accessed_at"]),
                "metadata": row["metadata"],
            }
        )
        objects.append(entry)

    result: dict[str, Any] = {"hasNext": has_next}
    if has_next and rows:
        last = rows[-1]
        fields = {"l": last["name"], "o": "desc" if descending else "asc", "c": column}
        if column != "name":
            stamp_value: datetime | None = last[column]
            fields["t"] = stamp_value.isoformat() if stamp_value is not None else ""
            fields["r"] = str(last["rank"])
        result["nextCursor"] = _encode_cursor(fields)
        result["nextCursorKey"] = last["name"]
    result["folders"] = folders
    result["objects"] = objects
    return result
