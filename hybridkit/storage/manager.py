"""The retrying, streaming storage manager.

:class:`StorageManager` talks to a Supabase project (or the local stack) through
supabase-py, with **one** pooled ``httpx.Client`` shared by storage3, postgrest
and hybridkit's own streaming requests (TUS uploads, downloads). Every call runs
under the retry policy and the circuit breaker of :mod:`hybridkit.retry`, and
every failure leaves as a :mod:`hybridkit.errors` exception.

Transfers stream: uploads up to ``standard_upload_threshold`` go in one request
read from disk in 64 KiB blocks; larger ones use TUS in ``chunk_size`` pieces and
resume from the server's offset, also after the process was killed. Downloads
are written to a temporary name, verified and renamed; an interrupted download
resumes with ``Range``.

Example:
    >>> from hybridkit import Settings
    >>> with StorageManager(Settings.load()) as storage:  # doctest: +SKIP
    ...     storage.create_bucket("photos")
    ...     result = storage.upload("cat.jpg", "photos", "2026/cat.jpg")
    ...     result.method, result.attempts
    ('standard', 1)
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from os import PathLike
from typing import IO, Any

import httpx

from hybridkit._closing import Closing
from hybridkit.config import Settings
from hybridkit.errors import (
    CancelledError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RetriesExhausted,
)
from hybridkit.progress import ProgressCallback
from hybridkit.retry import Attempt, AttemptLog, CircuitBreaker, RetryPolicy, classify
from hybridkit.storage.download import download_one, verify_object
from hybridkit.storage.folders import download_prefix, upload_folder
from hybridkit.storage.listing import iter_objects, object_info
from hybridkit.storage.pace import Throttle, as_throttle
from hybridkit.storage.session import UNSET, StorageSession
from hybridkit.storage.transfer import Job, Source, check_bucket, check_key, url_path
from hybridkit.storage.upload import upload_one
from hybridkit.storage.values import (
    BucketInfo,
    DownloadResult,
    ObjectInfo,
    OpStats,
    TransferReport,
    UploadResult,
    VerifyReport,
)

__all__ = ["StorageManager"]

REMOVE_BATCH = 1000


class StorageManager(Closing):
    """Buckets and objects of one Supabase project, with retries and streaming.

    Args:
        settings: where to connect (``supabase_url`` and a key) and the retry,
            chunk and progress settings. Default: ``Settings.load()``.
        timeout: httpx timeouts for every request. Default: transfers use
            ``idle_timeout`` (read and write, per socket operation) and
            ``connect_timeout``, so a stalled transfer fails after that many idle
            seconds and is retried; other calls read for up to 60 s.
        max_connections: the size of the shared connection pool.
        retry_policy: default ``RetryPolicy.from_settings(settings)``.
        breaker: default a breaker opening after ``breaker_threshold`` consecutive
            transient failures, for ``breaker_cooldown`` seconds (plus jitter), giving
            up on waiting after ``unreachable_after`` seconds without a success.
        wait_for_breaker: calls behind an open breaker wait for its probe (the
            default); False makes single calls fail fast with ``CircuitOpenError``
            (an interactive caller that would rather be told).
        sleep: how retries wait; inject a fake in tests.
        resume_dir: where TUS upload URLs are remembered; ``None`` disables resume
            across processes. Default ``~/.cache/hybridkit/tus``.
        transport: an httpx transport for the shared client (tests, proxies).

    Raises:
        ConfigError: no URL or no key.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        timeout: httpx.Timeout | float | None = None,
        max_connections: int = 16,
        retry_policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resume_dir: str | PathLike[str] | None = UNSET,
        transport: httpx.BaseTransport | None = None,
        wait_for_breaker: bool = True,
    ) -> None:
        settings = settings if settings is not None else Settings.load()
        self.session = StorageSession(
            settings,
            timeout=timeout,
            max_connections=max_connections,
            retry_policy=retry_policy,
            breaker=breaker,
            sleep=sleep,
            resume_dir=resume_dir,
            transport=transport,
            wait_for_breaker=wait_for_breaker,
        )
        """The seam to the server (see :mod:`hybridkit.storage.session`)."""
        session = self.session
        self.settings = settings
        self.url = session.url
        self.storage_url = session.storage_url
        self.chunk_size = session.chunk_size
        self.threshold = session.threshold
        self.progress_interval = session.progress_interval
        self.breaker = session.breaker
        self.retrier = session.retrier
        self.transfer_timeout = session.transfer_timeout
        self.http = session.http
        self.resume_store = session.resume_store
        self.tus = session.tus

    def __repr__(self) -> str:
        return f"StorageManager(url={self.url!r}, key_role={self.settings.key_role!r})"

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the shared connection pool."""
        self.session.close()

    @property
    def client(self) -> Any:
        """The supabase-py client (sharing this manager's httpx pool)."""
        return self.session.client

    def track(self) -> contextlib.AbstractContextManager[OpStats]:
        """Collect attempts, retries and bytes of the calls made inside the block.

        Example:
            >>> with storage.track() as stats:  # doctest: +SKIP
            ...     storage.list_buckets()
            >>> stats.attempts  # doctest: +SKIP
            1
        """
        return self.session.track()

    # ------------------------------------------------------------------ buckets

    def list_buckets(self) -> list[BucketInfo]:
        """All buckets the key can see."""
        rows = self.session.call(lambda a: self.session.api.list_buckets(), "list buckets")
        return [BucketInfo.from_api(b) for b in rows]

    def get_bucket(self, bucket: str) -> BucketInfo:
        """One bucket. Raises NotFoundError when it does not exist."""
        check_bucket(bucket)
        data = self.session.call(
            lambda a: self.session.api.get_bucket(bucket), f"get bucket {bucket}"
        )
        return BucketInfo.from_api(data)

    def create_bucket(
        self,
        bucket: str,
        *,
        public: bool = False,
        file_size_limit: int | str | None = None,
        allowed_mime_types: Sequence[str] | None = None,
    ) -> BucketInfo:
        """Create a bucket.

        A retry that meets "already exists" after an attempt whose answer was lost
        checks the stored bucket and counts it as created when its settings match.

        Raises:
            ConflictError: the bucket already exists (and is not this call's own).
        """
        check_bucket(bucket)
        options: dict[str, Any] = {"public": public}
        if file_size_limit is not None:
            options["file_size_limit"] = file_size_limit
        if allowed_mime_types is not None:
            options["allowed_mime_types"] = list(allowed_mime_types)
        log = AttemptLog()

        def create(attempt: Attempt) -> BucketInfo:
            try:
                self.session.api.create_bucket(bucket, bucket, options)
            except Exception as exc:
                error = classify(exc, context=f"create bucket {bucket}")
                if isinstance(error, ConflictError) and log.uncertain:
                    existing = BucketInfo.from_api(self.session.api.get_bucket(bucket))
                    if _bucket_matches(existing, public, file_size_limit, allowed_mime_types):
                        return existing
                raise error from exc
            return BucketInfo.from_api(self.session.api.get_bucket(bucket))

        return self.session.call(create, f"create bucket {bucket}", log=log)

    def update_bucket(
        self,
        bucket: str,
        *,
        public: bool | None = None,
        file_size_limit: int | str | None = UNSET,
        allowed_mime_types: Sequence[str] | None = UNSET,
    ) -> BucketInfo:
        """Change a bucket's settings; ``None`` clears a limit or a mime list."""
        check_bucket(bucket)
        options: dict[str, Any] = {}
        if public is not None:
            options["public"] = public
        if file_size_limit is not UNSET:
            options["file_size_limit"] = file_size_limit
        if allowed_mime_types is not UNSET:
            options["allowed_mime_types"] = (
                list(allowed_mime_types) if allowed_mime_types is not None else None
            )
        if not options:
            raise InvalidInputError(
                "update_bucket needs public, file_size_limit or allowed_mime_types"
            )
        if "public" not in options:
            # storage3 always sends id/name; the server needs >= 1 setting, and an
            # absent "public" would read as False on some servers: keep the current.
            options["public"] = self.get_bucket(bucket).public
        self.session.call(
            lambda a: self.session.api.update_bucket(bucket, options), f"update bucket {bucket}"
        )
        return self.get_bucket(bucket)

    def empty_bucket(self, bucket: str) -> None:
        """Delete every object in a bucket (needs the service role key)."""
        check_bucket(bucket)
        self.session.call(lambda a: self.session.api.empty_bucket(bucket), f"empty bucket {bucket}")

    def delete_bucket(self, bucket: str, *, force: bool = False) -> None:
        """Delete a bucket; ``force`` empties it first.

        A retry that meets "not found" after an attempt whose answer was lost
        counts the bucket as deleted.

        Raises:
            ConflictError: the bucket is not empty (and ``force`` is False).
        """
        check_bucket(bucket)
        if force:
            self.empty_bucket(bucket)
        log = AttemptLog()

        def delete(attempt: Attempt) -> None:
            try:
                self.session.api.delete_bucket(bucket)
            except Exception as exc:
                error = classify(exc, context=f"delete bucket {bucket}")
                if isinstance(error, NotFoundError) and log.uncertain:
                    return
                raise error from exc

        try:
            self.session.call(delete, f"delete bucket {bucket}", log=log)
        except ConflictError:
            if not force:
                raise
            # The real server may empty asynchronously ("queued"): remove what is
            # left ourselves, then try once more.
            self.remove(bucket, [o.name for o in self.iter_objects(bucket) if not o.is_folder])
            self.session.call(delete, f"delete bucket {bucket}")

    # ------------------------------------------------------------------ objects

    def info(self, bucket: str, key: str) -> ObjectInfo:
        """An object's size, ETag, content type and times. Raises NotFoundError."""
        return object_info(self.session, bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        """True when the object exists (and the key may see it)."""
        try:
            self.info(bucket, key)
        except NotFoundError:
            return False
        return True

    def iter_objects(
        self,
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
        """Walk a bucket page by page (list v2), filtering as it goes.

        Args:
            prefix: a plain key prefix (``"2026/"`` for a folder).
            recursive: False lists one level, with folders as ``is_folder`` entries.
            glob: pattern(s) the full key must match (``**/*.csv``; ``*`` stays in
                one segment; a pattern without ``/`` may match the last segment).
            exclude: patterns that drop a key.
            older_than / newer_than: by ``updated_at``; a timedelta counts back from now.
            min_size / max_size: bytes, inclusive.
        """
        return iter_objects(
            self.session,
            bucket,
            prefix,
            recursive=recursive,
            glob=glob,
            exclude=exclude,
            older_than=older_than,
            newer_than=newer_than,
            min_size=min_size,
            max_size=max_size,
        )

    def list_objects(self, bucket: str, prefix: str = "", **filters: Any) -> list[ObjectInfo]:
        """:meth:`iter_objects` as a list."""
        return list(self.iter_objects(bucket, prefix, **filters))

    def _remove_batch(self, bucket: str, batch: list[str], attempt: Attempt) -> Any:
        return self.session.api.from_(bucket).remove(batch)

    def remove(self, bucket: str, keys: Sequence[str]) -> list[str]:
        """Delete objects by exact key, in batches; returns the keys actually deleted.

        Keys that do not exist are skipped silently, so a retried batch is safe.
        """
        check_bucket(bucket)
        for key in keys:
            check_key(key)
        removed: list[str] = []
        for start in range(0, len(keys), REMOVE_BATCH):
            batch = list(keys[start : start + REMOVE_BATCH])
            rows = self.session.call(
                functools.partial(self._remove_batch, bucket, batch),
                f"remove {len(batch)} object(s) from {bucket}",
            )
            removed.extend(str(r.get("name")) for r in rows or () if isinstance(r, Mapping))
        return removed

    def remove_prefix(self, bucket: str, prefix: str, **filters: Any) -> list[str]:
        """Delete every object under ``prefix`` that passes the :meth:`iter_objects` filters."""
        keys = [o.name for o in self.iter_objects(bucket, prefix, **filters) if not o.is_folder]
        return self.remove(bucket, keys)

    def move(
        self, bucket: str, source: str, destination: str, *, dest_bucket: str | None = None
    ) -> None:
        """Move (rename) an object, optionally into another bucket.

        A retry after a lost answer that finds the source gone and the
        destination present counts the move as done.
        """
        check_bucket(bucket)
        check_key(source)
        check_key(destination)
        target_bucket = dest_bucket or bucket
        check_bucket(target_bucket)
        body = {"bucketId": bucket, "sourceKey": source, "destinationKey": destination}
        if dest_bucket:
            body["destinationBucket"] = dest_bucket
        context = f"move {bucket}/{source} to {target_bucket}/{destination}"
        log = AttemptLog()

        def move(attempt: Attempt) -> None:
            try:
                self.session.json("POST", "object/move", json=body, context=context)
            except NotFoundError:
                if log.uncertain and self.exists(target_bucket, destination):
                    return
                raise

        self.session.call(move, context, log=log)

    def copy(
        self,
        bucket: str,
        source: str,
        destination: str,
        *,
        dest_bucket: str | None = None,
        upsert: bool = False,
    ) -> None:
        """Copy an object, optionally into another bucket.

        A retry that meets "already exists" after a lost answer compares the
        destination with the source and counts the copy as done when they match.
        """
        check_bucket(bucket)
        check_key(source)
        check_key(destination)
        target_bucket = dest_bucket or bucket
        check_bucket(target_bucket)
        body = {"bucketId": bucket, "sourceKey": source, "destinationKey": destination}
        if dest_bucket:
            body["destinationBucket"] = dest_bucket
        headers = {"x-upsert": "true"} if upsert else None
        context = f"copy {bucket}/{source} to {target_bucket}/{destination}"
        log = AttemptLog()

        def copy(attempt: Attempt) -> None:
            try:
                self.session.json(
                    "POST", "object/copy", json=body, headers=headers, context=context
                )
            except ConflictError:
                if log.uncertain:
                    src, dst = self.info(bucket, source), self.info(target_bucket, destination)
                    if src.size == dst.size and src.md5 is not None and src.md5 == dst.md5:
                        return
                raise

        self.session.call(copy, context, log=log)

    def signed_url(
        self, bucket: str, key: str, expires_in: int = 3600, *, download: str | bool | None = None
    ) -> str:
        """A time-limited URL anyone can GET. ``download`` adds Content-Disposition."""
        check_bucket(bucket)
        check_key(key)
        options: dict[str, Any] = {}
        if download is not None and download is not False:
            options["download"] = download
        data = self.session.call(
            lambda a: self.session.api.from_(bucket).create_signed_url(key, expires_in, options),
            f"sign {bucket}/{key}",
        )
        return str(data["signedURL"])

    def signed_urls(
        self, bucket: str, keys: Sequence[str], expires_in: int = 3600
    ) -> dict[str, str | None]:
        """Signed URLs for many keys at once; ``None`` for keys that do not exist."""
        check_bucket(bucket)
        rows = self.session.call(
            lambda a: self.session.api.from_(bucket).create_signed_urls(list(keys), expires_in),
            f"sign {len(keys)} object(s) in {bucket}",
        )
        out: dict[str, str | None] = {}
        for row in rows:
            url = row.get("signedURL") or row.get("signedUrl")
            out[str(row.get("path"))] = str(url) if url and not row.get("error") else None
        return out

    def public_url(self, bucket: str, key: str) -> str:
        """The public URL of an object in a public bucket (no request is made)."""
        check_bucket(bucket)
        check_key(key)
        return f"{self.storage_url}/object/public/{url_path(bucket, key)}"

    # ------------------------------------------------------------------ transfers

    def upload(
        self,
        source: str | PathLike[str] | IO[bytes],
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        cache_control: str | int | None = None,
        upsert: bool = False,
        metadata: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        resumable: bool | None = None,
        verify: bool = False,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        bwlimit: float | str | Throttle | None = None,
    ) -> UploadResult:
        """Upload a file (a path or a binary file object), streamed.

        Up to ``standard_upload_threshold`` bytes go in one request; above it (or
        with ``resumable=True``) TUS in ``chunk_size`` pieces, resuming a
        remembered upload of the same bytes to the same key — also one a killed
        process left behind.

        Args:
            source: a path, or a binary file object read from its current position.
            content_type: default guessed from the key.
            cache_control: seconds (``3600``) or ``"max-age=3600"``.
            upsert: overwrite an existing object. Without it an existing object is
                an error — unless it is this upload's own, stored by an attempt
                whose answer was lost, which is checked by size and MD5.
            metadata: user metadata stored with the object.
            progress: receives :class:`~hybridkit.progress.Progress` as bytes are read.
            resumable: force TUS (True) or start with a single request (False; a
                file of more than 1 MiB whose single request fails transiently goes
                on as a resumable upload).
            verify: check size and checksum on the server afterwards.
            cancel: set it (from any thread) to stop at the next block: a standard
                upload is abandoned mid-body and stores nothing; a resumable one
                keeps its bytes on the server and its remembered URL, so a later
                call resumes it.
            deadline: seconds the upload may take, waits included (default: the
                ``job_deadline`` setting, else none). Past it no attempt starts and
                the one in flight is stopped as by ``cancel``.
            bwlimit: at most this many bytes/s on average (rclone's syntax:
                ``"10M"``, ``"512k"``; a bare number is KiB/s), or a ``Throttle``
                shared with other transfers.

        Raises:
            CancelledError: ``cancel`` was set before the upload finished.
            RetriesExhausted: the deadline passed first (a resumable upload keeps
                its bytes on the server for the next call).
            ConflictError: the object exists with other content and ``upsert`` is False.
            QuotaError: too large for the bucket, or a mime type it refuses.
        """
        if deadline is None:
            deadline = self.settings.job_deadline
        job = (
            None
            if deadline is None
            else Job(
                cancel, deadline, grace=min(self.transfer_timeout.read or 15.0, deadline * 0.1)
            )
        )
        try:
            return upload_one(
                self.session,
                source,
                bucket,
                key,
                content_type=content_type,
                cache_control=cache_control,
                upsert=upsert,
                metadata=metadata,
                progress=progress,
                resumable=resumable,
                verify=verify,
                cancel=cancel if job is None else job.stop,
                throttle=as_throttle(bwlimit),
            )
        except CancelledError as stopped:
            if job is None or job.why != "deadline":
                raise
            raise RetriesExhausted(
                f"upload {bucket}/{key}: the {deadline:g}s deadline passed before it finished",
                attempts=0,
                last_cause=stopped,
            ) from stopped
        finally:
            if job is not None:
                job.close()

    def download(
        self,
        bucket: str,
        key: str,
        destination: str | PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        verify: bool = True,
        overwrite: bool = True,
        cancel: threading.Event | None = None,
    ) -> DownloadResult:
        """Download to a file: streamed to a temporary name, verified, renamed.

        An interrupted download (a dropped connection, or a killed process that
        left the temporary file) resumes with ``Range`` when the object is unchanged.

        Args:
            destination: a file path, or an existing folder (the key's last
                segment is the file name).
            verify: compare the size and the MD5 ETag before renaming.
            overwrite: False refuses to replace an existing file.
            cancel: set it to stop at the next block (``CancelledError``); the
                destination is untouched and the temporary file stays for a resume.
        """
        return download_one(
            self.session,
            bucket,
            key,
            destination,
            progress=progress,
            verify=verify,
            overwrite=overwrite,
            cancel=cancel,
        )

    def upload_folder(
        self,
        folder: str | PathLike[str],
        bucket: str,
        prefix: str = "",
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        jobs: int = 4,
        skip_unchanged: bool = True,
        upsert: bool = False,
        cache_control: str | int | None = None,
        progress: ProgressCallback | None = None,
        verify: bool = False,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        resumable: bool | None = None,
        bwlimit: float | str | Throttle | None = None,
    ) -> TransferReport:
        """Upload a folder tree under ``prefix``, starting ``jobs`` files at a time.

        Unchanged files (same size and MD5 as the stored object) are skipped;
        content types are guessed from names. Returns a per-file report rather
        than raising: check ``report.ok`` or call ``report.raise_for_problems()``.
        Setting ``cancel`` stops the files in flight (as :meth:`upload` does) and
        reports them, and every file not yet started, as ``cancelled``.

        ``deadline`` (seconds; default the ``job_deadline`` setting) ends the job
        the same way, but reports those files ``failed``, each with its reason and
        the bytes that reached the server; a server unreachable for
        ``unreachable_after`` seconds ends it too. Files that failed transiently
        get one retry pass at the end. ``resumable`` forces the upload kind, as in
        :meth:`upload`; ``bwlimit`` caps the whole job's bytes/s, as in :meth:`upload`.

        Concurrency adapts: from ``jobs`` it grows by one while files/s rises (up
        to twice ``jobs``, within the pool's ``max_connections``), halves when the
        server answers 429 or 503, and no file starts before its ``Retry-After``
        has passed; a file the server keeps pushing back goes back in the queue
        rather than failing.
        """
        return upload_folder(
            self.session,
            folder,
            bucket,
            prefix,
            include=include,
            exclude=exclude,
            jobs=jobs,
            skip_unchanged=skip_unchanged,
            upsert=upsert,
            cache_control=cache_control,
            progress=progress,
            verify=verify,
            cancel=cancel,
            deadline=deadline,
            resumable=resumable,
            bwlimit=bwlimit,
        )

    def download_prefix(
        self,
        bucket: str,
        prefix: str,
        folder: str | PathLike[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        jobs: int = 4,
        skip_unchanged: bool = True,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> TransferReport:
        """Download every object under ``prefix`` into ``folder`` (keys become paths).

        Setting ``cancel`` reports the files in flight and those not yet started as
        ``cancelled``; set before the listing finished, it raises ``CancelledError``.
        Past ``deadline`` seconds (default the ``job_deadline`` setting) they are
        reported ``failed``, each with its reason.
        """
        return download_prefix(
            self.session,
            bucket,
            prefix,
            folder,
            include=include,
            exclude=exclude,
            jobs=jobs,
            skip_unchanged=skip_unchanged,
            progress=progress,
            cancel=cancel,
            deadline=deadline,
        )

    def verify(
        self,
        bucket: str,
        key: str,
        source: str | PathLike[str] | IO[bytes] | Source | None = None,
        *,
        deep: bool = False,
    ) -> VerifyReport:
        """Compare a stored object with local bytes (size and MD5 ETag, or download-and-hash).

        Without ``source`` the object is downloaded and hashed against its own
        ETag (is what is stored intact?). With ``deep`` (or an ETag that is not
        an MD5, as for S3 multipart uploads) the object is downloaded and hashed.
        """
        return verify_object(self.session, bucket, key, source, deep=deep)


def _bucket_matches(
    existing: BucketInfo,
    public: bool,
    file_size_limit: int | str | None,
    allowed_mime_types: Sequence[str] | None,
) -> bool:
    if existing.public != public:
        return False
    if isinstance(file_size_limit, int) and existing.file_size_limit != file_size_limit:
        return False
    return allowed_mime_types is None or set(existing.allowed_mime_types or ()) == set(
        allowed_mime_types
    )
