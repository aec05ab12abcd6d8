"""Frozen values the storage manager returns (re-exported by :mod:`hybridkit.storage`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hybridkit.errors import CancelledError, HybridError
from hybridkit.storage.transfer import md5_from_etag

__all__ = [
    "BucketInfo",
    "DownloadResult",
    "FileResult",
    "ObjectInfo",
    "OpStats",
    "TransferReport",
    "UploadReport",
    "UploadResult",
    "VerifyReport",
]


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``2026-11-22T10:36:13.087Z``) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class BucketInfo:
    """A storage bucket.

    Example:
        >>> BucketInfo(id="photos", name="photos", public=False).file_size_limit is None
        True
    """

    id: str
    name: str
    public: bool
    file_size_limit: int | None = None
    allowed_mime_types: tuple[str, ...] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    owner: str = ""
    type: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> BucketInfo:
        """From storage3's bucket model or the Storage API's JSON."""
        get = data.get if isinstance(data, Mapping) else lambda k, d=None: getattr(data, k, d)
        mimes = get("allowed_mime_types")
        return cls(
            id=str(get("id")),
            name=str(get("name") or get("id")),
            public=bool(get("public")),
            file_size_limit=get("file_size_limit"),
            allowed_mime_types=tuple(mimes) if mimes is not None else None,
            created_at=parse_time(get("created_at")),
            updated_at=parse_time(get("updated_at")),
            owner=str(get("owner") or ""),
            type=get("type"),
        )


@dataclass(frozen=True)
class ObjectInfo:
    """An object (or, in a non-recursive listing, a folder).

    Attributes:
        bucket: the bucket id.
        name: the full key.
        size: bytes (0 for folders).
        etag: the server's ETag, quoted as sent (``"<md5>"`` on the file backend).
        content_type: the stored mimetype.
        user_metadata: the caller-supplied metadata, when the server returned it.
        is_folder: True for a folder entry of a delimited listing.
    """

    bucket: str
    name: str
    size: int = 0
    etag: str | None = None
    content_type: str | None = None
    cache_control: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: str | None = None
    user_metadata: Mapping[str, Any] | None = None
    is_folder: bool = False

    @property
    def md5(self) -> str | None:
        """The MD5 hex digest the ETag carries, or ``None`` (multipart or mtime ETags)."""
        return md5_from_etag(self.etag)

    @classmethod
    def from_listing(cls, bucket: str, name: str, row: Mapping[str, Any]) -> ObjectInfo:
        """From a list/list-v2 row, whose system metadata sits under ``metadata``."""
        meta = row.get("metadata") or {}
        return cls(
            bucket=bucket,
            name=name,
            size=int(meta.get("size") or meta.get("contentLength") or 0),
            etag=meta.get("eTag"),
            content_type=meta.get("mimetype"),
            cache_control=meta.get("cacheControl"),
            created_at=parse_time(row.get("created_at")),
            updated_at=parse_time(row.get("updated_at") or meta.get("lastModified")),
            id=row.get("id"),
        )

    @classmethod
    def from_info(cls, bucket: str, name: str, data: Mapping[str, Any]) -> ObjectInfo:
        """From ``GET /object/info`` (flat fields; ``metadata`` is the user's)."""
        return cls(
            bucket=bucket,
            name=name,
            size=int(data.get("size") or 0),
            etag=data.get("etag"),
            content_type=data.get("content_type"),
            cache_control=data.get("cache_control"),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("last_modified") or data.get("updated_at")),
            id=data.get("id"),
            user_metadata=data.get("metadata"),
        )


@dataclass(frozen=True)
class UploadResult:
    """One finished upload.

    Attributes:
        method: ``standard`` (one request) or ``resumable`` (TUS).
        bytes_sent: body bytes sent, re-sends included.
        resumed_from: the server's offset the upload resumed from (0 if fresh).
        reconciled: the object was already stored, byte-identical, by an earlier
            attempt whose answer was lost (or by a killed process); nothing was
            overwritten.
        verified: True when size and checksum were checked against the server.
    """

    bucket: str
    key: str
    size: int
    content_type: str
    method: Literal["standard", "resumable"]
    attempts: int
    retries: int
    bytes_sent: int
    duration: float
    resumed_from: int = 0
    reconciled: bool = False
    verified: bool = False
    md5: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    """One finished download (the file is complete and in place)."""

    bucket: str
    key: str
    path: str
    size: int
    attempts: int
    retries: int
    bytes_received: int
    duration: float
    resumed_from: int = 0
    verified: bool = False
    md5: str | None = None


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of a folder transfer.

    Attributes:
        status: ``uploaded``/``downloaded``, ``skipped`` (unchanged), ``failed``, or
            ``cancelled`` (the caller's cancel stopped it in flight or before it started).
        reason: why it was skipped, failed or cancelled (empty when transferred).
        bytes: bytes moved over the network for this file, re-sends included.
        landed: bytes of the file that are on the server: its size once
            transferred, the server's offset for an unfinished resumable upload.
        error: the failure, for ``failed``.
    """

    source: str
    target: str
    status: Literal["uploaded", "downloaded", "skipped", "failed", "cancelled"]
    size: int = 0
    attempts: int = 0
    retries: int = 0
    bytes: int = 0
    reason: str = ""
    error: HybridError | None = field(default=None, compare=False)
    landed: int = 0

    @property
    def resent(self) -> int:
        """Bytes sent more than once (retries of lost or cut requests)."""
        return max(0, self.bytes - self.landed)


@dataclass(frozen=True)
class TransferReport:
    """The per-file report of a folder upload or a prefix download.

    A report, not an exception: check ``.ok``, or call :meth:`raise_for_problems`.

    Example:
        >>> r = TransferReport(results=(FileResult("a", "b/a", "skipped", reason="unchanged"),))
        >>> r.ok, len(r.skipped)
        (True, 1)
    """

    results: tuple[FileResult, ...]
    duration: float = 0.0

    @property
    def transferred(self) -> tuple[FileResult, ...]:
        """Files uploaded or downloaded."""
        return tuple(r for r in self.results if r.status in ("uploaded", "downloaded"))

    @property
    def skipped(self) -> tuple[FileResult, ...]:
        """Files left alone because they were unchanged."""
        return tuple(r for r in self.results if r.status == "skipped")

    @property
    def failed(self) -> tuple[FileResult, ...]:
        """Files that failed, each with its reason."""
        return tuple(r for r in self.results if r.status == "failed")

    @property
    def cancelled(self) -> tuple[FileResult, ...]:
        """Files a cancel stopped, in flight or before they started."""
        return tuple(r for r in self.results if r.status == "cancelled")

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was cancelled."""
        return not self.failed and not self.cancelled

    @property
    def bytes(self) -> int:
        """Bytes moved over the network (re-sends included)."""
        return sum(r.bytes for r in self.results)

    @property
    def file_bytes(self) -> int:
        """The size of the files transferred (what the folder weighs, not what was sent)."""
        return sum(r.size for r in self.transferred)

    @property
    def bytes_resent(self) -> int:
        """Bytes sent again after a lost or cut request, over all files."""
        return sum(r.resent for r in self.results)

    @property
    def retries(self) -> int:
        """Retries over all files."""
        return sum(r.retries for r in self.results)

    def summary(self) -> str:
        """One line: counts (cancelled ones when there are any), bytes and time."""
        cancelled = f", {len(self.cancelled)} cancelled" if self.cancelled else ""
        return (
            f"{len(self.transferred)} transferred, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed{cancelled}; {self.file_bytes} bytes of files "
            f"({self.bytes_resent} re-sent), {self.retries} retries in {self.duration:.1f}s"
        )

    def raise_for_problems(self) -> None:
        """Raise a ``HybridError`` naming the failed files, if any.

        Raises:
            HybridError: some files failed (cancelled ones are counted in the message).
            CancelledError: none failed, but some were cancelled.
        """
        if self.ok:
            return
        if not self.failed:
            raise CancelledError(
                f"cancelled: {len(self.cancelled)} file(s) not transferred; {self.summary()}"
            )
        lines = [f"{r.source} -> {r.target}: {r.reason}" for r in self.failed[:20]]
        more = len(self.failed) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        cancelled = f" ({len(self.cancelled)} more cancelled)" if self.cancelled else ""
        raise HybridError(f"{len(self.failed)} file(s) failed{cancelled}:\n" + "\n".join(lines))


UploadReport = TransferReport


@dataclass(frozen=True)
class VerifyReport:
    """Whether a stored object matches the local bytes.

    Attributes:
        method: ``etag`` (size + MD5 ETag) or ``download`` (downloaded and hashed).
        problems: human-readable mismatches; empty when ``ok``.
    """

    bucket: str
    key: str
    method: Literal["etag", "download"]
    remote_size: int
    remote_md5: str | None
    local_size: int | None = None
    local_md5: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise a ``HybridError`` listing the mismatches, if any."""
        if self.problems:
            raise HybridError(f"{self.bucket}/{self.key}: " + "; ".join(self.problems))


class OpStats:
    """Attempts, retries and bytes of one operation (thread-safe; rolls up to a parent)."""

    def __init__(self, parent: OpStats | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self.attempts = 0
        self.retries = 0
        self.bytes = 0

    def add(self, *, attempts: int = 0, retries: int = 0, nbytes: int = 0) -> None:
        """Count more (and tell the parent)."""
        with self._lock:
            self.attempts += attempts
            self.retries += retries
            self.bytes += nbytes
        if self._parent is not None:
            self._parent.add(attempts=attempts, retries=retries, nbytes=nbytes)
