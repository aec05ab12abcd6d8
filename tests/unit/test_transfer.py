"""Pure helpers of the storage manager: names, globs, sources, counting, resume store."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from hybridkit.errors import HybridError, InvalidInputError
from hybridkit.retry import Retrier
from hybridkit.storage.transfer import (
    CountingReader,
    cache_control_seconds,
    check_bucket,
    check_key,
    glob_match,
    guess_content_type,
    md5_from_etag,
    open_source,
    selected,
    url_path,
)
from hybridkit.storage.tus import ResumeStore, TusClient, _encode_metadata
from hybridkit.storage.values import FileResult, ObjectInfo, TransferReport

GLOBS = [
    ("a.csv", "*.csv", True),
    ("dir/a.csv", "*.csv", True),  # no slash in the pattern: matches the last segment
    ("dir/a.csv", "dir/*.csv", True),
    ("dir/sub/a.csv", "dir/*.csv", False),  # * stays in one segment
    ("dir/sub/a.csv", "dir/**/*.csv", True),
    ("dir/a.csv", "dir/**/*.csv", True),  # **/ may match nothing
    ("a.csv", "**/*.csv", True),
    ("x/y/z", "**", True),
    ("notes/draft.tmp", "*.tmp", True),
    ("a1.txt", "a?.txt", True),
    ("a12.txt", "a?.txt", False),
    ("b.txt", "[ab].txt", True),
    ("c.txt", "[!ab].txt", True),
    ("a.txt", "[!ab].txt", False),
]


@pytest.mark.parametrize(("path", "pattern", "expected"), GLOBS)
def test_glob_match(path: str, pattern: str, expected: bool) -> None:
    assert glob_match(path, pattern) is expected


def test_selected_includes_then_excludes() -> None:
    assert selected("a/b.csv", [], [])
    assert selected("a/b.csv", ["*.csv"], [])
    assert not selected("a/b.json", ["*.csv"], [])
    assert not selected("a/b.csv", ["*.csv"], ["a/**"])


@pytest.mark.parametrize("name", ["photos", "Bad Name!", "a.b-c_d", "x" * 100])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "café", " lead", "x" * 101, "a#b"])
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_bucket(name)


@pytest.mark.parametrize("key", ["a.txt", "dir/sub/a b.txt", "x+y=z&w;v.txt", "(1)!*'.$@,?"])
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "café.txt", "a#b", "100%", "a\\b", "a/../b", "./a", "x" * 1025]
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidInputError):
        check_key(key)


def test_url_path_encodes_each_segment() -> None:
    assert url_path("my bucket", "a b/c?d#e+f.txt") == "my%20bucket/a%20b/c%3Fd%23e+f.txt"


def test_md5_from_etag() -> None:
    digest = "0123456789abcdef0123456789ABCDEF"
    assert md5_from_etag(f'"{digest}"') == digest.lower()
    assert md5_from_etag(f'W/"{digest}"') == digest.lower()
    assert md5_from_etag('"abc-3"') is None
    assert md5_from_etag(None) is None


def test_content_types_and_cache_control() -> None:
    assert guess_content_type("a/b.png") == "image/png"
    assert guess_content_type("data.csv") == "text/csv"
    assert guess_content_type("noext") == "application/octet-stream"
    assert guess_content_type("x.tar.gz") == "application/gzip"
    assert cache_control_seconds(None) == "3600"
    assert cache_control_seconds(60) == "60"
    assert cache_control_seconds("max-age=120") == "120"
    with pytest.raises(InvalidInputError):
        cache_control_seconds("no-cache")


def test_open_source_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    with open_source(path) as src:
        assert (src.size, src.name, src.path) == (10, "f.bin", path)
        assert b"".join(src.read_range(3, 4)) == b"3456"
        assert src.md5() == hashlib.md5(b"0123456789").hexdigest()
    with pytest.raises(InvalidInputError), open_source(tmp_path / "missing"):
        pass


def test_open_source_from_a_file_object_keeps_position_and_ownership() -> None:
    buffer = io.BytesIO(b"headerPAYLOAD")
    buffer.seek(6)
    with open_source(buffer, name="p.bin") as src:
        assert src.size == 7
        assert b"".join(src.read_range(0, 7)) == b"PAYLOAD"
    assert not buffer.closed


def test_open_source_spools_a_pipe() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"streamed")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe, open_source(pipe) as src:
        assert src.size == 8 and b"".join(src.read_range(0, 8)) == b"streamed"


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 200_000)
    with open_source(path) as src:
        first = src.fingerprint()
    path.write_bytes(b"a" * 199_999 + b"b")
    with open_source(path) as src:
        assert src.fingerprint() != first


def test_counting_reader_counts_reads_rewinds_and_not_peeks() -> None:
    counted: list[int] = []
    with open_source(io.BytesIO(b"x" * 1000)) as src:
        raw = CountingReader(src, counted.append)
        reader = io.BufferedReader(raw, buffer_size=256)
        # httpx peeks at the length: tell, seek to the end, seek back.
        assert raw.seek(0, os.SEEK_END) == 1000 and raw.seek(0) == 0
        assert counted == []
        assert len(reader.read(600)) == 600
        reader.seek(0)  # a retry starts over
        assert sum(counted) == 0
        assert len(reader.read()) == 1000
    assert sum(counted) == 1000


def test_resume_store_round_trip_and_expiry(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "resume", max_age=60)
    assert store.get("k") is None
    store.put("k", "http://h/upload/resumable/abc", bucket="b")
    assert store.get("k") == "http://h/upload/resumable/abc"
    assert json.loads((tmp_path / "resume" / "k.json").read_text())["bucket"] == "b"
    store.forget("k")
    assert store.get("k") is None
    store.put("old", "u")
    record = json.loads((tmp_path / "resume" / "old.json").read_text())
    record["created"] = time.time() - 120
    (tmp_path / "resume" / "old.json").write_text(json.dumps(record))
    assert store.get("old") is None and not (tmp_path / "resume" / "old.json").exists()
    (tmp_path / "resume" / "bad.json").write_text("{not json")
    assert store.get("bad") is None


def test_resume_key_covers_target_and_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"z" * 100)
    with open_source(path) as src:
        key = ResumeStore.make_key("http://h/storage/v1", "b", "k", src)
        assert key != ResumeStore.make_key("http://h/storage/v1", "b", "k2", src)
        assert key != ResumeStore.make_key("http://other/storage/v1", "b", "k", src)
    os.utime(path, ns=(1, 1))
    with open_source(path) as src:
        assert key != ResumeStore.make_key("http://h/storage/v1", "b", "k", src)


def test_tus_location_is_kept_on_the_configured_origin() -> None:
    tus = TusClient(httpx.Client(), "http://127.0.0.1:9/storage/v1", {}, Retrier(), None, 10)
    base = "http://127.0.0.1:9/storage/v1/upload/resumable"
    assert tus._absolute("http://internal:8000/storage/v1/upload/resumable/XYZ") == f"{base}/XYZ"
    assert tus._absolute("/storage/v1/upload/resumable/XYZ") == f"{base}/XYZ"
    assert tus._absolute(f"{base}/XYZ") == f"{base}/XYZ"


def test_tus_metadata_encoding() -> None:
    encoded = _encode_metadata({"bucketName": "b", "objectName": "a b.txt", "empty": ""})
    assert encoded == "bucketName Yg==,objectName YSBiLnR4dA=="


def test_transfer_report() -> None:
    error = InvalidInputError("nope")
    report = TransferReport(
        (
            FileResult("a", "p/a", "uploaded", 10, 2, 1, 10),
            FileResult("b", "p/b", "skipped", 5, reason="unchanged"),
            FileResult("c", "p/c", "failed", 7, 1, 0, reason="nope", error=error),
        ),
        duration=1.0,
    )
    assert not report.ok and report.bytes == 10 and report.retries == 1
    assert "1 transferred, 1 skipped, 1 failed" in report.summary()
    with pytest.raises(HybridError, match="c -> p/c: nope"):
        report.raise_for_problems()


def test_object_info_md5() -> None:
    info = ObjectInfo(bucket="b", name="k", etag='"d41d8cd98f00b204e9800998ecf8427e"')
    assert info.md5 == "d41d8cd98f00b204e9800998ecf8427e"
