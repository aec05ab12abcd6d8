"""Sync: make a destination hold what a source holds, project to project or with a folder.

Each side is a :class:`Remote` (a storage manager with a bucket and a prefix, or
the whole project when the bucket is ``None``) or a local folder. The plan
compares the two listings key by key: an object of the same size and MD5 (and,
between projects, the same content type, cache control and user metadata) is
skipped; the rest is copied; with ``delete`` what the source lacks is removed
from the destination. Buckets missing on the destination are created with the
source's configuration (public, file size limit, allowed MIME types).

Between projects the bytes stream from the download into the upload: the
upload reads a :class:`RemoteObject`, a seekable view of the source object over
HTTP ``Range`` requests, so a retried request or a resumed TUS chunk reads its
bytes again from the source instead of from a local copy. Memory stays at a few
blocks an object, nothing touches the disk, and the destination's MD5 is checked
against the source's afterwards. A re-run skips what landed (and resumes a TUS
upload left half way), so an interrupted sync continues where it stopped.

Example:
    >>> plan = sync(Remote(src, "photos"), Remote(dst, "photos"), dry_run=True)  # doctest: +SKIP
    >>> [step.action for step in plan.steps]  # doctest: +SKIP
    ['copy', 'skip']
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

from hybridkit.errors import (
    ConflictError,
    HybridError,
    InvalidInputError,
    NotFoundError,
    RetryableError,
)
from hybridkit.progress import Progress, ProgressCallback, ProgressTracker
from hybridkit.retry import AttemptLog, classify_response
from hybridkit.storage.manager import StorageManager
from hybridkit.storage.transfer import READ_BLOCK, url_path
from hybridkit.storage.values import (
    BucketInfo,
    FileResult,
    ObjectInfo,
    TransferReport,
    UploadResult,
)

if TYPE_CHECKING:
    from hybridkit.storage.session import StorageSession

__all__ = [
    "Entry",
    "JobProgress",
    "Remote",
    "RemoteObject",
    "Step",
    "SyncReport",
    "bucket_config",
    "list_remote",
    "max_age",
    "open_location",
    "put_object",
    "same_metadata",
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


def open_location(text: str, stack: ExitStack, *, profile: str = "") -> Remote | Path:
    """A side of a sync from its text: ``ss://<profile>/[bucket[/prefix]]`` or a folder.

    ``ss:///...`` (no profile) is ``profile`` when given, else the default project;
    the storage manager it opens is closed with ``stack``.

    Example:
        >>> with ExitStack() as stack:
        ...     side = open_location("ss://prod/photos/2026", stack)  # doctest: +SKIP
        ...     (side.bucket, side.prefix)  # doctest: +SKIP
        ('photos', '2026')
    """
    from hybridkit.target import profile_settings

    if not text.startswith("ss://"):
        return Path(text)
    name, _, rest = text[len("ss://") :].partition("/")
    bucket, _, prefix = rest.partition("/")
    name = name or profile
    storage = stack.enter_context(StorageManager(profile_settings(name or None)))
    return Remote(storage, bucket or None, prefix, f"ss://{name}")


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


# --------------------------------------------------------------------------- streaming


class RemoteObject(io.RawIOBase):
    """A stored object as a seekable, read-only binary file, read with HTTP ``Range``.

    Reads in order continue one streamed response; a seek elsewhere (a retried
    request, a resumed TUS chunk, the head and tail a resume fingerprint reads)
    opens another at the new offset. A stream that drops is reopened where it
    stopped, under the session's retry policy. Memory holds one block.

    Raises (from ``read``):
        ConflictError: the object changed (another ETag) while it was being read.
        RetriesExhausted: the source could not be read within the retry budget.

    Example:
        >>> with RemoteObject(src.session, "photos", "a.jpg", info.size, info.etag) as fh:
        ...     dst.upload(fh, "photos", "a.jpg")  # doctest: +SKIP
    """

    def __init__(
        self, session: StorageSession, bucket: str, key: str, size: int, etag: str | None
    ) -> None:
        super().__init__()
        self._session = session
        self._url = f"{session.storage_url}/object/{url_path(bucket, key)}"
        self._context = f"read {bucket}/{key}"
        self._size = size
        self._etag = etag
        self._pos = 0
        self._response: Any = None
        self._chunks: Iterator[bytes] | None = None
        self._at = -1  # the offset of self._pending's first byte
        self._pending = b""
        self.name = key
        self.log = AttemptLog()
        """The reads' attempts and retries, over every request this object made."""
        self.bytes_received = 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return not self.closed

    def seekable(self) -> bool:
        return not self.closed

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        data: bytes = self._session.retrier.call(
            lambda _attempt: self._next(want), operation=self._context, log=self.log
        )
        memoryview(buffer).cast("B")[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._drop()
        super().close()

    def _next(self, want: int) -> bytes:
        try:
            if self._chunks is None or self._at != self._pos:
                self._open()
            assert self._chunks is not None
            if not self._pending:
                self._pending = next(self._chunks)
                self.bytes_received += len(self._pending)
            data, self._pending = self._pending[:want], self._pending[want:]
            self._at += len(data)
            return data
        except StopIteration:
            self._drop()
            raise RetryableError(f"{self._context}: the response ended early; reading on") from None
        except BaseException:
            self._drop()
            raise

    def _open(self) -> None:
        self._drop()
        session = self._session
        headers = {**session.auth_headers, "Accept-Encoding": "identity"}
        if self._pos:
            headers["Range"] = f"bytes={self._pos}-"
        request = session.http.build_request(
            "GET", self._url, headers=headers, timeout=session.transfer_timeout
        )
        self._response = response = session.http.send(request, stream=True)
        if response.status_code >= 400:
            response.read()
            raise classify_response(response, context=self._context)
        if response.status_code != (206 if self._pos else 200):
            raise RetryableError(f"{self._context}: answered {response.status_code} to a Range")
        etag = response.headers.get("ETag")
        if self._etag and etag and etag != self._etag:
            raise ConflictError(f"{self._context}: the object changed while it was being copied")
        self._chunks = response.iter_raw(READ_BLOCK)
        self._at, self._pending = self._pos, b""

    def _drop(self) -> None:
        if self._response is not None:
            # A stream abandoned half way may fail to close cleanly; it is dropped anyway.
            with contextlib.suppress(Exception):
                self._response.close()
        self._response, self._chunks, self._at, self._pending = None, None, -1, b""


class JobProgress:
    """One progress for a job of many objects: bytes over all of them, and files.

    Each transfer's own progress (bytes of one object) feeds it through
    :meth:`for_object`, called in the thread that then calls :meth:`finished`;
    an object's last bytes are counted once it is finished, so that a bar at
    100 % also shows every file done. Skipped objects count as done without
    being throughput.
    """

    def __init__(
        self, callback: ProgressCallback | None, total: int, files: int, *, label: str = ""
    ) -> None:
        self.tracker = ProgressTracker(total, callback, label=label, files=files)
        self._local = threading.local()

    def for_object(self) -> Callable[[Progress], None]:
        """A callback for one object's transfer (in this thread)."""
        last = [0]
        self._local.last = last

        def feed(snapshot: Progress) -> None:
            # The last byte waits for finished(): objects in flight together must
            # not fill the bar while their files are still counted as not done.
            done = snapshot.done if not snapshot.total else min(snapshot.done, snapshot.total - 1)
            self.tracker.advance(done - last[0])
            last[0] = done

        return feed

    def finished(self, result: FileResult) -> None:
        """One object is done (copied, skipped or failed), in the thread that moved it."""
        last, self._local.last = getattr(self._local, "last", None), None
        self.tracker.file_finished()
        if result.status == "skipped":
            self.tracker.skip(result.size)
        elif last is not None and result.status in ("uploaded", "downloaded"):
            self.tracker.advance(result.size - last[0])

    def close(self) -> None:
        """Send the final update."""
        self.tracker.close()


def same_metadata(a: ObjectInfo, b: ObjectInfo) -> bool:
    """Same content type, cache control and user metadata (``{}`` and none are alike)."""
    return (
        a.content_type == b.content_type
        and a.cache_control == b.cache_control
        and dict(a.user_metadata or {}) == dict(b.user_metadata or {})
    )


def put_object(
    storage: StorageManager,
    source: Path | IO[bytes],
    bucket: str,
    key: str,
    *,
    content_type: str | None,
    cache_control: str | None,
    metadata: Mapping[str, Any] | None,
    deadline: float | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[UploadResult, ObjectInfo]:
    """Upload ``source`` (upsert) keeping its content type, cache control and metadata.

    An upload carries cache control as seconds (``max-age=N``); any other value
    the source had (``no-cache``, ``public, max-age=60``) is then set as it was
    by a server-side copy of the object onto itself, which keeps the bytes and
    the user metadata. Returns the upload and what the server now stores.
    """
    sent = storage.upload(
        source,
        bucket,
        key,
        content_type=content_type,
        cache_control=max_age(cache_control),
        metadata=metadata or None,
        upsert=True,
        deadline=deadline,
        progress=progress,
    )
    stored = storage.info(bucket, key)
    if cache_control and stored.cache_control != cache_control:
        context = f"set cache control of {bucket}/{key}"
        body = {
            "bucketId": bucket,
            "sourceKey": key,
            "destinationKey": key,
            "metadata": {"cacheControl": cache_control, "mimetype": stored.content_type},
        }
        storage.session.call(
            lambda _attempt: storage.session.json(
                "POST", "object/copy", json=body, headers={"x-upsert": "true"}, context=context
            ),
            context,
        )
        stored = storage.info(bucket, key)
    return sent, stored


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


def _metadata_differs(pair: _Pair, key: str) -> bool:
    """Between projects: the listing has no user metadata, so read both objects' info."""
    assert isinstance(pair.src, Remote) and isinstance(pair.dst, Remote)
    assert pair.src.bucket is not None and pair.dst.bucket is not None
    a = pair.src.storage.info(pair.src.bucket, _join(_prefix(pair.src.prefix), key))
    b = pair.dst.storage.info(pair.dst.bucket, _join(_prefix(pair.dst.prefix), key))
    return not same_metadata(a, b)


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
    progress: ProgressCallback | None = None,
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
        progress: receives the job's :class:`~hybridkit.progress.Progress`
            (bytes over every object, ``files_done`` of ``files_total``).

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
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hybridkit-sync") as pool:
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
            same = [
                k for k, e in source.items() if k in target and _unchanged(e, target[k], between)
            ]
            checked = pool.map(functools.partial(_metadata_differs, pair), same) if between else ()
            differs = dict(zip(same, checked, strict=False))
            for key, entry in sorted(source.items()):
                there = target.get(key)
                s_label, t_label = _scope_label(pair.src, key), _scope_label(pair.dst, key)
                if there is not None and key in same and not differs.get(key, False):
                    steps.append(Step("skip", s_label, t_label, entry.size, "unchanged"))
                else:
                    why = "new" if there is None else "changed"
                    why = "metadata changed" if differs.get(key) else why
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
    meter = JobProgress(
        progress,
        sum(s.size for s in steps if s.action in ("copy", "skip")),
        len(skipped) + len(work),
        label="sync",
    )
    for result in skipped:
        meter.finished(result)

    def one(item: tuple[_Pair, str, Entry]) -> FileResult:
        result = _copy_one(*item, end, cancel, meter.for_object())
        meter.finished(result)
        return result

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hybridkit-sync") as pool:
            results = list(pool.map(one, work))
    finally:
        meter.close()
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
    end: float | None,
    cancel: threading.Event | None,
    progress: ProgressCallback | None = None,
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
        return _transfer(pair, key, remaining, s_label, t_label, progress)
    except HybridError as error:
        return FileResult(s_label, t_label, "failed", entry.size, reason=str(error), error=error)


def _transfer(
    pair: _Pair,
    key: str,
    remaining: float | None,
    s_label: str,
    t_label: str,
    progress: ProgressCallback | None,
) -> FileResult:
    src, dst = pair.src, pair.dst
    if isinstance(src, Remote) and isinstance(dst, Path):
        assert src.bucket is not None
        target = dst / key
        target.parent.mkdir(parents=True, exist_ok=True)
        got = src.storage.download(
            src.bucket, _join(_prefix(src.prefix), key), target, progress=progress
        )
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
        sent = dst.storage.upload(
            src / key, dst.bucket, dst_key, upsert=True, deadline=remaining, progress=progress
        )
        return FileResult(
            s_label, t_label, "uploaded", sent.size, sent.attempts, sent.retries, sent.bytes_sent,
            landed=sent.size,
        )  # fmt: skip
    assert src.bucket is not None
    src_key = _join(_prefix(src.prefix), key)
    info = src.storage.info(src.bucket, src_key)
    with RemoteObject(src.storage.session, src.bucket, src_key, info.size, info.etag) as body:
        sent, stored = put_object(
            dst.storage,
            cast(IO[bytes], body),
            dst.bucket,
            dst_key,
            content_type=info.content_type,
            cache_control=info.cache_control,
            metadata=info.user_metadata,
            deadline=remaining,
            progress=progress,
        )
        attempts, retries = sent.attempts + body.log.attempts, sent.retries + body.log.retries
    if stored.size != info.size or (info.md5 and stored.md5 and stored.md5 != info.md5):
        return FileResult(
            s_label,
            t_label,
            "failed",
            info.size,
            attempts,
            retries,
            sent.bytes_sent,
            reason=f"stored {stored.size} bytes (MD5 {stored.md5}), the source has "
            f"{info.size} (MD5 {info.md5}); run the sync again",
        )
    return FileResult(
        s_label, t_label, "uploaded", sent.size, attempts, retries, sent.bytes_sent,
        landed=sent.size,
    )  # fmt: skip
