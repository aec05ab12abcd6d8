"""Listing: a paginated walk (list v2, or list v1 where v2 is missing) and its filters.

Private; :meth:`hybridkit.storage.StorageManager.iter_objects` is the public face.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hybridkit.errors import NotFoundError
from hybridkit.retry import Attempt, classify
from hybridkit.storage.transfer import check_bucket, check_key, selected, url_path
from hybridkit.storage.values import ObjectInfo

if TYPE_CHECKING:
    from hybridkit.storage.session import StorageSession

LIST_PAGE = 1000  # list v2's maximum page


def object_filter(
    glob: str | Sequence[str] | None,
    exclude: Sequence[str],
    older_than: timedelta | datetime | None,
    newer_than: timedelta | datetime | None,
    min_size: int | None,
    max_size: int | None,
) -> Callable[[ObjectInfo], bool]:
    """A predicate for :meth:`StorageManager.iter_objects`' filters (ages fixed now)."""
    include = [glob] if isinstance(glob, str) else list(glob or ())
    now = datetime.now(UTC)
    old = now - older_than if isinstance(older_than, timedelta) else older_than
    new = now - newer_than if isinstance(newer_than, timedelta) else newer_than

    def keep(obj: ObjectInfo) -> bool:
        if obj.is_folder:
            return not include and not exclude
        if (include or exclude) and not selected(obj.name, include, exclude):
            return False
        if min_size is not None and obj.size < min_size:
            return False
        if max_size is not None and obj.size > max_size:
            return False
        stamp = obj.updated_at or obj.created_at
        if old is not None and (stamp is None or stamp > old):
            return False
        return not (new is not None and (stamp is None or stamp < new))

    return keep


def _join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    return prefix + name if prefix.endswith("/") else f"{prefix}/{name}"


def _v2_page(session: StorageSession, bucket: str, body: dict[str, Any], attempt: Attempt) -> Any:
    context = f"list {bucket}/{body.get('prefix', '')}"
    return session.json("POST", f"object/list-v2/{url_path(bucket)}", json=body, context=context)


def _v1_page(
    session: StorageSession, bucket: str, path: str, options: dict[str, Any], attempt: Attempt
) -> list[dict[str, Any]]:
    return list(session.api.from_(bucket).list(path, options))


def walk(
    session: StorageSession, bucket: str, prefix: str, recursive: bool
) -> Iterator[ObjectInfo]:
    """Every object under ``prefix`` (and, unless ``recursive``, the folders), page by page."""
    cursor: str | None = None
    while True:
        body: dict[str, Any] = {"prefix": prefix, "limit": LIST_PAGE}
        if not recursive:
            body["with_delimiter"] = True
        if cursor:
            body["cursor"] = cursor
        try:
            page = session.call(
                functools.partial(_v2_page, session, bucket, body), f"list {bucket}/{prefix}"
            )
        except NotFoundError as error:
            if cursor is None and error.code in (None, "InvalidRequest", "Not Found"):
                # A server without list v2: walk with list v1.
                yield from walk_v1(session, bucket, prefix, recursive)
                return
            raise
        if not isinstance(page, Mapping):
            raise classify(TypeError(f"unexpected list-v2 answer {page!r:.100}"))
        for folder in page.get("folders") or ():
            name = str(folder.get("name") or folder.get("key") or "")
            full = name if name.startswith(prefix) else _join(prefix, name)
            yield ObjectInfo(bucket=bucket, name=full, is_folder=True)
        for row in page.get("objects") or ():
            name = str(row.get("name") or "")
            if not recursive and row.get("key") and not name.startswith(prefix):
                name = _join(prefix, str(row["key"]))
            yield ObjectInfo.from_listing(bucket, name, row)
        cursor = page.get("nextCursor")
        if not page.get("hasNext") or not cursor:
            return


def walk_v1(
    session: StorageSession, bucket: str, prefix: str, recursive: bool
) -> Iterator[ObjectInfo]:
    """The same walk on list v1: one level per request, folders descended into."""
    folder, _, start = prefix.rpartition("/")
    pending = [(folder, start)]
    while pending:
        path, search = pending.pop()
        offset = 0
        while True:
            options = {"limit": LIST_PAGE, "offset": offset, "search": search}
            rows = session.call(
                functools.partial(_v1_page, session, bucket, path, options),
                f"list {bucket}/{path}",
            )
            for row in rows:
                name = _join(path, str(row["name"]))
                if row.get("id") is None:
                    if recursive:
                        pending.append((name, ""))
                    else:
                        yield ObjectInfo(bucket=bucket, name=name + "/", is_folder=True)
                else:
                    yield ObjectInfo.from_listing(bucket, name, row)
            if len(rows) < LIST_PAGE:
                break
            offset += len(rows)


def object_info(session: StorageSession, bucket: str, key: str) -> ObjectInfo:
    """An object's size, ETag, content type and times. Raises NotFoundError."""
    check_bucket(bucket)
    check_key(key)
    data = session.call(
        lambda a: session.json(
            "GET", f"object/info/{url_path(bucket, key)}", context=f"info {bucket}/{key}"
        ),
        f"info {bucket}/{key}",
    )
    if not isinstance(data, Mapping):
        raise classify(TypeError(f"unexpected info answer {data!r:.100}"))
    return ObjectInfo.from_info(bucket, key, data)


def iter_objects(
    session: StorageSession,
    bucket: str,
    prefix: str = "",
    *,
    recursive: bool = True,
    glob: str | Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    older_than: timedelta | datetime | None = None,
    newer_than: timedelta | datetime | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
) -> Iterator[ObjectInfo]:
    """The objects under ``prefix`` that pass the filters; see ``StorageManager.iter_objects``."""
    check_bucket(bucket)
    keep = object_filter(glob, exclude, older_than, newer_than, min_size, max_size)
    for obj in walk(session, bucket, prefix, recursive):
        if keep(obj):
            yield obj
