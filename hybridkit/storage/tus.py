"""A small TUS 1.0.0 client on the shared httpx client, and the on-disk resume store.

Why not tuspy: it sends through ``requests`` (no shared pool, no httpx transport,
so no fault injection, timeouts or limits from the one client everything else
uses), has no progress hooks (chunks are opaque ``read(chunk_size)`` calls), no
retry on creation, closes the caller's stream when it stores URLs, and leaves
stale or finished URLs in its store. Supabase needs only creation, ``HEAD`` and
``PATCH`` (storage-api.md §7), which fit in one screen here.

Private to hybridkit; :meth:`hybridkit.storage.StorageManager.upload` uses it
for files above the standard-upload threshold.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from hybridkit.config import kit_env
from hybridkit.errors import ConflictError, InvalidInputError, NotFoundError, RetryableError
from hybridkit.retry import UPLOAD_LOCKED, Attempt, AttemptLog, Retrier, classify_response
from hybridkit.storage.transfer import READ_BLOCK, Source, raise_if_cancelled

TUS_VERSION = "1.0.0"
_STALE_STATUSES = frozenset({403, 404, 410})
# A remembered URL is a file on disk from an earlier run, perhaps of another server
# or version: the real server answers 400 "Invalid upload id" to an id it cannot
# parse, so on the first HEAD of a remembered URL a 400 also means "start again".
_STALE_REMEMBERED = _STALE_STATUSES | {400}


def default_resume_dir() -> Path:
    """``$XDG_CACHE_HOME/hybridkit/tus`` (``~/.cache/hybridkit/tus`` by default)."""
    cache = kit_env("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hybridkit" / "tus"


class ResumeStore:
    """Upload URLs on disk, one small JSON file per upload, written atomically.

    The key covers where the bytes go (the storage URL, bucket, key) and what they
    are (size, mtime, a content fingerprint), so a changed file never resumes an
    upload of its older self. Entries are removed when an upload finishes or its
    URL turns out stale; entries older than ``max_age`` are ignored and pruned.
    """

    def __init__(self, directory: Path, *, max_age: float = 7 * 24 * 3600) -> None:
        self.directory = directory
        self.max_age = max_age

    @staticmethod
    def make_key(storage_url: str, bucket: str, key: str, source: Source) -> str:
        """The resume key for ``source`` uploaded to ``bucket/key``."""
        parts = [
            "v1",
            storage_url,
            bucket,
            key,
            str(source.size),
            str(source.mtime_ns),
            source.fingerprint(),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _path(self, resume_key: str) -> Path:
        return self.directory / f"{resume_key}.json"

    def get(self, resume_key: str) -> str | None:
        """The remembered upload URL, or ``None``."""
        path = self._path(resume_key)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            self.forget(resume_key)
            return None
        if time.time() - float(data.get("created", 0)) > self.max_age:
            self.forget(resume_key)
            return None
        return str(data["url"])

    def put(self, resume_key: str, url: str, **info: Any) -> None:
        """Remember ``url`` (atomically: a reader never sees half a file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"url": url, "created": time.time(), **info}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh)
            os.replace(tmp, self._path(resume_key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def forget(self, resume_key: str) -> None:
        """Drop an entry (missing is fine)."""
        with contextlib.suppress(OSError):
            self._path(resume_key).unlink()

    def prune(self) -> int:
        """Remove entries older than ``max_age``; returns how many went."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        now = time.time()
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > self.max_age:
                    path.unlink()
                    removed += 1
        return removed


@dataclass(frozen=True)
class TusOutcome:
    """How a resumable upload went."""

    bytes_sent: int
    resumed_from: int
    restarts: int


class _UploadGone(NotFoundError):
    """The server no longer knows the upload URL (expired, finished, or never ours).

    A NotFoundError, so the retrier passes it through unretried; the upload loop
    catches it and starts a fresh upload.
    """


def _encode_metadata(values: Mapping[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items() if v)


class _ReadAhead:
    """The first block of an upload's next chunk, read before the chunk is sent."""

    def __init__(self) -> None:
        self._offset = -1
        self._block = b""

    def read(self, source: Source, offset: int, limit: int) -> None:
        """Read up to ``limit`` bytes (one block at most) at ``offset``; a failure reads nothing."""
        self._offset, self._block = -1, b""
        length = min(READ_BLOCK, limit, source.size - offset)
        if length <= 0:
            return
        try:
            block = next(iter(source.read_range(offset, length)))
        except (OSError, InvalidInputError, StopIteration):
            return  # read again when the chunk is sent, and fail there if it must
        self._offset, self._block = offset, block

    def take(self, offset: int) -> bytes:
        """The block read for ``offset``, once; empty when it was read for another one."""
        block = self._block if offset == self._offset else b""
        self._offset, self._block = -1, b""
        return block


class TusClient:
    """Create, resume and finish TUS uploads against ``{storage}/upload/resumable``.

    Args:
        http: the shared, pooled httpx client.
        storage_url: ``{SUPABASE_URL}/storage/v1``.
        headers: auth headers (``apikey``, ``Authorization``); never logged.
        retrier: the retry policy; each request (``POST``, ``HEAD``, one chunk's
            ``PATCH``) gets the full retry budget and deadline, and a chunk that
            moves the upload forward resets it, so a long upload on a slow link is
            not cut off by a per-operation deadline meant for single requests.
        store: where upload URLs are remembered for a resume after a crash.
        chunk_size: bytes per ``PATCH`` (Supabase requires 6 MiB).
    """

    def __init__(
        self,
        http: httpx.Client,
        storage_url: str,
        headers: Mapping[str, str],
        retrier: Retrier,
        store: ResumeStore | None,
        chunk_size: int,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._http = http
        self._timeout: Any = timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        self._endpoint = f"{storage_url}/upload/resumable"
        self._storage_url = storage_url
        self._headers = {**headers, "Tus-Resumable": TUS_VERSION}
        self._retrier = retrier
        self._store = store
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ requests

    def _absolute(self, location: str) -> str:
        """Resolve a ``Location`` and keep it on our configured origin.

        The server builds ``Location`` from what it believes its public host is;
        behind a gateway, a port-forward or a proxy that host may be one this
        client cannot (or should not) reach directly. The upload is identified by
        its path, so the path is re-rooted on the URL this client was given.
        """
        url = urljoin(self._endpoint + "/", location)
        ours, theirs = urlsplit(self._endpoint), urlsplit(url)
        marker = "/upload/resumable/"
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc) and marker in theirs.path:
            tail = theirs.path.split(marker, 1)[1]
            return urlunsplit((ours.scheme, ours.netloc, ours.path + "/" + tail, theirs.query, ""))
        return url

    def _create(
        self,
        source: Source,
        bucket: str,
        key: str,
        metadata: Mapping[str, str],
        upsert: bool,
        log: AttemptLog,
        cancel: threading.Event | None = None,
    ) -> str:
        headers = {
            **self._headers_for(upsert),
            "Upload-Length": str(source.size),
            "Upload-Metadata": _encode_metadata(metadata),
        }

        def post(attempt: Attempt) -> str:
            response = self._http.post(self._endpoint, headers=headers, timeout=self._timeout)
            if response.status_code not in (200, 201):
                raise classify_response(response, context=f"create resumable upload {bucket}/{key}")
            location = response.headers.get("Location")
            if not location:
                raise RetryableError(
                    f"create resumable upload {bucket}/{key}: the server sent no Location header",
                    status=response.status_code,
                )
            return self._absolute(location)

        # A lost answer to POST leaves an orphan upload on the server, never a
        # duplicate object, so creation is safe to resend.
        return self._retrier.call(
            post, operation=f"create resumable upload {bucket}/{key}", log=log, cancel=cancel
        )

    def _headers_for(self, upsert: bool) -> dict[str, str]:
        """Every request of an upsert upload says so: the real server checks ``x-upsert``
        on each PATCH too, and answers 409 "already exists" to one without it."""
        return {**self._headers, "x-upsert": "true" if upsert else "false"}

    def _head(
        self, url: str, context: str, upsert: bool = False, *, remembered: bool = False
    ) -> tuple[int, int | None]:
        response = self._http.head(url, headers=self._headers_for(upsert), timeout=self._timeout)
        if response.status_code in (_STALE_REMEMBERED if remembered else _STALE_STATUSES):
            raise _UploadGone(
                f"{context}: HEAD answered {response.status_code}", status=response.status_code
            )
        if response.status_code >= 300:
            raise classify_response(response, context=context)
        try:
            offset = int(response.headers["Upload-Offset"])
        except (KeyError, ValueError):
            raise RetryableError(f"{context}: HEAD without a valid Upload-Offset") from None
        length = response.headers.get("Upload-Length")
        return offset, int(length) if length and length.isdigit() else None

    def _patch(
        self,
        url: str,
        source: Source,
        offset: int,
        on_read: Callable[[int], None],
        context: str,
        cancel: threading.Event | None = None,
        ahead: _ReadAhead | None = None,
        upsert: bool = False,
    ) -> int:
        """Send one chunk from ``offset``; return the server's new offset.

        With ``ahead``, the chunk's first block may come from the previous call,
        and the next chunk's first block is read once this chunk's last block is
        sent: while the server finishes this chunk rather than after it answers.
        """
        length = min(self.chunk_size, source.size - offset)

        def body() -> Any:
            # Read block by block as httpx sends: memory stays at one block (two
            # with the read-ahead), and progress counts bytes as they actually
            # leave the file. A cancel cuts the chunk; the server keeps what
            # arrived and HEAD reports it.
            start = offset
            first = ahead.take(offset) if ahead is not None else None
            if first:
                raise_if_cancelled(cancel, source.name)
                first = first[:length]
                on_read(len(first))
                yield first
                start += len(first)
            for block in source.read_range(start, offset + length - start, cancel):
                on_read(len(block))
                yield block
            if ahead is not None:
                ahead.read(source, offset + length, self.chunk_size)

        headers = {
            **self._headers_for(upsert),
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(length),
        }
        response = self._http.patch(url, headers=headers, content=body(), timeout=self._timeout)
        if response.status_code in _STALE_STATUSES:
            raise _UploadGone(
                f"{context}: PATCH answered {response.status_code}", status=response.status_code
            )
        if (response.status_code == 423 or response.status_code >= 500) and "lock" in (
            response.text.lower()
        ):
            # The server is still busy with our own earlier PATCH (a stalled one
            # holds the upload's lock until the server notices the dead connection):
            # wait for it; that is not a failed attempt (see retry.UPLOAD_LOCKED).
            raise RetryableError(
                f"{context}: the upload is still locked by an earlier request; waiting",
                status=response.status_code,
                code=UPLOAD_LOCKED,
                retry_after=2.0,
            )
        if response.status_code >= 300:
            # A 409 is told apart by its body: "Upload-Offset conflict" is retried
            # after asking the server where it is; "already exists" is a conflict.
            raise classify_response(response, context=context)
        try:
            return int(response.headers["Upload-Offset"])
        except (KeyError, ValueError):
            raise RetryableError(f"{context}: PATCH answer without Upload-Offset") from None

    # ------------------------------------------------------------------ upload

    def upload(
        self,
        source: Source,
        bucket: str,
        key: str,
        *,
        metadata: Mapping[str, str],
        upsert: bool,
        resume_key: str | None,
        on_bytes: Callable[[int], None],
        set_done: Callable[[int], None],
        log: AttemptLog,
        cancel: threading.Event | None = None,
    ) -> TusOutcome:
        """Upload ``source``, resuming a remembered upload when there is one.

        A cancel stops between requests or within a chunk. The bytes already on
        the server stay there and the upload URL stays remembered, so a later call
        resumes where this one stopped.

        Raises:
            CancelledError: ``cancel`` was set.
            ConflictError: the object exists (and ``upsert`` is False). The caller
                decides whether the existing object is this very upload.
            HybridError: as classified; ``RetriesExhausted`` when the budget is spent.
        """
        context = f"upload {bucket}/{key} (resumable)"
        store = self._store if resume_key else None
        url = store.get(resume_key) if store and resume_key else None
        resumed_from = 0
        restarts = 0
        wire = [0]  # bytes read into PATCH bodies, re-sends included

        def on_read(n: int) -> None:
            wire[0] += n
            on_bytes(n)

        while True:
            try:
                if url is not None:

                    def head(attempt: Attempt, u: str = url) -> tuple[int, int | None]:
                        return self._head(u, context, upsert, remembered=True)

                    offset, length = self._retrier.call(
                        head, operation=context, log=log, cancel=cancel
                    )
                    if length is not None and length != source.size:
                        raise _UploadGone(f"{context}: remembered upload has another length")
                    resumed_from = offset
                else:
                    url = self._create(source, bucket, key, metadata, upsert, log, cancel)
                    if store and resume_key:
                        store.put(resume_key, url, bucket=bucket, key=key, size=source.size)
                    offset = 0
                set_done(offset)
                position = [offset]
                ahead = _ReadAhead()

                def step(
                    attempt: Attempt,
                    u: str = url,
                    position: list[int] = position,
                    ahead: _ReadAhead = ahead,
                ) -> int:
                    if attempt.is_retry:
                        # After a failure the server's offset is the truth: part
                        # of the lost chunk may have been stored, or none of it.
                        position[0], _ = self._head(u, context, upsert)
                        set_done(position[0])
                    if position[0] < source.size:
                        position[0] = self._patch(
                            u, source, position[0], on_read, context, cancel, ahead, upsert
                        )
                        set_done(position[0])
                    return position[0]

                while position[0] < source.size:
                    # The budget counts attempts that did not move the server's
                    # offset: a chunk cut mid-body keeps what arrived, and the
                    # next attempt's HEAD shows it.
                    self._retrier.call(
                        step,
                        operation=f"{context} at offset {position[0]}",
                        log=log,
                        cancel=cancel,
                        progress=lambda p=position: p[0],  # type: ignore[misc]
                    )
                if store and resume_key:
                    store.forget(resume_key)
                return TusOutcome(wire[0], resumed_from, restarts)
            except _UploadGone:
                # Expired, finished elsewhere, or not ours any more: start again.
                if store and resume_key:
                    store.forget(resume_key)
                url = None
                restarts += 1
                if restarts > 2:
                    raise NotFoundError(
                        f"{context}: the server lost the upload {restarts} times; giving up",
                        status=404,
                    ) from None
            except ConflictError:
                if store and resume_key:
                    store.forget(resume_key)
                raise
