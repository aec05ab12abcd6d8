"""The upload panel's state: a plan of files, a background job, live counts, cancel, a summary.

Each file goes through ``HybridSupabaseManager.upload_file`` — the call a headless
runbook makes — with a progress callback that records real bytes. The job runs in
background threads so that the notebook stays responsive (Cancel must be
clickable while bytes flow).

Retries: the manager reports them per file when the file is done; while a file is
in flight, a retry shows as its byte count going back (the library restarts the
body, or resumes from the server's offset), which is counted live.

Like the upload runbook (``manager.upload_folder``): the target is checked once
before the batch — a missing bucket is created (private) when ``create_bucket``
is set, else the job stops with one message and no file is tried — and files
whose stored object has the same size and MD5 are skipped as unchanged (no bytes
sent, none counted as throughput).

Cancel: the job's ``threading.Event`` goes to every upload as ``cancel=``. No new
file starts, and a file in flight stops at its next block (about 1 MiB): the
manager returns a ``CancelledError`` result and the file is marked ``cancelled``.
A cut standard upload stores nothing; a cancelled resumable upload keeps its bytes
on the server and is remembered by the library, so it resumes next time. A file
whose last block had already gone out finishes and counts as uploaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybridkit.errors import ConflictError, NotFoundError
from hybridkit.runbook import LOOKUP, selected, upload_one
from hybridkit_widgets._common import PanelError, describe

__all__ = ["FileTask", "UploadCancelled", "UploadJob", "UploadSummary", "plan_upload"]

_log = logging.getLogger("hybridkit_widgets")

FileStatus = Literal["queued", "uploading", "uploaded", "skipped", "failed", "cancelled"]

_CHUNK = 1024 * 1024


class UploadCancelled(BaseException):
    """Kept for compatibility: the job now cancels through ``cancel=`` and no longer raises it."""


@dataclass
class FileTask:
    """One file of an upload and what happened to it.

    Attributes:
        key: where it goes in the bucket.
        size: bytes to send.
        source: a local path, or ``None`` for bytes picked in the browser (``data``).
        status: queued, uploading, uploaded, skipped (unchanged), failed or cancelled.
        done: bytes sent so far (of this attempt).
        attempts / retries: from the manager's result when done; ``retries`` counts
            live restarts while uploading.
        error: why it failed.
    """

    key: str
    size: int
    source: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    status: FileStatus = "queued"
    done: int = 0
    attempts: int = 0
    retries: int = 0
    bytes_sent: int = 0
    error: str = ""
    started: float | None = None
    finished: float | None = None

    @property
    def label(self) -> str:
        """The local file name, or the key."""
        return str(self.source) if self.source is not None else self.key

    @property
    def fraction(self) -> float:
        """Share of the file sent, 0..1 (1 for an empty file once uploaded)."""
        if self.status in ("uploaded", "skipped"):
            return 1.0
        return min(1.0, self.done / self.size) if self.size else 0.0


@dataclass(frozen=True)
class UploadSummary:
    """What an upload did, for the panel's closing table.

    Example:
        >>> s = UploadSummary("b", "", 3, 2, 1, 0, 200, 230, 1, 2.0)
        >>> s.ok, s.rows()["throughput"]
        (False, '115 B/s')
        >>> UploadSummary("b", "", 2, 0, 0, 0, 0, 0, 0, 1.0, skipped=2).rows()["throughput"]
        '-'
    """

    bucket: str
    prefix: str
    files: int
    uploaded: int
    failed: int
    cancelled: int
    bytes: int
    bytes_sent: int
    retries: int
    duration: float
    skipped: int = 0
    created_bucket: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every file was uploaded or skipped as unchanged."""
        return not self.error and self.uploaded + self.skipped == self.files

    def rows(self) -> dict[str, str]:
        """Label → value, in display order."""
        from hybridkit.runbook import format_bytes, format_duration

        rate = self.bytes_sent / self.duration if self.duration > 0 else 0.0
        return {
            "bucket": self.bucket,
            "prefix": self.prefix or "(none)",
            "files": str(self.files),
            "uploaded": str(self.uploaded),
            "skipped (unchanged)": str(self.skipped),
            "failed": str(self.failed),
            "cancelled": str(self.cancelled),
            "bytes uploaded": format_bytes(self.bytes),
            "sent (with re-sends)": format_bytes(self.bytes_sent),
            "throughput": f"{format_bytes(rate)}/s" if rate else "-",
            "retries": str(self.retries),
            "duration": format_duration(self.duration),
        }


def _join(prefix: str, rel: str) -> str:
    prefix = prefix.strip().strip("/")
    return f"{prefix}/{rel}" if prefix else rel


def plan_upload(
    paths: Sequence[str | os.PathLike[str]] = (),
    picked: Sequence[tuple[str, bytes]] = (),
    *,
    prefix: str = "",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[FileTask]:
    """The files an upload will send, with their keys.

    Args:
        paths: local files or folders (a folder's files keep their relative paths).
        picked: ``(name, bytes)`` of files chosen in the browser's file picker.
        prefix: the key prefix in the bucket (``"reports/2026"``).
        include / exclude: globs over a folder's relative paths, as the upload
            runbook's parameters (``*.csv`` matches in any sub-folder, ``**``
            crosses folders); a file given by itself is always sent.

    Raises:
        PanelError: nothing to upload, a path that does not exist, or two files
            that would land on the same key.

    Example:
        >>> [t.key for t in plan_upload(picked=[("a.csv", b"1")], prefix="in")]
        ['in/a.csv']
    """
    tasks: list[FileTask] = []
    for raw in paths:
        text = str(raw).strip()
        if not text:
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            if not files:
                raise PanelError(f"{path} holds no files")
            chosen = [(f, f.relative_to(path).as_posix()) for f in files]
            chosen = [(f, rel) for f, rel in chosen if selected(rel, include, exclude)]
            if not chosen:
                raise PanelError(
                    f"none of the {len(files)} file(s) in {path} matches "
                    f"include {list(include)} / exclude {list(exclude)}"
                )
            for file, rel in chosen:
                tasks.append(FileTask(_join(prefix, rel), file.stat().st_size, source=file))
        elif path.is_file():
            tasks.append(FileTask(_join(prefix, path.name), path.stat().st_size, source=path))
        else:
            raise PanelError(f"{path}: no such file or folder (on the machine running the kernel)")
    for name, data in picked:
        tasks.append(FileTask(_join(prefix, Path(name).name), len(data), data=bytes(data)))
    if not tasks:
        raise PanelError("nothing to upload: give a file or folder path, or pick files")
    seen: dict[str, str] = {}
    for task in tasks:
        if task.key in seen:
            raise PanelError(f"two files would both be stored as {task.key!r}")
        seen[task.key] = task.label
    return tasks


class UploadJob:
    """Upload planned files through the manager, ``jobs`` at a time, in the background.

    Args:
        manager: the ``HybridSupabaseManager``.
        bucket: the target bucket.
        tasks: from :func:`plan_upload`.
        prefix: only for the summary (keys already carry it).
        upsert: overwrite stored objects that differ.
        jobs: files in flight at once (the upload runbook's ``concurrency``, 4).
        create_bucket: create the bucket (private) when it is missing, as the runbook.
        skip_unchanged: skip files whose stored object has the same size and MD5.
        verify: check each upload's size and checksum against the server (the runbook's
            ``verify``, on by default).
        on_change: called (from worker threads) whenever a count changed.
        clock: a monotonic clock.

    Example:
        >>> job = UploadJob(manager, "reports", plan_upload(["./out"]))  # doctest: +SKIP
        >>> job.start(); job.wait(); job.summary().ok  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        manager: Any,
        bucket: str,
        tasks: Sequence[FileTask],
        *,
        prefix: str = "",
        upsert: bool = False,
        jobs: int = 4,
        create_bucket: bool = True,
        skip_unchanged: bool = True,
        verify: bool = True,
        on_change: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not bucket.strip():
            raise PanelError("choose the bucket to upload to")
        if jobs < 1:
            raise PanelError("at least one file at a time")
        self.manager = manager
        self.bucket = bucket.strip()
        self.prefix = prefix
        self.tasks = list(tasks)
        self.upsert = upsert
        self.jobs = jobs
        self.create_bucket = create_bucket
        self.skip_unchanged = skip_unchanged
        self.verify = verify
        self.created_bucket = False
        self.error = ""
        self._stored: dict[str, Any] = {}
        self._listed = False  # True once _stored holds the bucket's listing (or it is new)
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.started: float | None = None
        self.finished: float | None = None

    # ---------------------------------------------------------------- counts

    @property
    def total(self) -> int:
        """Bytes to send."""
        return sum(t.size for t in self.tasks)

    @property
    def done(self) -> int:
        """Bytes done so far: stored or skipped files whole, files in flight as far as sent.

        A failed or cancelled file counts nothing, so the overall bar never shows
        as complete what is not stored.
        """
        with self._lock:
            return sum(
                t.size
                if t.status in ("uploaded", "skipped")
                else t.done
                if t.status == "uploading"
                else 0
                for t in self.tasks
            )

    @property
    def sent(self) -> int:
        """Bytes actually sent so far (skipped files send none): what throughput counts."""
        with self._lock:
            return sum(
                t.bytes_sent if t.status in ("uploaded", "failed", "cancelled") else t.done
                for t in self.tasks
                if t.status != "skipped"
            )

    @property
    def retries(self) -> int:
        """Retries so far, over all files."""
        with self._lock:
            return sum(t.retries for t in self.tasks)

    def count(self, status: FileStatus) -> int:
        """How many files have ``status``."""
        with self._lock:
            return sum(t.status == status for t in self.tasks)

    @property
    def running(self) -> bool:
        """True while the job's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    # ---------------------------------------------------------------- control

    def start(self) -> None:
        """Start uploading in a background thread."""
        if self._thread is not None:
            raise PanelError("this upload was already started")
        self.started = self._clock()
        self._thread = threading.Thread(target=self._run, name="hybridkit-upload", daemon=True)
        self._thread.start()

    def run(self) -> UploadSummary:
        """Upload in the calling thread and return the summary (scripts, tests)."""
        self.started = self._clock()
        self._run()
        return self.summary()

    def cancel(self) -> None:
        """Stop: files not started are skipped; files in flight stop at their next block."""
        self._cancel.set()
        self._changed()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; False on timeout."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def summary(self) -> UploadSummary:
        """The counts so far (final once the job ended)."""
        end = self.finished if self.finished is not None else self._clock()
        with self._lock:
            tasks = list(self.tasks)
            return UploadSummary(
                bucket=self.bucket,
                prefix=self.prefix,
                files=len(tasks),
                uploaded=sum(t.status == "uploaded" for t in tasks),
                skipped=sum(t.status == "skipped" for t in tasks),
                failed=sum(t.status == "failed" for t in tasks),
                cancelled=sum(t.status == "cancelled" for t in tasks),
                bytes=sum(t.size for t in tasks if t.status == "uploaded"),
                bytes_sent=sum(t.bytes_sent for t in tasks),
                retries=sum(t.retries for t in tasks),
                duration=end - (self.started or end),
                created_bucket=self.created_bucket,
                error=self.error,
            )

    # ---------------------------------------------------------------- work

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception as exc:  # a broken view must not stop the upload
                _log.warning("the upload panel failed to redraw: %s", exc, exc_info=True)

    def _prepare(self) -> bool:
        """Check the target once (as the runbook's bucket cell does); list what is stored.

        False (with :attr:`error` set) when the batch must not start.
        """
        found = self.manager.get_bucket(self.bucket)
        if not found.success:
            if not isinstance(found.error, NotFoundError):
                self.error = f"could not read bucket {self.bucket!r}: {found.error}"
                return False
            if not self.create_bucket:
                self.error = (
                    f"bucket {self.bucket!r} does not exist; no file was tried "
                    "(tick 'create the bucket if missing', or create it in the bucket browser)"
                )
                return False
            made = self.manager.create_bucket(self.bucket)
            if not made.success:
                self.error = f"could not create bucket {self.bucket!r}: {made.error}"
                return False
            self.created_bucket = True
            self._listed = True  # a new bucket holds nothing to compare with
            return True
        if not self.skip_unchanged:
            self._listed = True  # nothing is compared: every file is sent
        else:
            listing_prefix = f"{self.prefix}/" if self.prefix else ""
            listed = self.manager.list_objects(self.bucket, listing_prefix)
            if listed.success:
                self._stored = {o.name: o for o in listed.data or ()}
                self._listed = True
            else:  # without the listing each file's stored object is looked up
                _log.warning(
                    "could not list %s; looking up each file instead: %s",
                    self.bucket,
                    listed.error,
                )
        return True

    def _run(self) -> None:
        try:
            if self._cancel.is_set() or not self._prepare():
                return
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="hybridkit-upload") as pool:
                list(pool.map(self._one, self.tasks))
        finally:
            self.finished = self._clock()
            self._changed()

    def _progress(self, task: FileTask) -> Callable[[Any], None]:
        def on_progress(snapshot: Any) -> None:
            with self._lock:
                if snapshot.done < task.done:
                    task.retries += 1  # the body restarted: a retry
                task.done = snapshot.done
            self._changed()

        return on_progress

    def _one(self, task: FileTask) -> None:
        if self._cancel.is_set():
            with self._lock:
                task.status = "cancelled"
            self._changed()
            return
        with self._lock:
            task.status, task.started = "uploading", self._clock()
        self._changed()
        # The runbook's own decision for one file: unchanged (size and MD5) is skipped,
        # anything else uploaded; a differing object is refused without upsert.
        stored = self._stored.get(task.key) if self._listed else LOOKUP
        source = task.source if task.source is not None else (task.data or b"")
        try:
            result = upload_one(
                self.manager,
                source,
                self.bucket,
                task.key,
                stored=stored,
                upsert=self.upsert,
                verify=self.verify,
                progress=self._progress(task),
                cancel=self._cancel,
            )
        except Exception as exc:  # the manager returns results; anything else is a bug to show
            with self._lock:
                task.status, task.error, task.finished = "failed", describe(exc), self._clock()
            self._changed()
            return
        with self._lock:
            task.finished = self._clock()
            task.attempts = result.attempts
            task.retries = max(task.retries, result.retries)
            task.bytes_sent = result.bytes
            task.status = result.status  # type: ignore[assignment]
            task.error = result.reason if result.status == "failed" else ""
            if result.status in ("uploaded", "skipped"):
                task.done = task.size
            if isinstance(result.error, ConflictError) and not self.upsert:
                task.error += ": tick 'overwrite (upsert)' to replace it"
        self._changed()
