"""Folder upload and prefix download: bounded concurrency and a per-file report.

Private; :meth:`hybridkit.storage.StorageManager.upload_folder` and
``download_prefix`` are the public faces.
"""

from __future__ import annotations

import contextvars
import hashlib
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from hybridkit.errors import (
    CancelledError,
    ConflictError,
    HybridError,
    InvalidInputError,
    RetriesExhausted,
    RetryableError,
)
from hybridkit.progress import ProgressCallback, ProgressTracker
from hybridkit.retry import ServerUnreachable, classify
from hybridkit.storage.download import download_one
from hybridkit.storage.listing import iter_objects, object_info
from hybridkit.storage.pace import Concurrency, Throttle, ThrottledCounter, as_throttle
from hybridkit.storage.transfer import (
    ChildCounter,
    Job,
    check_bucket,
    hash_file,
    raise_if_cancelled,
    selected,
    url_path,
)
from hybridkit.storage.upload import upload_one
from hybridkit.storage.values import FileResult, ObjectInfo, OpStats, TransferReport

if TYPE_CHECKING:
    from hybridkit.storage.session import StorageSession

_log = logging.getLogger("hybridkit.storage")
THROTTLED_REQUEUES = 20
"""How often a file the server keeps pushing back (429/503) goes back in the queue."""


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    hash_file(path, digest)
    return digest.hexdigest()


def _walk(folder: Path) -> list[tuple[Path, str]]:
    """Regular files under ``folder`` as (path, relative posix path), sorted."""
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file():
                found.append((path, path.relative_to(folder).as_posix()))
    return found


def _run(jobs: int, tasks: Sequence[Callable[[], FileResult]]) -> list[FileResult]:
    """Run tasks ``jobs`` at a time; each in its own copy of the caller's context
    (so per-operation statistics roll up to the caller)."""
    if jobs < 1:
        raise InvalidInputError(f"jobs must be at least 1, got {jobs}")
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hybridkit") as pool:
        futures: list[Future[FileResult]] = [
            pool.submit(contextvars.copy_context().run, task) for task in tasks
        ]
        return [f.result() for f in futures]


def _run_queue(
    jobs: int,
    order: Sequence[int],
    run: Callable[[int], FileResult],
    again: Callable[[int, FileResult], bool],
    pace: Concurrency | None = None,
) -> dict[int, list[FileResult]]:
    """Run ``run(i)`` for each index in ``order``, ``jobs`` at a time.

    A result for which ``again(i, result)`` is true puts the file back in the
    queue, ahead of the files not yet started (it goes on from where it got to,
    and the breaker makes it wait while the server is away). With ``pace`` there
    are ``pace.most`` workers, of which ``pace.limit`` run at a time. Returns
    every result of each index, in the order they came.
    """
    if jobs < 1:
        raise InvalidInputError(f"jobs must be at least 1, got {jobs}")
    heap: list[tuple[int, int, int]] = [(1, rank, i) for rank, i in enumerate(order)]
    heapq.heapify(heap)
    results: dict[int, list[FileResult]] = {i: [] for i in order}
    cond = threading.Condition()
    active = [0]
    seq = [0]
    errors: list[BaseException] = []
    base = contextvars.copy_context()

    def worker() -> None:
        while True:
            # The slot first, then the file: the files start in the queue's order
            # whichever worker wins the slot (a file taken before its slot could
            # be overtaken by the next one).
            if pace is not None:
                pace.acquire()
            with cond:
                while not heap and active[0] > 0:
                    cond.wait()
                if not heap:
                    cond.notify_all()
                    if pace is not None:
                        pace.release(counted=False)
                    return
                _, _, i = heapq.heappop(heap)
                active[0] += 1
            try:
                result = base.copy().run(run, i)
            except BaseException as exc:  # handed to the caller below
                with cond:
                    errors.append(exc)
                    heap.clear()
                    active[0] -= 1
                    cond.notify_all()
                return
            finally:
                if pace is not None:
                    pace.release()
            try:
                retry = again(i, result)  # may ask the server: outside the lock
            except Exception:  # a failed look-up only means no second go
                retry = False
            with cond:
                results[i].append(result)
                if retry:
                    seq[0] += 1
                    heapq.heappush(heap, (0, seq[0], i))
                active[0] -= 1
                cond.notify_all()

    threads = [
        threading.Thread(target=worker, name=f"hybridkit-{n}", daemon=True)
        for n in range(min(pace.most if pace is not None else jobs, max(1, len(order))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _failure(
    source: str,
    target: str,
    size: int,
    error: BaseException,
    stats: OpStats,
    *,
    upsert: bool | None = None,
) -> FileResult:
    err = classify(error)
    attempts, retries = stats.attempts, stats.retries
    if isinstance(err, RetriesExhausted):
        attempts = max(attempts, err.attempts)
    reason = err.message
    if isinstance(err, ConflictError) and upsert is False:
        # The stored object differs from the file (an unchanged one is skipped):
        # replacing it is the caller's decision, so say how.
        reason += (
            "; the stored object differs from this file: pass upsert=True "
            "(hybridkit storage cp --upsert) to replace it"
        )
    return FileResult(
        source=source,
        target=target,
        status="failed",
        size=size,
        attempts=attempts,
        retries=retries,
        reason=reason,
        error=err,
    )


def _cancelled(source: str, target: str, size: int, stats: OpStats | None = None) -> FileResult:
    """The entry of a file the caller's cancel stopped, before it started or in flight."""
    if stats is None or stats.attempts == 0:
        return FileResult(source, target, "cancelled", size, reason="cancelled before it started")
    return FileResult(
        source,
        target,
        "cancelled",
        size,
        attempts=stats.attempts,
        retries=stats.retries,
        reason="cancelled in flight",
    )


def _is_set(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _transient(result: FileResult) -> bool:
    return result.status == "failed" and isinstance(result.error, RetryableError)


def _pushed_back(result: FileResult) -> bool:
    """The file failed because the server kept answering 429 or 503 (slow down)."""
    return getattr(result.error, "status", None) in (429, 503)


def upload_folder(
    session: StorageSession,
    folder: str | PathLike[str],
    bucket: str,
    prefix: str,
    *,
    include: Sequence[str],
    exclude: Sequence[str],
    jobs: int,
    skip_unchanged: bool,
    upsert: bool,
    cache_control: str | int | None,
    progress: ProgressCallback | None,
    verify: bool,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
    resumable: bool | None = None,
    bwlimit: float | str | Throttle | None = None,
) -> TransferReport:
    """See ``StorageManager.upload_folder``.

    Every selected file gets exactly one entry. A cancel marks the files in flight
    and those not yet started ``cancelled`` (the walk is local, so even an event
    set before the call lists every file, and no request is made). The deadline
    (``deadline`` seconds, default the ``job_deadline`` setting) and a server that
    stays unreachable end the job the same way, but their files are ``failed``,
    each with its reason, so the job ends with exit 1 naming them. Files that
    failed transiently get one more pass at the end, while there is time.
    """
    check_bucket(bucket)
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{root}: not a folder")
    if deadline is None:
        deadline = session.settings.job_deadline
    if deadline is not None and deadline <= 0:
        raise InvalidInputError(f"deadline must be a positive number of seconds, got {deadline}")
    started = time.monotonic()
    idle = session.transfer_timeout.read or 15.0
    job = Job(cancel, deadline, grace=min(idle, (deadline or 0) * 0.1))
    try:
        return _upload_folder(
            session,
            root,
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
            job=job,
            started=started,
            resumable=resumable,
            throttle=as_throttle(bwlimit),
        )
    finally:
        job.close()


def _upload_folder(
    session: StorageSession,
    root: Path,
    bucket: str,
    prefix: str,
    *,
    include: Sequence[str],
    exclude: Sequence[str],
    jobs: int,
    skip_unchanged: bool,
    upsert: bool,
    cache_control: str | int | None,
    progress: ProgressCallback | None,
    verify: bool,
    job: Job,
    started: float,
    resumable: bool | None,
    throttle: Throttle | None,
) -> TransferReport:
    stop = job.stop
    files = [(p, rel) for p, rel in _walk(root) if selected(rel, include, exclude)]
    prefix = prefix.strip("/")
    remote: dict[str, ObjectInfo] = {}
    if skip_unchanged and files and not stop.is_set():
        listing_prefix = f"{prefix}/" if prefix else ""
        try:
            for obj in iter_objects(session, bucket, listing_prefix):
                if stop.is_set():
                    break  # every file is then reported cancelled
                remote[obj.name] = obj
        except CancelledError:
            pass  # the job ended while listing: every file is reported below
    sizes = {p: p.stat().st_size for p, _ in files}
    tracker = ProgressTracker(
        sum(sizes.values()),
        progress,
        interval=session.progress_interval,
        label=str(root),
        files=len(files),
    )

    def stopped(path: Path, key: str, size: int, stats: OpStats | None, landed: int) -> FileResult:
        if job.cancelled_by_caller or not job.why:
            return _cancelled(str(path), key, size, stats)
        attempts = stats.attempts if stats is not None else 0
        return FileResult(
            str(path),
            key,
            "failed",
            size,
            attempts=attempts,
            retries=stats.retries if stats is not None else 0,
            bytes=stats.bytes if stats is not None else 0,
            reason=job.reason(attempts > 0, landed, size),
            error=CancelledError(job.reason(attempts > 0, landed, size)),
            landed=landed,
        )

    rechecked: set[str] = set()  # keys looked up again before the retry pass

    def task(path: Path, rel: str) -> Callable[[], FileResult]:
        key = f"{prefix}/{rel}" if prefix else rel

        def run() -> FileResult:
            size = sizes[path]
            if stop.is_set():
                return stopped(path, key, size, None, 0)
            share = ChildCounter(tracker)
            share.set_done(0)
            with session.track() as stats:
                try:
                    stored = remote.get(key)
                    if (
                        stored is not None
                        and stored.size == size
                        and stored.md5 is not None
                        and stored.md5 == _file_md5(path)
                    ):
                        if key in rechecked:
                            share.set_done(size)
                            # Its first run's answer was lost; the bytes had landed.
                            return FileResult(
                                str(path),
                                key,
                                "uploaded",
                                size,
                                reason="already stored (an earlier attempt landed)",
                                landed=size,
                            )
                        tracker.skip(size)
                        return FileResult(
                            str(path), key, "skipped", size, reason="unchanged", landed=size
                        )
                    result = upload_one(
                        session,
                        path,
                        bucket,
                        key,
                        content_type=None,
                        cache_control=cache_control,
                        upsert=upsert,
                        metadata=None,
                        progress=None,
                        resumable=resumable,
                        verify=verify,
                        cancel=stop,
                        counter=share if throttle is None else ThrottledCounter(share, throttle),
                    )
                except CancelledError:
                    landed = share.confirmed
                    share.set_done(size)
                    return stopped(path, key, size, stats, landed)
                except ServerUnreachable as error:
                    job.end("server unreachable")
                    landed = share.confirmed
                    share.set_done(size)
                    return replace(_failure(str(path), key, size, error, stats), landed=landed)
                except HybridError as error:
                    landed = share.confirmed
                    share.set_done(size)
                    failed = _failure(str(path), key, size, error, stats, upsert=upsert)
                    return replace(failed, bytes=stats.bytes, landed=landed)
                except OSError as error:  # the file vanished or cannot be read
                    share.set_done(size)
                    return _failure(str(path), key, size, error, stats)
            share.set_done(size)
            return FileResult(
                source=str(path),
                target=key,
                status="uploaded",
                size=size,
                attempts=result.attempts,
                retries=result.retries,
                bytes=result.bytes_sent,
                reason="already stored (an earlier attempt landed)" if result.reconciled else "",
                landed=size,
            )

        return run

    # Small files first (as rclone's --order-by size): on a bad network they are
    # the ones that can land, and the big ones go on from their offsets until the
    # deadline. A file that fails transiently goes back in the queue once, ahead of
    # the files not yet started: the retry pass.
    tasks = [task(p, rel) for p, rel in files]
    order = sorted(range(len(files)), key=lambda i: (sizes[files[i][0]], i))

    requeued: set[int] = set()

    throttled: dict[int, int] = {}

    def again(i: int, result: FileResult) -> bool:
        if not _transient(result) or stop.is_set():
            return False
        if _pushed_back(result) and throttled.get(i, 0) < THROTTLED_REQUEUES:
            # The server asked us to slow down (429/503): the pace has halved and
            # waits out Retry-After; the file goes back in the queue, not in the
            # report's failures.
            throttled[i] = throttled.get(i, 0) + 1
        elif i in requeued:
            return False
        else:
            requeued.add(i)
        tracker.advance(-result.size)  # its bytes count again as they go
        key = result.target
        rechecked.add(key)
        try:
            # A lost answer may have stored the file after all: look before sending.
            remote[key] = object_info(session, bucket, key)
        except HybridError:
            remote.pop(key, None)
        _log.info("%s: failed transiently; queued for the retry pass", key)
        return True

    def settle(i: int, result: FileResult) -> bool:
        if again(i, result):
            return True
        tracker.file_finished()
        return False

    sleep = session.retrier.sleep
    pace = Concurrency(jobs, max(jobs, min(2 * jobs, session.max_connections)), sleep=sleep)

    def pushed(retry_after: float | None) -> None:
        before = pace.limit
        pace.pushback(retry_after)
        _log.info(
            "%s: the server pushed back (429/503, Retry-After %s): %d -> %d files at once",
            root,
            retry_after,
            before,
            pace.limit,
        )

    with session.on_pushback(pushed):
        runs = _run_queue(jobs, order, lambda i: tasks[i](), settle, pace)
    results: list[FileResult] = []
    for i in range(len(files)):
        first, *rest = runs[i]
        if not rest:
            results.append(first)
            continue
        last = rest[-1]
        results.append(
            replace(
                last,
                attempts=first.attempts + last.attempts,
                retries=first.retries + last.retries + 1,
                bytes=first.bytes + last.bytes,
                reason=last.reason
                if last.status == "failed"
                else "; ".join(filter(None, [last.reason, "landed in the retry pass"])),
            )
        )
    _settle_unknowns(session, bucket, files, results)
    tracker.close()
    return TransferReport(tuple(results), duration=time.monotonic() - started)


def _settle_unknowns(
    session: StorageSession,
    bucket: str,
    files: Sequence[tuple[Path, str]],
    results: list[FileResult],
) -> None:
    """Look once more at files that failed in flight: a lost answer may have landed them.

    One quick request each (no retry, no breaker, a 2 s timeout, all at once), so
    the report never names as missing a file that is in fact stored; a file that
    cannot be checked stays failed (a re-run skips it if it is there).
    """
    unsure = [
        i
        for i, r in enumerate(results)
        if r.status == "failed"
        and r.attempts > 0
        and isinstance(r.error, RetryableError | CancelledError)
    ][:32]
    if not unsure:
        return

    def check(i: int) -> FileResult | None:
        path, result = files[i][0], results[i]
        url = f"{session.storage_url}/object/info/{url_path(bucket, result.target)}"
        try:
            response = session.http.get(url, headers=session.auth_headers, timeout=2.0)
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        stored = ObjectInfo.from_info(bucket, result.target, data)
        if stored.size != result.size or stored.md5 is None or stored.md5 != _file_md5(path):
            return None
        return replace(
            result,
            status="uploaded",
            reason="stored: the answer to its last attempt was lost",
            error=None,
            landed=result.size,
        )

    # Few threads: each hashes a local file, and every thread costs a malloc arena.
    with ThreadPoolExecutor(max_workers=min(4, len(unsure))) as pool:
        for i, settled in zip(unsure, pool.map(check, unsure), strict=True):
            if settled is not None:
                results[i] = settled


def download_prefix(
    session: StorageSession,
    bucket: str,
    prefix: str,
    folder: str | PathLike[str],
    *,
    include: Sequence[str],
    exclude: Sequence[str],
    jobs: int,
    skip_unchanged: bool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> TransferReport:
    """See ``StorageManager.download_prefix``.

    The files are known only once listed: a cancel before the listing finished
    raises CancelledError (no file was started); after it, files in flight and
    those not yet started are reported ``cancelled``. Past the ``deadline`` they
    are reported ``failed`` instead, each with its reason (an interrupted download
    keeps its temporary file and resumes next time).
    """
    if deadline is None:
        deadline = session.settings.job_deadline
    if deadline is None:
        return _download_prefix(
            session,
            bucket,
            prefix,
            folder,
            include,
            exclude,
            jobs,
            skip_unchanged,
            progress,
            cancel,
        )
    idle = session.transfer_timeout.read or 15.0
    job = Job(cancel, deadline, grace=min(idle, deadline * 0.1))
    try:
        report = _download_prefix(
            session,
            bucket,
            prefix,
            folder,
            include,
            exclude,
            jobs,
            skip_unchanged,
            progress,
            job.stop,
        )
    finally:
        job.close()
    if job.why != "deadline":
        return report
    results = tuple(
        replace(
            r,
            status="failed",
            reason=job.reason(r.attempts > 0, 0, r.size),
            error=CancelledError(job.reason(r.attempts > 0, 0, r.size)),
        )
        if r.status == "cancelled"
        else r
        for r in report.results
    )
    return TransferReport(results, duration=report.duration)


def _download_prefix(
    session: StorageSession,
    bucket: str,
    prefix: str,
    folder: str | PathLike[str],
    include: Sequence[str],
    exclude: Sequence[str],
    jobs: int,
    skip_unchanged: bool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> TransferReport:
    check_bucket(bucket)
    context = f"download {bucket}/{prefix}"
    raise_if_cancelled(cancel, context)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    objects: list[ObjectInfo] = []
    for o in iter_objects(session, bucket, prefix):
        raise_if_cancelled(cancel, context)
        if not o.is_folder and selected(_relative(o.name, prefix), include, exclude):
            objects.append(o)
    tracker = ProgressTracker(
        sum(o.size for o in objects),
        progress,
        interval=session.progress_interval,
        label=prefix,
        files=len(objects),
    )
    resolved_root = root.resolve()

    def task(obj: ObjectInfo) -> Callable[[], FileResult]:
        rel = _relative(obj.name, prefix)
        dest = root / rel

        def run() -> FileResult:
            if _is_set(cancel):
                return _cancelled(obj.name, str(dest), obj.size)
            share = ChildCounter(tracker)
            with session.track() as stats:
                try:
                    if not dest.resolve().is_relative_to(resolved_root):
                        raise InvalidInputError(f"{obj.name}: would land outside {root}")
                    if (
                        skip_unchanged
                        and dest.is_file()
                        and dest.stat().st_size == obj.size
                        and obj.md5 is not None
                        and _file_md5(dest) == obj.md5
                    ):
                        tracker.skip(obj.size)
                        return FileResult(
                            obj.name, str(dest), "skipped", obj.size, reason="unchanged"
                        )
                    result = download_one(
                        session,
                        bucket,
                        obj.name,
                        dest,
                        progress=None,
                        verify=True,
                        overwrite=True,
                        cancel=cancel,
                        counter=share,
                    )
                except CancelledError:
                    return _cancelled(obj.name, str(dest), obj.size, stats)
                except (HybridError, OSError) as error:
                    share.set_done(obj.size)
                    return _failure(obj.name, str(dest), obj.size, error, stats)
            return FileResult(
                source=obj.name,
                target=str(dest),
                status="downloaded",
                size=result.size,
                attempts=result.attempts,
                retries=result.retries,
                bytes=result.bytes_received,
                landed=result.size,
            )

        return run

    def counted(run: Callable[[], FileResult]) -> Callable[[], FileResult]:
        def wrapper() -> FileResult:
            result = run()
            tracker.file_finished()
            return result

        return wrapper

    results = _run(jobs, [counted(task(o)) for o in objects])
    tracker.close()
    return TransferReport(tuple(results), duration=time.monotonic() - started)


def _relative(name: str, prefix: str) -> str:
    rel = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    return rel.lstrip("/")
