"""Uploads as the upload runbook and its panel make them: unchanged files skipped, file or folder.

A folder goes through ``manager.upload_folder``, which skips files whose stored
object has the same size and MD5. One file is decided the same way here, so that
running the runbook (or clicking the panel's Upload) again on one file behaves as
on a folder: the same bytes are skipped as unchanged; other bytes under the same
key are refused without ``upsert`` (a ``ConflictError`` whose reason says so) and
:func:`upload_hint` tells the caller how to overwrite them.

Both return the same :class:`~hybridkit.storage.TransferReport`, so the runbook
reports a file and a folder with one table and one summary.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from hybridkit.errors import CancelledError, ConflictError, HybridError
from hybridkit.manager import HybridOperationResult
from hybridkit.progress import Progress
from hybridkit.storage import FileResult, ObjectInfo, TransferReport
from hybridkit.storage.transfer import selected

__all__ = ["LOOKUP", "conflicts", "selected", "upload", "upload_hint", "upload_one"]

_CHUNK = 1024 * 1024

LOOKUP: Final = object()
"""``stored=LOOKUP`` (the default): look the stored object up before uploading."""

_DIFFERS = "the stored object differs from this file (other size or checksum)"


def _md5(source: Path | bytes) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest()
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _unchanged(stored: ObjectInfo | None, size: int, md5: Callable[[], str]) -> bool:
    """The folder upload's rule: same size, and an MD5 ETag equal to the file's."""
    if stored is None or stored.size != size or stored.md5 is None:
        return False
    return stored.md5 == md5()


def upload_one(
    manager: Any,
    source: Path | bytes,
    bucket: str,
    key: str,
    *,
    stored: Any = LOOKUP,
    upsert: bool = False,
    verify: bool = True,
    progress: Callable[[Progress], Any] | None = None,
    cancel: Any = None,
) -> FileResult:
    """Upload one file (a path, or bytes picked in a browser) unless it is stored unchanged.

    Args:
        manager: the ``HybridSupabaseManager``.
        source: the file, or its bytes.
        stored: the stored object at ``key`` when the caller already listed it
            (``None``: known to be absent); by default it is looked up.
        upsert: overwrite a stored object that differs.
        verify / progress / cancel: as for ``manager.upload_file``.

    Returns:
        A ``FileResult``: ``skipped`` (same size and MD5, nothing sent), ``uploaded``,
        ``failed`` (``reason`` says why) or ``cancelled``. The manager's failures
        are reported, never raised; an unreadable file fails with its ``OSError``.

    Example:
        >>> rb.upload_one(manager, Path("a.csv"), "reports", "2026/a.csv").status  # doctest: +SKIP
        'skipped'
    """
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    label = "<picked>" if isinstance(source, bytes) else str(source)
    if stored is LOOKUP:
        found = manager.object_info(bucket, key)
        # Not found, or not readable: the upload decides (without upsert it refuses to clobber).
        stored = found.data if found.success else None
    if _unchanged(stored, size, lambda: _md5(source)):
        if progress is not None:
            progress(Progress(size, size, 0.0, 0.0, 0.0, key, True, skipped=size))
        return FileResult(label, key, "skipped", size, reason="unchanged", landed=size)
    body: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    result = manager.upload_file(
        bucket, body, key, upsert=upsert, verify=verify, progress=progress, cancel=cancel
    )
    meta = result.metadata or {}
    sent = FileResult(
        label,
        key,
        "uploaded",
        size,
        attempts=int(meta.get("attempts", 0)),
        retries=int(meta.get("retries", 0)),
        bytes=int(meta.get("bytes", 0)),
        landed=size,
    )
    if result.success:
        return sent
    error = result.error
    if not isinstance(error, HybridError):
        error = HybridError(str(error))
    if isinstance(error, CancelledError):
        return replace(sent, status="cancelled", reason=str(error), error=error, landed=0)
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, ConflictError) and not upsert:
        reason += f"; {_DIFFERS}"
    return replace(sent, status="failed", reason=reason, error=error, landed=0)


def upload(
    manager: Any,
    source: str | Path,
    bucket: str,
    prefix: str = "",
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    jobs: int = 4,
    upsert: bool = False,
    verify: bool = True,
    progress: Callable[[Progress], Any] | None = None,
) -> HybridOperationResult:
    """The upload runbook's step: a folder (``include``/``exclude`` globs apply) or one file.

    Returns:
        A ``HybridOperationResult`` whose ``data`` is a ``TransferReport`` in both
        cases (``None`` when a folder upload could not start); ``success`` only
        when no file failed.

    Example:
        >>> result = rb.upload(manager, "./exports", "reports", "2026")  # doctest: +SKIP
        >>> [r.status for r in result.data.results]  # doctest: +SKIP
        ['skipped', 'uploaded']
    """
    path = Path(source)
    prefix = prefix.strip().strip("/")
    if path.is_dir():
        return manager.upload_folder(  # type: ignore[no-any-return]
            path,
            bucket,
            prefix,
            include=list(include),
            exclude=list(exclude),
            jobs=jobs,
            upsert=upsert,
            verify=verify,
            progress=progress,
        )
    started = time.monotonic()
    key = f"{prefix}/{path.name}" if prefix else path.name
    one = upload_one(manager, path, bucket, key, upsert=upsert, verify=verify, progress=progress)
    report = TransferReport((one,), duration=time.monotonic() - started)
    metadata = {
        "operation": "upload_file",
        "attempts": one.attempts,
        "retries": one.retries,
        "bytes": one.bytes,
        "duration": report.duration,
        "bucket": bucket,
        "key": key,
    }
    error = one.error if one.status in ("failed", "cancelled") else None
    return HybridOperationResult(error is None, report, error, metadata, "storage")


def conflicts(report: TransferReport | None) -> list[FileResult]:
    """The files refused because a different object is stored under their key."""
    if report is None:
        return []
    return [
        r for r in report.results if r.status == "failed" and isinstance(r.error, ConflictError)
    ]


def upload_hint(report: TransferReport | None, *, overwrite: str = "pass -p upsert true") -> str:
    """What to do after a failed upload: overwrite what differs, or run again for the rest.

    Example:
        >>> r = TransferReport((FileResult("a", "a", "failed", error=ConflictError("exists")),))
        >>> upload_hint(r)
        '1 stored object(s) differ from the local file(s): pass -p upsert true to overwrite them'
    """
    refused = conflicts(report)
    failed = [r for r in (report.results if report else ()) if r.status == "failed"]
    parts = []
    if refused:
        parts.append(
            f"{len(refused)} stored object(s) differ from the local file(s): "
            f"{overwrite} to overwrite them"
        )
    if len(failed) > len(refused):
        parts.append("running again uploads only what is missing or changed")
    return "; ".join(parts)
