"""Sync: make a destination hold what a source holds, project to project or with a folder.

Each side is a :class:`Remote` (a storage manager with a bucket and a prefix, or
the whole project when the bucket is ``None``) or a local folder. The plan
compares the two listings key by key: an object of the same size and MD5 (and,
between projects, the same content type and cache control) is skipped; the
rest is copied; with ``delete`` what the source lacks is removed from the
destination. Buckets missing on the destination are created with the source's
configuration (public, file size limit, allowed MIME types).

Between projects each object is spooled through a temporary file: downloaded
(streamed, verified) and uploaded from it (standard, or resumable TUS above the
threshold), with its content type, cache control and user metadata. Memory
stays bounded by the block sizes; disk holds at most ``jobs`` objects at once.
A re-run skips what landed, so an interrupted sync continues where it stopped.

Example:
    >>> plan = sync(Remote(src, "photos"), Remote(dst, "photos"), dry_run=True)  # doctest: +SKIP
    >>> [step.action for step in plan.steps]  # doctest: +SKIP
    ['copy', 'skip']
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybridkit.errors import HybridError, InvalidInputError, NotFoundError
from hybridkit.storage.manager import StorageManager
from hybridkit.storage.values import BucketInfo, FileResult, TransferReport

__all__ = [
    "Entry",
    "Remote",
    "Step",
    "SyncReport",
    "bucket_config",
    "list_remote",
    "max_age",
    "sync",
]

_MAX_AGE = re.compile(r"(?:max-age=)?(\d+)")


@dataclass(frozen=True)
class Remote:
    """One side in a project: ``bucket`` ``None`` is every bucket of the project."""

    storage: StorageManager
    bucket: str | None = None
    prefix: str = ""
    label: str = ""

    def __str__(self) -> str:
        return self.label or f"{self.storage.url}/{self.bucket or ''}/{self.prefix}"


@dataclass(frozen=True)
class Entry:
    """What a listing says about one object or file (keys are relative to the side)."""

    size: int
    md5: str | None
    content_type: str | None = None
    cache_control: str | None = None


@dataclass(frozen=True)
class Step:
    """One line of the plan: ``copy``, ``skip`` or ``delete`` of ``source`` -> ``target``."""

    action: Literal["copy", "skip", "delete", "create-bucket", "update-bucket"]
    source: str
    target: str
    size: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SyncReport:
    """The plan, and (unless a dry run) what happened.

    Attributes:
        steps: the plan, in order.
        transfer: the per-object results (copies, skips, failures), as ``storage cp``'s.
        deleted: destination keys removed by ``delete``.
        buckets_created: the destination buckets created.
        dry_run: True when nothing was changed.
    """

    steps: tuple[Step, ...]
    transfer: TransferReport = field(default_factory=lambda: TransferReport(results=()))
    deleted: tuple[str, ...] = ()
    buckets_created: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed or was cancelled."""
        return self.transfer.ok

    def summary(self) -> str:
        """One line, as ``storage cp``'s, with the deletions and buckets created."""
        if self.dry_run:
            counts = {a: sum(1 for s in self.steps if s.action == a) for a in _ACTIONS}
            return (
                f"dry run: {counts['copy']} to copy, {counts['skip']} unchanged, "
                f"{counts['delete']} to delete, {counts['create-bucket']} bucket(s) to create, "
                f"{counts['update-bucket']} to update"
            )
        return (
            f"{self.transfer.summary()}; {len(self.deleted)} deleted, "
            f"{len(self.buckets_created)} bucket(s) created"
        )


_ACTIONS = ("copy", "skip", "delete", "create-bucket", "update-bucket")


# --------------------------------------------------------------------------- listings


def list_remote(storage: StorageManager, bucket: str, prefix: str) -> dict[str, Entry]:
    """The objects under ``prefix`` (keys relative to it); a missing bucket is empty."""
    try:
        objects = list(storage.iter_objects(bucket, prefix))
    except NotFoundError:
        return {}
    return {
        o.name[len(prefix) :]: Entry(o.size, o.md5, o.content_type, o.cache_control)
        for o in objects
        if not o.is_folder and not o.name.endswith("/.emptyFolderPlaceholder")
    }


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _list_folder(folder: Path) -> dict[str, Entry]:
    if not folder.is_dir():
        return {}
    out: dict[str, Entry] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.endswith((".part", ".part.json")):
            key = path.relative_to(folder).as_posix()
            out[key] = Entry(path.stat().st_size, _md5_file(path))
    return out


def _join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    return prefix if not key else f"{prefix.rstrip('/')}/{key}"


def _prefix(text: str) -> str:
    return text if not text or text.endswith("/") else text + "/"


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Pair:
    """One bucket's worth of work: a source scope and a destination scope."""

    src: Remote | Path
    dst: Remote | Path
    bucket_config: BucketInfo | None = None  # create the destination bucket like this


def _scope_label(side: Remote | Path, key: str = "") -> str:
    if isinstance(side, Path):
        return str(side / key) if key else str(side)
    return f"{side.label or 'ss://'}/{side.bucket}/{_join(_prefix(side.prefix), key)}"


def _pairs(src: Remote | Path, dst: Remote | Path) -> list[_Pair]:
    if isinstance(src, Path) and isinstance(dst, Path):
        raise InvalidInputError("sync needs an ss:// path on at least one side")
    if isinstance(src, Remote) and src.bucket is None:
        buckets = src.storage.list_buckets()
        if isinstance(dst, Remote) and dst.bucket is not None:
            raise InvalidInputError("a whole project syncs to a whole project or a folder")
        out = []
        for b in buckets:
            target: Remote | Path = (
                Remote(dst.storage, b.id, "", dst.label) if isinstance(dst, Remote) else dst / b.id
            )
            out.append(_Pair(Remote(src.storage, b.id, "", src.label), target, b))
        return out
    if isinstance(src, Path) and isinstance(dst, Remote) and dst.bucket is None:
        if not src.is_dir():
            raise InvalidInputError(f"{src}: not a folder")
        return [
            _Pair(src / d.name, Remote(dst.storage, d.name, "", dst.label))
            for d in sorted(src.iterdir())
            if d.is_dir()
        ]
    if isinstance(dst, Remote) and dst.bucket is None:
        raise InvalidInputError("a bucket or prefix syncs to a bucket or prefix")
    config = None
    if isinstance(src, Remote) and isinstance(dst, Remote) and src.bucket is not None:
        config = src.storage.get_bucket(src.bucket)
    return [_Pair(src, dst, config)]


def _listing(side: Remote | Path) -> dict[str, Entry]:
    if isinstance(side, Path):
        return _list_folder(side)
    assert side.bucket is not None
    return list_remote(side.storage, side.bucket, _prefix(side.prefix))


def _unchanged(src: Entry, dst: Entry, between_projects: bool) -> bool:
    if src.size != dst.size or src.md5 is None or src.md5 != dst.md5:
        return False
    if between_projects:
        return src.content_type == dst.content_type and src.cache_control == dst.cache_control
    return True


# --------------------------------------------------------------------------- sync


def sync(
    src: Remote | Path,
    dst: Remote | Path,
    *,
    delete: bool = False,
    dry_run: bool = False,
    jobs: int = 4,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> SyncReport:
    """Make ``dst`` hold what ``src`` holds; returns the plan and the per-object report.

    Args:
        src / dst: a :class:`Remote` or a folder (not both folders).
        delete: remove from ``dst`` what ``src`` does not hold (objects only;
            buckets are never deleted).
        dry_run: plan only; nothing is changed.
        jobs: objects in flight at once.
        deadline: seconds the job may take; objects not started by then are
            reported failed ("run it again to continue"), an upload in flight
            stops as the storage manager's deadline stops it.
        cancel: set it to stop; objects not started are reported ``cancelled``.

    Raises:
        InvalidInputError: two folders, or sides that do not fit together.
    """
    if jobs < 1:
        raise InvalidInputError("jobs must be at least 1")
    started = time.monotonic()
    end = started + deadline if deadline is not None else None
    steps: list[Step] = []
    work: list[tuple[_Pair, str, Entry]] = []
    removals: list[tuple[Remote | Path, str]] = []
    creations: list[tuple[Remote, BucketInfo | None]] = []
    updates: list[tuple[Remote, BucketInfo]] = []
    for pair in _pairs(src, dst):
        if isinstance(pair.dst, Remote):
            assert pair.dst.bucket is not None
            existing = _bucket(pair.dst.storage, pair.dst.bucket)
            if existing is None:
                steps.append(Step("create-bucket", "", pair.dst.bucket, reason=_config(pair)))
                creations.append((pair.dst, pair.bucket_config))
            elif pair.bucket_config is not None and bucket_config(existing) != bucket_config(
                pair.bucket_config
            ):
                steps.append(Step("update-bucket", "", pair.dst.bucket, reason=_config(pair)))
                updates.append((pair.dst, pair.bucket_config))
        source, target = _listing(pair.src), _listing(pair.dst)
        between = isinstance(pair.src, Remote) and isinstance(pair.dst, Remote)
        for key, entry in sorted(source.items()):
            there = target.get(key)
            s_label, t_label = _scope_label(pair.src, key), _scope_label(pair.dst, key)
            if there is not None and _unchanged(entry, there, between):
                steps.append(Step("skip", s_label, t_label, entry.size, "unchanged"))
            else:
                why = "new" if there is None else "changed"
                steps.append(Step("copy", s_label, t_label, entry.size, why))
                work.append((pair, key, entry))
        if delete:
            for key in sorted(set(target) - set(source)):
                steps.append(Step("delete", "", _scope_label(pair.dst, key), target[key].size))
                removals.append((pair.dst, key))
    if dry_run:
        return SyncReport(tuple(steps), dry_run=True)

    created = []
    for remote, config in creations:
        assert remote.bucket is not None
        remote.storage.create_bucket(
            remote.bucket,
            public=config.public if config else False,
            file_size_limit=config.file_size_limit if config else None,
            allowed_mime_types=config.allowed_mime_types if config else None,
        )
        created.append(remote.bucket)
    for remote, config in updates:
        assert remote.bucket is not None
        remote.storage.update_bucket(
            remote.bucket,
            public=config.public,
            file_size_limit=config.file_size_limit,
            allowed_mime_types=config.allowed_mime_types,
        )

    skipped = [
        FileResult(s.source, s.target, "skipped", s.size, reason="unchanged")
        for s in steps
        if s.action == "skip"
    ]
    with (
        tempfile.TemporaryDirectory(prefix="hybridkit-sync-") as spool,
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hybridkit-sync") as pool,
    ):
        results = list(
            pool.map(
                lambda item: _copy_one(item[0], item[1], item[2], Path(spool), end, cancel), work
            )
        )
    # As rclone does: no deletion after a failed copy, which could be the reason a key is "gone".
    clean = all(r.status in ("uploaded", "downloaded") for r in results)
    deleted = _delete(removals) if clean else []
    return SyncReport(
        tuple(steps),
        TransferReport(tuple(skipped + results), duration=time.monotonic() - started),
        tuple(deleted),
        tuple(created),
    )


def _bucket(storage: StorageManager, bucket: str) -> BucketInfo | None:
    try:
        return storage.get_bucket(bucket)
    except NotFoundError:
        return None


def bucket_config(bucket: BucketInfo) -> dict[str, Any]:
    """What a copy of a bucket keeps: public, file size limit, allowed MIME types (sorted)."""
    mimes = bucket.allowed_mime_types
    return {
        "public": bucket.public,
        "file_size_limit": bucket.file_size_limit,
        "allowed_mime_types": sorted(mimes) if mimes is not None else None,
    }


def _config(pair: _Pair) -> str:
    c = pair.bucket_config
    if c is None:
        return "private"
    mimes = ",".join(c.allowed_mime_types or ()) or "any type"
    limit = c.file_size_limit if c.file_size_limit is not None else "no limit"
    return f"{'public' if c.public else 'private'}, {limit}, {mimes}"


def _delete(removals: Iterable[tuple[Remote | Path, str]]) -> list[str]:
    deleted: list[str] = []
    by_bucket: dict[tuple[int, str], tuple[Remote, list[str]]] = {}
    for side, key in removals:
        if isinstance(side, Path):
            (side / key).unlink(missing_ok=True)
            deleted.append(str(side / key))
            continue
        assert side.bucket is not None
        slot = by_bucket.setdefault((id(side.storage), side.bucket), (side, []))
        slot[1].append(_join(_prefix(side.prefix), key))
    for side, keys in by_bucket.values():
        assert side.bucket is not None
        deleted.extend(f"{side.bucket}/{k}" for k in side.storage.remove(side.bucket, keys))
    return deleted


def max_age(value: str | None) -> str | None:
    """``max-age=N`` (as the server reports it) -> ``"N"`` for an upload; else ``None``."""
    match = _MAX_AGE.fullmatch(value.strip()) if value else None
    return match.group(1) if match else None


def _copy_one(
    pair: _Pair,
    key: str,
    entry: Entry,
    spool: Path,
    end: float | None,
    cancel: threading.Event | None,
) -> FileResult:
    s_label, t_label = _scope_label(pair.src, key), _scope_label(pair.dst, key)
    if cancel is not None and cancel.is_set():
        return FileResult(s_label, t_label, "cancelled", entry.size, reason="cancelled")
    remaining = None if end is None else end - time.monotonic()
    if remaining is not None and remaining <= 0:
        return FileResult(
            s_label,
            t_label,
            "failed",
            entry.size,
            reason="the deadline passed before it started (run the sync again to continue)",
        )
    try:
        return _transfer(pair, key, entry, spool, remaining, s_label, t_label)
    except HybridError as error:
        return FileResult(s_label, t_label, "failed", entry.size, reason=str(error), error=error)


def _transfer(
    pair: _Pair,
    key: str,
    entry: Entry,
    spool: Path,
    remaining: float | None,
    s_label: str,
    t_label: str,
) -> FileResult:
    src, dst = pair.src, pair.dst
    if isinstance(src, Remote) and isinstance(dst, Path):
        assert src.bucket is not None
        target = dst / key
        target.parent.mkdir(parents=True, exist_ok=True)
        got = src.storage.download(src.bucket, _join(_prefix(src.prefix), key), target)
        return FileResult(
            s_label,
            t_label,
            "downloaded",
            got.size,
            got.attempts,
            got.retries,
            got.bytes_received,
            landed=got.size,
        )
    assert isinstance(dst, Remote) and dst.bucket is not None
    dst_key = _join(_prefix(dst.prefix), key)
    if isinstance(src, Path):
        sent = dst.storage.upload(src / key, dst.bucket, dst_key, upsert=True, deadline=remaining)
    else:
        assert src.bucket is not None
        src_key = _join(_prefix(src.prefix), key)
        info = src.storage.info(src.bucket, src_key)
        fd, name = tempfile.mkstemp(dir=spool)
        os.close(fd)
        spooled = Path(name)
        try:
            src.storage.download(src.bucket, src_key, spooled)
            sent = dst.storage.upload(
                spooled,
                dst.bucket,
                dst_key,
                content_type=info.content_type or entry.content_type,
                cache_control=max_age(info.cache_control or entry.cache_control),
                metadata=info.user_metadata or None,
                upsert=True,
                deadline=remaining,
            )
        finally:
            spooled.unlink(missing_ok=True)
    return FileResult(
        s_label,
        t_label,
        "uploaded",
        sent.size,
        sent.attempts,
        sent.retries,
        sent.bytes_sent,
        landed=sent.size,
    )
