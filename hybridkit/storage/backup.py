"""Backups of a project's storage in a folder: objects, a manifest, bucket configurations.

A backup folder holds::

    objects/<bucket>/<key>    the bytes, one file an object
    manifest.jsonl            one JSON line an object: bucket, key, size, sha256, md5,
                              content_type, cache_control, metadata
    buckets.json              the buckets' configurations (public, file_size_limit,
                              allowed_mime_types)
    backup.json               when it was taken (the recovery point) and from where

:func:`backup` is incremental: an object whose size and MD5 match its manifest line
(and whose file is there) is not downloaded again; objects gone from the source
leave the backup. :func:`verify_backup` re-hashes every file against the manifest
(and, ``against`` a live project, compares the manifest with it); :func:`restore`
puts objects and buckets back, skipping what is already identical.

Example:
    >>> backup(Remote(storage), Path("bak"))  # doctest: +SKIP
    >>> verify_backup(Path("bak")).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridkit.errors import HybridError, InvalidInputError, NotFoundError
from hybridkit.progress import ProgressCallback
from hybridkit.storage.sync import (
    JobProgress,
    Remote,
    bucket_config,
    list_remote,
    put_object,
    same_metadata,
)
from hybridkit.storage.transfer import check_key
from hybridkit.storage.values import BucketInfo, FileResult, ObjectInfo, TransferReport

__all__ = [
    "BackupCheck",
    "backup",
    "latest_backup",
    "read_manifest",
    "restore",
    "taken_at",
    "verify_backup",
]

MANIFEST = "manifest.jsonl"
BUCKETS = "buckets.json"
INFO = "backup.json"


@dataclass(frozen=True)
class BackupCheck:
    """The outcome of :func:`verify_backup`: ``problems`` names every difference."""

    checked: int
    problems: tuple[str, ...] = ()
    taken_at: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems


def _hashes(path: Path) -> tuple[int, str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return size, sha.hexdigest(), md5.hexdigest()


def _object_path(folder: Path, bucket: str, key: str) -> Path:
    check_key(key)
    path = folder / "objects" / bucket / key
    if not path.resolve().is_relative_to((folder / "objects").resolve()):
        raise InvalidInputError(f"{bucket}/{key}: a key that leaves the backup folder")
    return path


def read_manifest(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The manifest's lines by (bucket, key); empty when there is none yet."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[(row["bucket"], row["key"])] = row
    return out


def _write_atomically(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _buckets_of(src: Remote) -> list[BucketInfo]:
    if src.bucket is not None:
        return [src.storage.get_bucket(src.bucket)]
    return src.storage.list_buckets()


def _row_info(row: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        row["bucket"],
        row["key"],
        row["size"],
        content_type=row["content_type"],
        cache_control=row["cache_control"],
        user_metadata=row["metadata"],
    )


def _meta(row: dict[str, Any], info: ObjectInfo) -> dict[str, Any]:
    return {
        **row,
        "content_type": info.content_type,
        "cache_control": info.cache_control,
        "metadata": dict(info.user_metadata or {}),
    }


def backup(
    src: Remote, folder: Path, *, jobs: int = 4, progress: ProgressCallback | None = None
) -> TransferReport:
    """Back up ``src`` (a project or one bucket; a prefix is refused) into ``folder``.

    An object whose bytes are already in the backup is not downloaded again; its
    manifest line still takes the source's current content type, cache control
    and user metadata (read per object: the listing has no user metadata).

    Raises:
        InvalidInputError: ``src`` names a prefix.
    """
    if src.prefix:
        raise InvalidInputError("a backup takes a whole project or a whole bucket")
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    old = read_manifest(folder)
    buckets = _buckets_of(src)
    work: list[tuple[str, str]] = []
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    skipped: list[FileResult] = []
    total = 0
    for b in buckets:
        for key, entry in list_remote(src.storage, b.id, "").items():
            row = old.get((b.id, key))
            path = _object_path(folder, b.id, key)
            if (
                row is not None
                and row["size"] == entry.size
                and entry.md5 is not None
                and row["md5"] == entry.md5
                and path.is_file()
                and path.stat().st_size == entry.size
            ):
                kept[(b.id, key)] = row
                skipped.append(FileResult(f"{b.id}/{key}", str(path), "skipped", entry.size))
            else:
                work.append((b.id, key))
            total += entry.size
    meter = JobProgress(progress, total, len(skipped) + len(work), label="backup")
    for result in skipped:
        meter.finished(result)

    def refresh(key: tuple[str, str]) -> dict[str, Any]:
        row = kept[key]
        try:
            info = src.storage.info(*key)
        except HybridError:
            return row  # the bytes are backed up; the next run reads its metadata again
        return row if same_metadata(info, _row_info(row)) else _meta(row, info)

    def fetch(item: tuple[str, str]) -> tuple[FileResult, dict[str, Any] | None]:
        result, row = _fetch(item)
        meter.finished(result)
        return result, row

    def _fetch(item: tuple[str, str]) -> tuple[FileResult, dict[str, Any] | None]:
        bucket, key = item
        path = _object_path(folder, bucket, key)
        label = f"{bucket}/{key}"
        try:
            info = src.storage.info(bucket, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            got = src.storage.download(bucket, key, path, progress=meter.for_object())
        except HybridError as error:
            return FileResult(label, str(path), "failed", reason=str(error), error=error), None
        size, sha, md5 = _hashes(path)
        row = _meta({"bucket": bucket, "key": key, "size": size, "sha256": sha, "md5": md5}, info)
        result = FileResult(
            label, str(path), "downloaded", size, got.attempts, got.retries, got.bytes_received,
            landed=size,
        )  # fmt: skip
        return result, row

    try:
        with ThreadPoolExecutor(
            max_workers=max(1, jobs), thread_name_prefix="hybridkit-bak"
        ) as pool:
            keys = list(kept)
            kept.update(zip(keys, pool.map(refresh, keys), strict=True))
            outcomes = list(pool.map(fetch, work))
    finally:
        meter.close()
    for _, row in outcomes:
        if row is not None:
            kept[(row["bucket"], row["key"])] = row
    backed_up = {b.id for b in buckets}
    for (bucket, key), _row in old.items():
        # Gone from the source: leave the backup too (only buckets this run covered).
        if (bucket, key) not in kept and bucket in backed_up:
            _object_path(folder, bucket, key).unlink(missing_ok=True)
        elif (bucket, key) not in kept:
            kept[(bucket, key)] = _row
    lines = [json.dumps(kept[k], sort_keys=True) for k in sorted(kept)]
    _write_atomically(folder / MANIFEST, "".join(line + "\n" for line in lines))
    configs = {b.id: bucket_config(b) for b in buckets}
    if (folder / BUCKETS).is_file():
        previous = json.loads((folder / BUCKETS).read_text(encoding="utf-8"))
        configs = {**previous, **configs}
    _write_atomically(folder / BUCKETS, json.dumps(configs, indent=2, sort_keys=True))
    info = {"taken_at": datetime.now(UTC).isoformat(), "source": src.label or src.storage.url}
    _write_atomically(folder / INFO, json.dumps(info, indent=2))
    results = tuple(skipped) + tuple(r for r, _ in outcomes)
    return TransferReport(results, duration=time.monotonic() - started)


def taken_at(folder: Path) -> datetime | None:
    """When the backup in ``folder`` was taken (its recovery point), from ``backup.json``."""
    try:
        info = json.loads((folder / INFO).read_text(encoding="utf-8"))
        return datetime.fromisoformat(str(info["taken_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest_backup(folder: Path) -> Path:
    """``folder`` when it is a backup, else its newest backup subfolder (by ``taken_at``).

    Raises:
        NotFoundError: no backup there.
    """
    if (folder / MANIFEST).is_file():
        return folder
    found = [(t, d) for d in sorted(folder.glob("*/")) if (t := taken_at(d)) is not None]
    found = [(t, d) for t, d in found if (d / MANIFEST).is_file()]
    if not found:
        raise NotFoundError(f"{folder}: no backup here (no {MANIFEST}, nor a folder holding one)")
    return max(found)[1]


def _files(folder: Path) -> Iterator[tuple[str, str]]:
    root = folder / "objects"
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            bucket, _, key = rel.partition("/")
            yield bucket, key


def verify_backup(
    folder: Path, *, against: Remote | None = None, deep: bool = False
) -> BackupCheck:
    """Re-hash every file against the manifest; ``against`` compares with a live project.

    The live comparison takes each bucket's configuration and each object's size,
    MD5, content type and cache control from the listings; ``deep`` also reads
    every object's user metadata (a request each).

    Raises:
        InvalidInputError: ``folder`` holds no manifest.
    """
    if not (folder / MANIFEST).is_file():
        raise InvalidInputError(f"{folder}: no {MANIFEST} (not a backup folder)")
    manifest = read_manifest(folder)
    problems: list[str] = []
    for (bucket, key), row in sorted(manifest.items()):
        path = _object_path(folder, bucket, key)
        if not path.is_file():
            problems.append(f"{bucket}/{key}: missing from the backup")
            continue
        size, sha, _ = _hashes(path)
        if size != row["size"] or sha != row["sha256"]:
            problems.append(f"{bucket}/{key}: differs from the manifest (size or sha256)")
    for bucket, key in sorted(set(_files(folder)) - set(manifest)):
        if not key.endswith(".part"):
            problems.append(f"{bucket}/{key}: in the backup but not in the manifest")
    if against is not None:
        problems.extend(_compare_live(folder, manifest, against, deep))
    taken = None
    if (folder / INFO).is_file():
        taken = json.loads((folder / INFO).read_text(encoding="utf-8")).get("taken_at")
    return BackupCheck(len(manifest), tuple(problems), taken)


def _compare_live(
    folder: Path, manifest: dict[tuple[str, str], dict[str, Any]], live: Remote, deep: bool
) -> list[str]:
    problems: list[str] = []
    configs: dict[str, Any] = json.loads((folder / BUCKETS).read_text(encoding="utf-8"))
    present = {b.id: b for b in live.storage.list_buckets()}
    for bucket, config in sorted(configs.items()):
        if live.bucket is not None and bucket != live.bucket:
            continue
        if bucket not in present:
            problems.append(f"bucket {bucket}: not in the live project")
        elif bucket_config(present[bucket]) != config:
            problems.append(f"bucket {bucket}: its configuration differs")
    for bucket in sorted({b for b, _ in manifest}):
        if bucket not in present or (live.bucket is not None and bucket != live.bucket):
            continue
        objects = list_remote(live.storage, bucket, "")
        for (b, key), row in sorted(manifest.items()):
            if b != bucket:
                continue
            entry = objects.get(key)
            if entry is None:
                problems.append(f"{bucket}/{key}: not in the live project")
            elif entry.size != row["size"] or entry.md5 != row["md5"]:
                problems.append(f"{bucket}/{key}: the live object differs")
            elif entry.content_type != row["content_type"]:
                problems.append(f"{bucket}/{key}: the live content type differs")
            elif entry.cache_control != row["cache_control"]:
                problems.append(f"{bucket}/{key}: the live cache control differs")
            elif deep and not same_metadata(live.storage.info(bucket, key), _row_info(row)):
                problems.append(f"{bucket}/{key}: the live user metadata differs")
    return problems


def restore(
    folder: Path, dst: Remote, *, jobs: int = 4, progress: ProgressCallback | None = None
) -> TransferReport:
    """Put a backup into ``dst`` (a project, or one bucket of the backup): buckets first
    (created or updated to their configuration), then every object not already identical.

    Raises:
        InvalidInputError: no manifest, or ``dst`` names a prefix.
    """
    if dst.prefix:
        raise InvalidInputError("a restore goes into a whole project or a whole bucket")
    if not (folder / MANIFEST).is_file():
        raise InvalidInputError(f"{folder}: no {MANIFEST} (not a backup folder)")
    started = time.monotonic()
    manifest = read_manifest(folder)
    configs: dict[str, Any] = json.loads((folder / BUCKETS).read_text(encoding="utf-8"))
    wanted = sorted(b for b in configs if dst.bucket is None or b == dst.bucket)
    present = {b.id: b for b in dst.storage.list_buckets()}
    for bucket in wanted:
        config = configs[bucket]
        if bucket not in present:
            dst.storage.create_bucket(bucket, **config)
        elif bucket_config(present[bucket]) != config:
            dst.storage.update_bucket(bucket, **config)
    live = {bucket: list_remote(dst.storage, bucket, "") for bucket in wanted}
    rows = [row for (bucket, _key), row in sorted(manifest.items()) if bucket in live]

    def identical(row: dict[str, Any]) -> bool:
        entry = live[row["bucket"]].get(row["key"])
        if entry is None or entry.size != row["size"] or entry.md5 != row["md5"]:
            return False
        try:  # the listing has no user metadata: read it
            return same_metadata(dst.storage.info(row["bucket"], row["key"]), _row_info(row))
        except HybridError:
            return False

    def put(row: dict[str, Any]) -> FileResult:
        bucket, key = row["bucket"], row["key"]
        label = f"{bucket}/{key}"
        try:
            sent, _ = put_object(
                dst.storage,
                _object_path(folder, bucket, key),
                bucket,
                key,
                content_type=row["content_type"],
                cache_control=row["cache_control"],
                metadata=row["metadata"],
                progress=meter.for_object(),
            )
        except HybridError as error:
            result = FileResult(label, label, "failed", row["size"], reason=str(error), error=error)
        else:
            result = FileResult(
                label, label, "uploaded", sent.size, sent.attempts, sent.retries, sent.bytes_sent,
                landed=sent.size,
            )  # fmt: skip
        meter.finished(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="hybridkit-rst") as pool:
        same = list(pool.map(identical, rows))
        skipped = [
            FileResult(
                f"{r['bucket']}/{r['key']}", f"{r['bucket']}/{r['key']}", "skipped", r["size"]
            )
            for r, s in zip(rows, same, strict=True)
            if s
        ]
        todo = [r for r, s in zip(rows, same, strict=True) if not s]
        meter = JobProgress(progress, sum(r["size"] for r in rows), len(rows), label="restore")
        for result in skipped:
            meter.finished(result)
        try:
            results = list(pool.map(put, todo))
        finally:
            meter.close()
    return TransferReport(tuple(skipped) + tuple(results), duration=time.monotonic() - started)
