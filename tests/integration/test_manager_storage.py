"""StorageManager and HybridSupabaseManager against the real local stack (no mocks)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from managerkit import MiB, md5_file, remote_md5, settings_for, temp_bucket, write_random

from hybridkit.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    QuotaError,
)
from hybridkit.manager import HealthReport, HybridOperationResult, HybridSupabaseManager
from hybridkit.progress import Progress
from hybridkit.retry import AttemptLog
from hybridkit.storage import ObjectInfo, StorageManager

# --------------------------------------------------------------------------- buckets


def test_bucket_lifecycle(manager: StorageManager, unique_name: str) -> None:
    created = manager.create_bucket(
        unique_name, public=True, file_size_limit=1000, allowed_mime_types=["text/plain"]
    )
    try:
        assert created.id == unique_name and created.public
        assert created.file_size_limit == 1000
        assert created.allowed_mime_types == ("text/plain",)
        assert unique_name in [b.id for b in manager.list_buckets()]
        with pytest.raises(ConflictError):
            manager.create_bucket(unique_name)  # a first attempt's 409 is a real conflict
        updated = manager.update_bucket(unique_name, public=False, allowed_mime_types=None)
        assert not updated.public and updated.allowed_mime_types is None
        assert updated.file_size_limit == 1000
        manager.upload(io.BytesIO(b"hello"), unique_name, "a.txt")
        with pytest.raises(ConflictError):
            manager.delete_bucket(unique_name)  # not empty
        manager.empty_bucket(unique_name)
        assert manager.list_objects(unique_name) == []
    finally:
        manager.delete_bucket(unique_name, force=True)
    with pytest.raises(NotFoundError):
        manager.get_bucket(unique_name)


def test_bucket_limits_surface_as_quota_errors(manager: StorageManager, unique_name: str) -> None:
    with temp_bucket(manager, unique_name, file_size_limit=100, allowed_mime_types=["image/png"]):
        with pytest.raises(QuotaError) as too_big:
            manager.upload(io.BytesIO(b"x" * 200), unique_name, "big.png")
        assert too_big.value.status == 413
        with pytest.raises(QuotaError) as wrong_type:
            manager.upload(io.BytesIO(b"x"), unique_name, "a.txt")
        assert wrong_type.value.status == 415


def test_invalid_input_is_caught_before_any_request(manager: StorageManager) -> None:
    with manager.track() as stats:
        with pytest.raises(InvalidInputError):
            manager.upload(io.BytesIO(b"x"), "bad/bucket", "a.txt")
        with pytest.raises(InvalidInputError):
            manager.info("ok", "a/../b.txt")
        with pytest.raises(InvalidInputError):
            manager.info("ok", "café.txt")
    assert stats.attempts == 0


# --------------------------------------------------------------------------- uploads


def test_standard_upload_streams_and_reports_real_bytes(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "data.csv"
    digest = write_random(path, 3 * MiB + 17)
    seen: list[Progress] = []
    result = manager.upload(path, bucket, "dir/data.csv", progress=seen.append, verify=True)
    assert result.method == "standard"
    assert (result.size, result.bytes_sent, result.attempts) == (3 * MiB + 17, 3 * MiB + 17, 1)
    assert result.verified and result.md5 == digest
    assert result.content_type == "text/csv"
    assert seen[-1].finished and seen[-1].done == result.size
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and len(set(dones)) > 2  # many real steps, in order
    info = manager.info(bucket, "dir/data.csv")
    assert (info.size, info.md5, info.content_type) == (result.size, digest, "text/csv")
    assert remote_md5(manager, bucket, "dir/data.csv") == digest


def test_upload_from_file_objects(manager: StorageManager, bucket: str, tmp_path: Path) -> None:
    buffer = io.BytesIO(b"skip-this|" + b"payload" * 1000)
    buffer.seek(10)  # read from the current position
    result = manager.upload(buffer, bucket, "obj.bin", content_type="application/x-thing")
    assert result.size == 7000
    assert manager.info(bucket, "obj.bin").content_type == "application/x-thing"
    read_end, write_end = os.pipe()  # a non-seekable stream is spooled first
    os.write(write_end, b"from a pipe")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert manager.upload(pipe, bucket, "pipe.txt").size == 11
    assert remote_md5(manager, bucket, "pipe.txt") == hashlib.md5(b"from a pipe").hexdigest()


def test_existing_object_is_not_overwritten_without_upsert(
    manager: StorageManager, bucket: str
) -> None:
    manager.upload(io.BytesIO(b"theirs"), bucket, "k.txt")
    with pytest.raises(ConflictError):
        manager.upload(io.BytesIO(b"mine!!"), bucket, "k.txt")
    assert remote_md5(manager, bucket, "k.txt") == hashlib.md5(b"theirs").hexdigest()
    manager.upload(io.BytesIO(b"mine!!"), bucket, "k.txt", upsert=True)
    assert manager.info(bucket, "k.txt").size == 6


def test_resumable_upload_above_the_threshold(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    size = 2 * manager.chunk_size + 12345  # three PATCHes
    digest = write_random(path, size)
    seen: list[Progress] = []
    result = manager.upload(path, bucket, "big.bin", progress=seen.append, verify=True)
    assert result.method == "resumable"
    assert result.bytes_sent == size and result.resumed_from == 0
    assert result.verified and result.md5 == digest
    assert seen[-1].done == size
    assert remote_md5(manager, bucket, "big.bin") == digest
    assert not any(manager.resume_store.directory.glob("*.json"))  # forgotten when done


@pytest.mark.parametrize("chunk_size", [300_000, MiB + MiB // 2 + 3, 2 * MiB])
def test_resumable_chunks_of_any_size_land_byte_identical(
    stack,  # type: ignore[no-untyped-def]
    bucket: str,
    tmp_path: Path,
    chunk_size: int,
) -> None:
    # Chunks smaller than, not a multiple of, and a multiple of the 1 MiB read block:
    # the next chunk's first block is read ahead, and must be exactly its bytes.
    settings = settings_for(stack.url, stack.service_role_key, chunk_size=chunk_size)
    path = tmp_path / "odd.bin"
    size = 3 * chunk_size + chunk_size // 3 + 1
    digest = write_random(path, size)
    progress: list[Progress] = []
    with StorageManager(settings, resume_dir=None) as chunked:
        result = chunked.upload(path, bucket, "odd.bin", resumable=True, progress=progress.append)
    assert (result.method, result.bytes_sent, result.retries) == ("resumable", size, 0)
    assert result.attempts == 1 + 4  # create, then four PATCHes
    assert progress[-1].done == size and all(p.done <= size for p in progress)
    with StorageManager(settings, resume_dir=None) as plain:
        assert remote_md5(plain, bucket, "odd.bin") == digest


def test_resumable_upload_resumes_a_remembered_url(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    """Start a TUS upload by hand (first chunk only), then let upload() finish it."""
    from hybridkit.storage.transfer import open_source
    from hybridkit.storage.tus import ResumeStore

    path = tmp_path / "half.bin"
    size = 2 * manager.chunk_size + 1000
    digest = write_random(path, size)
    with open_source(path) as src:
        resume_key = ResumeStore.make_key(manager.storage_url, bucket, "half.bin", src)
        url = manager.tus._create(
            src,
            bucket,
            "half.bin",
            {"bucketName": bucket, "objectName": "half.bin", "contentType": "x/y"},
            False,
            AttemptLog(),
        )
        manager.tus._patch(url, src, 0, lambda n: None, "test")
    assert manager.resume_store is not None
    manager.resume_store.put(resume_key, url)
    result = manager.upload(path, bucket, "half.bin")
    assert result.resumed_from == manager.chunk_size
    assert result.bytes_sent == size - manager.chunk_size
    assert remote_md5(manager, bucket, "half.bin") == digest


@pytest.mark.parametrize("remembered_id", ["gone", "malformed"])
def test_stale_remembered_url_is_forgotten_and_restarted(
    manager: StorageManager, bucket: str, tmp_path: Path, remembered_id: str
) -> None:
    from hybridkit.storage.transfer import open_source
    from hybridkit.storage.tus import ResumeStore

    path = tmp_path / "stale.bin"
    size = manager.chunk_size + 10
    digest = write_random(path, size)
    with open_source(path) as src:
        resume_key = ResumeStore.make_key(manager.storage_url, bucket, "stale.bin", src)
    assert manager.resume_store is not None
    # A well-formed id of an upload the server no longer has (404), or a malformed one
    # (a 400 "Invalid upload id" on the real server, and here): both start again.
    gone = f"{bucket}/stale.bin/{uuid.uuid4()}"
    upload_id = (
        base64.urlsafe_b64encode(gone.encode()).decode().rstrip("=")
        if remembered_id == "gone"
        else "no-such-upload"
    )
    manager.resume_store.put(resume_key, f"{manager.storage_url}/upload/resumable/{upload_id}")
    result = manager.upload(path, bucket, "stale.bin")
    assert result.resumed_from == 0 and result.bytes_sent == size
    assert remote_md5(manager, bucket, "stale.bin") == digest
    assert manager.resume_store.get(resume_key) is None


# --------------------------------------------------------------------------- downloads


def test_download_is_verified_and_renamed(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    digest = write_random(src, 5 * MiB + 3)
    manager.upload(src, bucket, "a/b/src.bin")
    out = tmp_path / "out"
    out.mkdir()
    seen: list[Progress] = []
    result = manager.download(bucket, "a/b/src.bin", out, progress=seen.append)
    assert Path(result.path) == out / "src.bin"
    assert result.verified and result.md5 == digest and md5_file(out / "src.bin") == digest
    assert seen[-1].done == result.size
    assert [p.name for p in out.iterdir()] == ["src.bin"]  # no temporary left behind
    with pytest.raises(ConflictError):
        manager.download(bucket, "a/b/src.bin", out / "src.bin", overwrite=False)
    with pytest.raises(NotFoundError):
        manager.download(bucket, "missing.bin", out / "missing.bin")
    assert not (out / "missing.bin").exists()


def test_download_resumes_a_partial_file_with_range(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src.bin"
    digest = write_random(src, 4 * MiB)
    manager.upload(src, bucket, "r.bin")
    etag = manager.info(bucket, "r.bin").etag
    dest = tmp_path / "r.bin"
    part = tmp_path / ".r.bin.hkpart"
    part.write_bytes(src.read_bytes()[: 3 * MiB])  # what a killed process left
    (tmp_path / ".r.bin.hkpart.json").write_text(json.dumps({"etag": etag, "total": 4 * MiB}))
    result = manager.download(bucket, "r.bin", dest)
    assert result.resumed_from == 3 * MiB
    assert result.bytes_received == MiB
    assert md5_file(dest) == digest


def test_download_prefix_and_folder_upload(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = {
        "a.csv": 10,
        "b.json": 2000,
        "notes/readme.md": 300,
        "notes/draft.tmp": 5,
        "img/x.png": 7 * MiB,  # resumable
        "deep/er/data.csv": 123,
    }
    for rel, size in files.items():
        write_random(tree / rel, size)
    report = manager.upload_folder(tree, bucket, "site", exclude=["*.tmp"], jobs=3)
    assert report.ok, report.failed
    assert sorted(r.target for r in report.transferred) == sorted(
        f"site/{k}" for k in files if not k.endswith(".tmp")
    )
    assert manager.info(bucket, "site/b.json").content_type == "application/json"
    assert manager.info(bucket, "site/img/x.png").content_type == "image/png"

    (tree / "a.csv").write_bytes(b"changed!")
    again = manager.upload_folder(tree, bucket, "site", exclude=["*.tmp"], upsert=True)
    assert [r.target for r in again.transferred] == ["site/a.csv"]
    assert len(again.skipped) == 4 and all(r.reason == "unchanged" for r in again.skipped)

    conflict = manager.upload_folder(tree, bucket, "site", include=["*.csv"], skip_unchanged=False)
    assert not conflict.ok and len(conflict.failed) == 2
    assert all("exists" in r.reason for r in conflict.failed)
    # The reason says how to go on; a conflict is no retry.
    assert all("upsert=True" in r.reason and "--upsert" in r.reason for r in conflict.failed)
    assert all(r.retries == 0 and r.attempts == 1 for r in conflict.failed)
    with pytest.raises(Exception, match="2 file"):
        conflict.raise_for_problems()

    out = tmp_path / "out"
    got = manager.download_prefix(bucket, "site/", out, include=["**/*.csv", "*.png"])
    assert got.ok
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.csv",
        "deep/er/data.csv",
        "img/x.png",
    ]
    assert md5_file(out / "img/x.png") == md5_file(tree / "img/x.png")
    assert len(manager.download_prefix(bucket, "site/", out, include=["*.csv"]).skipped) == 2


# --------------------------------------------------------------------------- listing & objects


def test_listing_paginates_recurses_and_filters(
    manager: StorageManager, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hybridkit.storage.listing as listing

    monkeypatch.setattr(listing, "LIST_PAGE", 7)  # force several pages
    names = [f"p/{i:02d}.txt" for i in range(20)] + ["p/sub/deep.csv", "q/other.csv"]
    for i, name in enumerate(names):
        manager.upload(io.BytesIO(b"x" * (i + 1)), bucket, name)
    everything = manager.list_objects(bucket)
    assert sorted(o.name for o in everything) == sorted(names)
    assert all(isinstance(o, ObjectInfo) and o.md5 for o in everything)
    assert len(manager.list_objects(bucket, "p/")) == 21
    assert [o.name for o in manager.list_objects(bucket, glob="**/*.csv")] == [
        "p/sub/deep.csv",
        "q/other.csv",
    ]
    assert [o.name for o in manager.list_objects(bucket, "p/", glob="p/*.csv")] == []
    assert len(manager.list_objects(bucket, "p/", min_size=5, max_size=10)) == 6
    assert manager.list_objects(bucket, older_than=timedelta(hours=1)) == []
    assert len(manager.list_objects(bucket, newer_than=timedelta(hours=1))) == 22
    level = manager.list_objects(bucket, "p/", recursive=False)
    assert [o.name for o in level if o.is_folder] == ["p/sub/"]
    assert len([o for o in level if not o.is_folder]) == 20


def test_remove_move_copy_sign(manager: StorageManager, bucket: str, unique_name: str) -> None:
    for i in range(5):
        manager.upload(io.BytesIO(b"%d" % i), bucket, f"r/{i}.txt")
    removed = manager.remove(bucket, ["r/0.txt", "r/1.txt", "r/nope.txt"])
    assert sorted(removed) == ["r/0.txt", "r/1.txt"]
    assert manager.remove(bucket, ["r/0.txt"]) == []  # a repeat is harmless
    manager.move(bucket, "r/2.txt", "m/2.txt")
    assert not manager.exists(bucket, "r/2.txt") and manager.exists(bucket, "m/2.txt")
    with pytest.raises(NotFoundError):
        manager.move(bucket, "r/2.txt", "m/again.txt")
    manager.copy(bucket, "r/3.txt", "c/3.txt")
    with pytest.raises(ConflictError):
        manager.copy(bucket, "r/3.txt", "c/3.txt")
    manager.copy(bucket, "r/4.txt", "c/3.txt", upsert=True)
    assert remote_md5(manager, bucket, "c/3.txt") == hashlib.md5(b"4").hexdigest()
    with temp_bucket(manager, unique_name + "-2") as other:
        manager.copy(bucket, "r/3.txt", "x.txt", dest_bucket=other)
        manager.move(bucket, "r/4.txt", "y.txt", dest_bucket=other)
        assert sorted(o.name for o in manager.list_objects(other)) == ["x.txt", "y.txt"]
    url = manager.signed_url(bucket, "r/3.txt", 60)
    assert httpx.get(url).content == b"3"
    urls = manager.signed_urls(bucket, ["r/3.txt", "missing.txt"], 60)
    assert urls["missing.txt"] is None and httpx.get(urls["r/3.txt"] or "").content == b"3"
    assert manager.remove_prefix(bucket, "c/") == ["c/3.txt"]


def test_verify_by_etag_and_by_download(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "v.bin"
    write_random(path, 100_000)
    manager.upload(path, bucket, "v.bin")
    assert manager.verify(bucket, "v.bin", path).method == "etag"
    deep = manager.verify(bucket, "v.bin", path, deep=True)
    assert deep.ok and deep.method == "download"
    assert manager.verify(bucket, "v.bin").ok  # stored bytes match their own ETag
    other = tmp_path / "other.bin"
    write_random(other, 100_000)
    report = manager.verify(bucket, "v.bin", other)
    assert not report.ok and "MD5 differs" in report.problems[0]


# --------------------------------------------------------------------------- facade


def test_facade_returns_results_with_metadata(stack, tmp_path: Path, unique_name: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(stack.url, stack.service_role_key)
    with HybridSupabaseManager(settings, resume_dir=tmp_path / "r") as hm:
        created = hm.create_bucket(unique_name)
        assert isinstance(created, HybridOperationResult) and created.success
        assert created.layer_used == "storage"
        assert {"attempts", "retries", "bytes", "duration"} <= set(created.metadata)
        path = tmp_path / "f.txt"
        path.write_bytes(b"hello world")
        up = hm.upload_file(unique_name, path)
        assert up.success and up.data.key == "f.txt"
        assert up.metadata["bytes"] == 11 and up.metadata["attempts"] == 1
        down = hm.download_file(unique_name, "f.txt", tmp_path / "g.txt")
        assert down.success and (tmp_path / "g.txt").read_bytes() == b"hello world"
        assert down.metadata["bytes"] == 11
        missing = hm.download_file(unique_name, "nope.txt", tmp_path / "n.txt")
        assert not missing.success and isinstance(missing.error, NotFoundError)
        assert (
            missing.metadata["attempts"] == 1 and missing.metadata["error_type"] == "NotFoundError"
        )
        with pytest.raises(NotFoundError):
            missing.unwrap()
        listed = hm.list_buckets()
        assert unique_name in [b.id for b in listed.data]
        assert hm.empty_bucket(unique_name).success
        assert hm.delete_bucket(unique_name).success
        stats = hm.stats()
        assert stats["download_file"]["calls"] == 2 and stats["download_file"]["failures"] == 1
        assert stats["upload_file"]["bytes"] == 11
        assert stats["total"]["calls"] == 7
        health = hm.health_check()
        assert isinstance(health.data, HealthReport)
        storage_check = health.data.checks[0]
        assert storage_check.reachable and storage_check.auth_ok
        assert storage_check.latency is not None and storage_check.clock_skew is not None
        assert storage_check.clock_skew == 0.0  # one machine: in step, not "-1 s"
        assert stack.service_role_key not in repr(hm) + repr(hm.storage) + repr(settings)


def test_rpc_through_the_facade(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(stack.url, stack.service_role_key)
    with HybridSupabaseManager(settings, resume_dir=None) as hm:
        missing = hm.execute_rpc("hybridkit_no_such_function", {"x": 1})
        assert not missing.success and missing.layer_used == "rest"
        assert isinstance(missing.error, NotFoundError), missing.error
        assert missing.metadata["attempts"] == 1


def test_a_bad_key_is_an_auth_error_with_no_secret_in_it(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.not-a-real-signature-xyz"
    with HybridSupabaseManager(settings_for(stack.url, bad), resume_dir=None) as hm:
        result = hm.list_buckets()
        assert not result.success and isinstance(result.error, AuthError), result.error
        assert result.metadata["attempts"] == 1
        assert bad not in str(result.error) and bad not in repr(result)
        health = hm.health_check()
        assert not health.success and not health.data.checks[0].auth_ok


def test_folder_progress_counts_files_and_leaves_skipped_bytes_out_of_the_rate(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:

    tree = tmp_path / "tree"
    for i in range(5):
        write_random(tree / f"f{i}.bin", 40_000 + i)
    first: list[Progress] = []
    assert manager.upload_folder(tree, bucket, "p", jobs=2, progress=first.append).ok
    assert first[-1].finished and first[-1].files_done == first[-1].files_total == 5
    assert first[-1].skipped == 0
    assert [s.files_done for s in first] == sorted(s.files_done for s in first)  # only grows

    again: list[Progress] = []
    report = manager.upload_folder(tree, bucket, "p", jobs=2, progress=again.append)
    assert [r.status for r in report.results] == ["skipped"] * 5
    last = again[-1]
    assert last.files_done == 5 and last.done == last.total == last.skipped
    assert all(s.rate == 0 for s in again)  # nothing was sent: no throughput to show
