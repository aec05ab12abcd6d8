"""One upload: the standard single request or TUS, with reconciliation of lost answers.

Private; :meth:`hybridkit.storage.StorageManager.upload` is the public face.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from typing import IO, TYPE_CHECKING, Any

from hybridkit.errors import ConflictError, NotFoundError, RetryableError
from hybridkit.progress import ProgressCallback, ProgressTracker
from hybridkit.retry import Attempt, AttemptLog, classify, classify_response
from hybridkit.storage.download import verify_object
from hybridkit.storage.listing import object_info
from hybridkit.storage.pace import Throttle, ThrottledCounter
from hybridkit.storage.transfer import (
    READ_BLOCK,
    Counter,
    CountingReader,
    Source,
    cache_control_seconds,
    check_bucket,
    check_key,
    guess_content_type,
    open_source,
    raise_if_cancelled,
    url_path,
)
from hybridkit.storage.tus import ResumeStore
from hybridkit.storage.values import UploadResult

if TYPE_CHECKING:
    from hybridkit.storage.session import StorageSession

_log = logging.getLogger("hybridkit.storage")


def upload_one(
    session: StorageSession,
    source: str | PathLike[str] | IO[bytes],
    bucket: str,
    key: str,
    *,
    content_type: str | None,
    cache_control: str | int | None,
    upsert: bool,
    metadata: Mapping[str, Any] | None,
    progress: ProgressCallback | None,
    resumable: bool | None,
    verify: bool,
    cancel: threading.Event | None = None,
    counter: Counter | None = None,
    throttle: Throttle | None = None,
) -> UploadResult:
    """Upload ``source`` to ``bucket/key``; see ``StorageManager.upload``."""
    check_bucket(bucket)
    check_key(key)
    raise_if_cancelled(cancel, f"upload {bucket}/{key}")
    cache = cache_control_seconds(cache_control)
    started = time.monotonic()
    with open_source(source, name=key.rsplit("/", 1)[-1]) as src:
        mime = content_type or guess_content_type(key)
        tracker: ProgressTracker | None = None
        if counter is None:
            tracker = ProgressTracker(
                src.size, progress, interval=session.progress_interval, label=key
            )
            counter = tracker
        if throttle is not None:
            counter = ThrottledCounter(counter, throttle)
        use_tus = resumable if resumable is not None else src.size > session.threshold
        # A standard upload of more than one read block (1 MiB) that fails transiently
        # goes on as a resumable one: one bad connection must not restart it from
        # byte 0 forever. A TUS server keeps the part of a chunk that arrived, so
        # this helps a file of one chunk too, not only a larger one.
        may_switch = (
            not use_tus
            and src.size > min(READ_BLOCK, session.chunk_size)
            and not mime.lower().startswith("multipart/")
        )
        log = AttemptLog()
        standard_sent = [0]
        try:
            if use_tus:
                result = _resumable(
                    session, src, bucket, key, mime, cache, upsert, metadata, counter, log, cancel
                )
            else:
                try:
                    result = _standard(
                        session,
                        src,
                        bucket,
                        key,
                        mime,
                        cache,
                        upsert,
                        metadata,
                        counter,
                        log,
                        cancel,
                        single_attempt=may_switch,
                        sent=standard_sent,
                    )
                except RetryableError:
                    if not may_switch:
                        raise
                    _log.info("%s/%s: standard upload failed; going on as resumable", bucket, key)
                    use_tus = True
                    log.retries += 1
                    wasted = standard_sent[0]
                    result = _resumable(
                        session,
                        src,
                        bucket,
                        key,
                        mime,
                        cache,
                        upsert,
                        metadata,
                        counter,
                        log,
                        cancel,
                    )
                    result = (result[0], result[1] + wasted, result[2], result[3])
        finally:
            session.count(log)
        reconciled, sent, resumed_from, md5 = result
        session.count(nbytes=sent)
        verified = False
        if verify:
            report = verify_object(session, bucket, key, src, deep=False)
            report.raise_for_problems()
            verified, md5 = True, report.local_md5
        if tracker is not None:
            tracker.close()
        return UploadResult(
            bucket=bucket,
            key=key,
            size=src.size,
            content_type=mime,
            method="resumable" if use_tus else "standard",
            attempts=log.attempts,
            retries=log.retries,
            bytes_sent=sent,
            duration=time.monotonic() - started,
            resumed_from=resumed_from,
            reconciled=reconciled,
            verified=verified,
            md5=md5,
        )


def _is_own(session: StorageSession, src: Source, bucket: str, key: str) -> str | None:
    """The MD5 when the stored object is byte-identical to ``src``, else ``None``.

    Called when a create meets "already exists" after an attempt that may have
    landed: a match means the earlier attempt did the work; anything else is
    someone else's object, which is never overwritten.
    """
    try:
        stored = object_info(session, bucket, key)
    except NotFoundError:
        return None
    if stored.size != src.size:
        return None
    local = src.md5()
    if stored.md5 is not None:
        return local if stored.md5 == local else None
    report = verify_object(session, bucket, key, src, deep=True)
    return local if report.ok else None


_Outcome = tuple[bool, int, int, str | None]  # reconciled, bytes sent, resumed from, md5


def _standard(
    session: StorageSession,
    src: Source,
    bucket: str,
    key: str,
    mime: str,
    cache: str,
    upsert: bool,
    metadata: Mapping[str, Any] | None,
    counter: Counter,
    log: AttemptLog,
    cancel: threading.Event | None,
    *,
    single_attempt: bool = False,
    sent: list[int] | None = None,
) -> _Outcome:
    """One request, streamed from disk, retried; a lost answer is reconciled.

    With ``single_attempt`` a transient failure is not retried here (the caller
    goes on with a resumable upload); ``sent`` receives the body bytes sent.

    The body goes raw (``Content-Type`` is the object's type), as storage-js sends
    it, rather than as storage3's multipart form: the Storage API stores either
    the same way, and a raw body spares the server a multipart parse (on a small
    machine that is the difference between ~60 % and ~100 % of curl's
    throughput). A ``multipart/*`` object type cannot travel raw and goes through
    storage3.

    A cancel stops the body at a block boundary: the request is abandoned with
    fewer bytes than its ``Content-Length``, and the server stores nothing.
    """
    sent = sent if sent is not None else [0]

    def on_bytes(n: int) -> None:
        if n > 0:
            sent[0] += n
        counter.advance(n)

    context = f"upload {bucket}/{key}"
    send = _send_multipart if mime.lower().startswith("multipart/") else _send_raw

    def attempt(a: Attempt) -> _Outcome:
        counter.set_done(0)
        try:
            send(
                session, src, bucket, key, mime, cache, upsert, metadata, on_bytes, context, cancel
            )
        except Exception as exc:
            error = classify(exc, context=context)
            if isinstance(error, ConflictError) and log.uncertain:
                md5 = _is_own(session, src, bucket, key)
                if md5 is not None:
                    counter.set_done(src.size)
                    return True, sent[0], 0, md5
            raise error from exc
        return False, sent[0], 0, None

    # The upload is safe to resend: a create that already landed answers 409 and
    # is reconciled above; an upsert writes the same bytes again.
    outcome = session.retrier.call(
        attempt,
        operation=context,
        log=log,
        cancel=cancel,
        max_retries=0 if single_attempt else None,
    )
    return outcome[0], sent[0], 0, outcome[3]


def _send_raw(
    session: StorageSession,
    src: Source,
    bucket: str,
    key: str,
    mime: str,
    cache: str,
    upsert: bool,
    metadata: Mapping[str, Any] | None,
    on_bytes: Callable[[int], None],
    context: str,
    cancel: threading.Event | None,
) -> None:
    def body() -> Iterator[bytes]:
        # Read as httpx sends: one block in memory, progress as bytes leave the file.
        for block in src.read_range(0, src.size, cancel):
            on_bytes(len(block))
            yield block

    headers = {
        **session.auth_headers,
        "Content-Type": mime,
        "Content-Length": str(src.size),
        "Cache-Control": f"max-age={cache}",
        "x-upsert": "true" if upsert else "false",
    }
    if metadata is not None:
        headers["x-metadata"] = base64.b64encode(json.dumps(dict(metadata)).encode()).decode()
    url = f"{session.storage_url}/object/{url_path(bucket, key)}"
    response = session.http.post(
        url, headers=headers, content=body(), timeout=session.transfer_timeout
    )
    if response.status_code >= 400:
        raise classify_response(response, context=context)


def _send_multipart(
    session: StorageSession,
    src: Source,
    bucket: str,
    key: str,
    mime: str,
    cache: str,
    upsert: bool,
    metadata: Mapping[str, Any] | None,
    on_bytes: Callable[[int], None],
    context: str,
    cancel: threading.Event | None,
) -> None:
    options: dict[str, Any] = {
        "content-type": mime,
        "cache-control": cache,
        "upsert": "true" if upsert else "false",
    }
    if metadata is not None:
        options["metadata"] = dict(metadata)
    # A BufferedReader over a counting raw reader passes storage3's type check
    # and lets httpx stream the form in 64 KiB reads (never the whole file).
    body = io.BufferedReader(CountingReader(src, on_bytes, cancel), buffer_size=READ_BLOCK)
    session.api.from_(bucket).upload(key, body, options)


def _resumable(
    session: StorageSession,
    src: Source,
    bucket: str,
    key: str,
    mime: str,
    cache: str,
    upsert: bool,
    metadata: Mapping[str, Any] | None,
    counter: Counter,
    log: AttemptLog,
    cancel: threading.Event | None,
) -> _Outcome:
    store = session.resume_store
    resume_key = (
        ResumeStore.make_key(session.storage_url, bucket, key, src) if store is not None else None
    )
    had_entry = bool(store and resume_key and store.get(resume_key))
    tus_metadata = {
        "bucketName": bucket,
        "objectName": key,
        "contentType": mime,
        "cacheControl": cache,
    }
    if metadata is not None:
        tus_metadata["metadata"] = json.dumps(dict(metadata))
    try:
        outcome = session.tus.upload(
            src,
            bucket,
            key,
            metadata=tus_metadata,
            upsert=upsert,
            resume_key=resume_key,
            on_bytes=counter.advance,
            set_done=counter.set_done,
            log=log,
            cancel=cancel,
        )
    except ConflictError:
        # "Already exists": ours if an earlier attempt or a killed process may have
        # finished this very upload and the bytes match; otherwise not ours.
        if had_entry or log.uncertain:
            md5 = _is_own(session, src, bucket, key)
            if md5 is not None:
                counter.set_done(src.size)
                return True, 0, src.size, md5
        raise
    if outcome.resumed_from == src.size and outcome.bytes_sent == 0:
        # Every byte was on the server before we came (a process was killed after
        # its last PATCH). Make sure the object was committed, else start afresh.
        try:
            object_info(session, bucket, key)
        except NotFoundError:
            outcome = session.tus.upload(
                src,
                bucket,
                key,
                metadata=tus_metadata,
                upsert=upsert,
                resume_key=None,
                on_bytes=counter.advance,
                set_done=counter.set_done,
                log=log,
                cancel=cancel,
            )
    return False, outcome.bytes_sent, outcome.resumed_from, None
