"""Downloads (temporary name, Range resume, verify, rename) and object verification.

Private; :meth:`hybridkit.storage.StorageManager.download` and ``verify`` are the
public faces.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hybridkit.errors import ConflictError, RetryableError
from hybridkit.progress import ProgressCallback, ProgressTracker
from hybridkit.retry import Attempt, AttemptLog, classify_response
from hybridkit.storage.listing import object_info
from hybridkit.storage.transfer import (
    READ_BLOCK,
    Counter,
    Source,
    check_bucket,
    check_key,
    hash_file,
    md5_from_etag,
    open_source,
    raise_if_cancelled,
    url_path,
)
from hybridkit.storage.values import DownloadResult, VerifyReport

if TYPE_CHECKING:
    from hybridkit.storage.session import StorageSession

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _part_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(f".{dest.name}.hkpart"), dest.with_name(f".{dest.name}.hkpart.json")


def _discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def download_one(
    session: StorageSession,
    bucket: str,
    key: str,
    destination: str | PathLike[str],
    *,
    progress: ProgressCallback | None,
    verify: bool,
    overwrite: bool,
    cancel: threading.Event | None = None,
    counter: Counter | None = None,
) -> DownloadResult:
    """Download ``bucket/key`` to ``destination``; see ``StorageManager.download``.

    A cancel stops at a block boundary and leaves the temporary file (and its
    record) as an interrupted download does, so a later call resumes with Range;
    ``destination`` is never created or replaced.
    """
    check_bucket(bucket)
    check_key(key)
    context = f"download {bucket}/{key}"
    raise_if_cancelled(cancel, context)
    started = time.monotonic()
    dest = Path(destination)
    if dest.is_dir():
        dest = dest / key.rsplit("/", 1)[-1]
    if dest.exists() and not overwrite:
        raise ConflictError(f"{dest} exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, side = _part_paths(dest)
    state: dict[str, Any] = {"etag": None, "total": None}
    if part.exists():
        try:
            state.update(json.loads(side.read_text()))
        except (OSError, ValueError):
            _discard(part)  # no record of what the bytes were: start again
    resumed_from = part.stat().st_size if part.exists() and state["etag"] else 0
    tracker: ProgressTracker | None = None
    if counter is None:
        tracker = ProgressTracker(
            state["total"], progress, interval=session.progress_interval, label=key
        )
        counter = tracker
    url = f"{session.storage_url}/object/{url_path(bucket, key)}"
    received = [0]

    def attempt(a: Attempt) -> tuple[str, int]:
        have = part.stat().st_size if part.exists() and state["etag"] else 0
        headers = {**session.auth_headers, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = state["etag"]
        with session.http.stream(
            "GET", url, headers=headers, timeout=session.transfer_timeout
        ) as response:
            if response.status_code == 416 and have and have == state["total"]:
                response.read()
            elif response.status_code >= 400:
                response.read()
                if response.status_code == 416:
                    _discard(part, side)
                    raise RetryableError(f"{context}: the partial file no longer fits; restarting")
                raise classify_response(response, context=context)
            else:
                have = _receive(
                    response, have, state, part, side, counter, received, context, cancel
                )
        size = part.stat().st_size
        if state["total"] is not None and size != state["total"]:
            raise RetryableError(f"{context}: got {size} of {state['total']} bytes; resuming")
        digest = hashlib.md5(usedforsecurity=False)
        hash_file(part, digest)
        md5 = digest.hexdigest()
        expected = md5_from_etag(state["etag"])
        if verify and expected is not None and md5 != expected:
            _discard(part, side)
            raise RetryableError(
                f"{context}: checksum mismatch (MD5 {md5}, ETag {expected}); downloading again"
            )
        return md5, size

    log = AttemptLog()
    try:
        # A download resumed with Range keeps what arrived: bytes on disk are progress.
        md5, size = session.retrier.call(
            attempt,
            operation=context,
            log=log,
            cancel=cancel,
            progress=lambda: part.stat().st_size if part.exists() else 0,
        )
    finally:
        session.count(log, received[0])
    os.replace(part, dest)
    _discard(side)
    if tracker is not None:
        tracker.close()
    return DownloadResult(
        bucket=bucket,
        key=key,
        path=str(dest),
        size=size,
        attempts=log.attempts,
        retries=log.retries,
        bytes_received=received[0],
        duration=time.monotonic() - started,
        resumed_from=resumed_from,
        verified=verify and md5_from_etag(state["etag"]) is not None,
        md5=md5,
    )


def _receive(
    response: Any,
    have: int,
    state: dict[str, Any],
    part: Path,
    side: Path,
    counter: Counter,
    received: list[int],
    context: str,
    cancel: threading.Event | None,
) -> int:
    """Write a 200 or 206 body to the part file; return where it started.

    A cancel stops after the block in hand is written (the part file then holds
    every byte received, ready for a resume).
    """
    etag = response.headers.get("ETag")
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            _discard(part, side)
            raise RetryableError(f"{context}: unexpected Content-Range; restarting")
        if etag and state["etag"] and etag != state["etag"]:
            _discard(part, side)
            raise RetryableError(f"{context}: the object changed; restarting")
        if match.group(3) != "*":
            state["total"] = int(match.group(3))
        mode = "ab"
    else:
        # A 200 answers a Range whose If-Range no longer matches: the whole object.
        have = 0
        mode = "wb"
        state["etag"] = etag
        length = response.headers.get("Content-Length")
        state["total"] = int(length) if length and length.isdigit() else None
    encoded = response.headers.get("Content-Encoding", "identity") not in ("identity", "")
    if encoded:
        state["total"] = None  # Content-Length counts encoded bytes
    side.write_text(json.dumps({"etag": state["etag"], "total": state["total"]}))
    counter.set_done(have)
    chunks = response.iter_bytes(READ_BLOCK) if encoded else response.iter_raw(READ_BLOCK)
    with part.open(mode) as fh:
        raise_if_cancelled(cancel, context)
        for chunk in chunks:
            fh.write(chunk)
            received[0] += len(chunk)
            counter.advance(len(chunk))
            raise_if_cancelled(cancel, context)
    return have


def verify_object(
    session: StorageSession,
    bucket: str,
    key: str,
    source: str | PathLike[str] | IO[bytes] | Source | None,
    *,
    deep: bool,
) -> VerifyReport:
    """Compare ``bucket/key`` with ``source``; see ``StorageManager.verify``."""
    stored = object_info(session, bucket, key)
    local_size: int | None = None
    local_md5: str | None = None
    if isinstance(source, Source):
        local_size, local_md5 = source.size, source.md5()
    elif source is not None:
        with open_source(source) as src:
            local_size, local_md5 = src.size, src.md5()
    problems: list[str] = []
    remote_md5 = stored.md5
    method: Any = "etag"
    if deep or remote_md5 is None or source is None:
        method = "download"
        remote_md5, remote_size = _hash_remote(session, bucket, key)
        if remote_size != stored.size:
            problems.append(f"stored size {stored.size} but {remote_size} bytes downloaded")
        if source is None and stored.md5 is not None and stored.md5 != remote_md5:
            problems.append(f"stored bytes hash to {remote_md5}, the ETag says {stored.md5}")
    if local_size is not None and local_size != stored.size:
        problems.append(f"size differs: local {local_size}, stored {stored.size}")
    if local_md5 is not None and remote_md5 is not None and local_md5 != remote_md5:
        problems.append(f"MD5 differs: local {local_md5}, stored {remote_md5}")
    return VerifyReport(
        bucket=bucket,
        key=key,
        method=method,
        remote_size=stored.size,
        remote_md5=remote_md5,
        local_size=local_size,
        local_md5=local_md5,
        problems=tuple(problems),
    )


def _hash_remote(session: StorageSession, bucket: str, key: str) -> tuple[str, int]:
    url = f"{session.storage_url}/object/{url_path(bucket, key)}"
    context = f"hash {bucket}/{key}"

    def attempt(a: Attempt) -> tuple[str, int]:
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        headers = {**session.auth_headers, "Accept-Encoding": "identity"}
        with session.http.stream(
            "GET", url, headers=headers, timeout=session.transfer_timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise classify_response(response, context=context)
            for chunk in response.iter_raw(READ_BLOCK):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    log = AttemptLog()
    try:
        return session.retrier.call(attempt, operation=context, log=log)
    finally:
        session.count(log)
