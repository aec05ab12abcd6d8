"""``hybridkit storage sync`` between two local stacks named only by HYBRIDKIT_PROFILE_*."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridkit.cli import main
from hybridkit.config import settings_for_profile
from hybridkit.errors import HybridError
from hybridkit.storage import StorageManager

# key -> (bytes, content type, cache control seconds, user metadata)
OBJECTS: dict[str, tuple[bytes, str, int, dict[str, Any] | None]] = {
    "top.txt": (b"top level\n", "text/plain", 3600, None),
    "nested/deeper/leaf.txt": (b"leaf " * 100, "text/plain", 60, {"owner": "ops", "n": 2}),
    "with space & punct (1)!,=+@.txt": (b"odd key", "text/plain", 3600, None),
    "empty.bin": (b"", "application/octet-stream", 3600, None),
    "custom.dat": (bytes(range(256)) * 40, "application/x-custom", 120, {"tag": "x"}),
}
MIMES = ["text/plain", "application/octet-stream", "application/x-custom"]


@pytest.fixture(scope="module")
def second_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from hybridkit.local import LocalStack

    with LocalStack(dir=tmp_path_factory.mktemp("second-stack"), port=0) as local:
        yield local


@pytest.fixture
def profiles(
    stack: Any, second_stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[StorageManager, StorageManager]:
    """``src`` is the session stack, ``dst`` a second one; no SUPABASE_* is set."""
    if not stack.local:
        pytest.skip("needs two local stacks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, target in (("SRC", stack), ("DST", second_stack)):
        monkeypatch.setenv(f"HYBRIDKIT_PROFILE_{name}_URL", target.url)
        monkeypatch.setenv(f"HYBRIDKIT_PROFILE_{name}_SERVICE_ROLE_KEY", target.service_role_key)
    src = StorageManager(settings_for_profile("src"), resume_dir=None)
    dst = StorageManager(settings_for_profile("dst"), resume_dir=None)
    return src, dst


def _seed(storage: StorageManager, public: str, private: str) -> None:
    storage.create_bucket(public, public=True, file_size_limit=1_000_000, allowed_mime_types=MIMES)
    storage.create_bucket(private)
    for bucket in (public, private):
        for key, (data, ctype, cache, meta) in OBJECTS.items():
            path = Path(f"seed-{uuid.uuid4().hex}")
            path.write_bytes(data)
            storage.upload(
                path, bucket, key, content_type=ctype, cache_control=cache, metadata=meta
            )
            path.unlink()


def _state(storage: StorageManager, bucket: str) -> dict[str, tuple[Any, ...]]:
    out = {}
    for obj in storage.iter_objects(bucket):
        info = storage.info(bucket, obj.name)
        out[obj.name] = (
            info.size,
            info.md5,
            info.content_type,
            info.cache_control,
            dict(info.user_metadata or {}),
        )
    return out


def _config(storage: StorageManager, bucket: str) -> tuple[Any, ...]:
    b = storage.get_bucket(bucket)
    return (b.public, b.file_size_limit, sorted(b.allowed_mime_types or ()))


def _cleanup(storage: StorageManager, *buckets: str) -> None:
    for bucket in buckets:
        with contextlib.suppress(HybridError):
            storage.delete_bucket(bucket, force=True)


def test_sync_project_to_project(
    profiles: tuple[StorageManager, StorageManager], capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = profiles
    tag = uuid.uuid4().hex[:8]
    public, private = f"pub-{tag}", f"priv-{tag}"
    _seed(src, public, private)
    try:
        # Only these two buckets: a whole-project sync would also copy other tests' buckets.
        for bucket in (public, private):
            assert main(["storage", "sync", f"ss://src/{bucket}", f"ss://dst/{bucket}"]) == 0
        err = capsys.readouterr().err
        assert f"{len(OBJECTS)} transferred, 0 skipped, 0 failed" in err
        assert f"created bucket {public}" in err

        for bucket in (public, private):
            assert _config(dst, bucket) == _config(src, bucket)
            assert _state(dst, bucket) == _state(src, bucket)
            for key, (data, *_rest) in OBJECTS.items():
                got = Path("got")
                dst.download(bucket, key, got)
                assert got.read_bytes() == data
        assert _config(dst, public) == (True, 1_000_000, sorted(MIMES))
        leaf = dst.info(private, "nested/deeper/leaf.txt")
        assert leaf.user_metadata == {"owner": "ops", "n": 2}
        assert leaf.cache_control == "max-age=60"
        assert dst.info(private, "custom.dat").content_type == "application/x-custom"

        # A second run rewrites nothing.
        stamps = {o.name: o.updated_at for o in dst.iter_objects(private)}
        assert main(["storage", "sync", f"ss://src/{private}", f"ss://dst/{private}"]) == 0
        assert f"0 transferred, {len(OBJECTS)} skipped, 0 failed" in capsys.readouterr().err
        assert {o.name: o.updated_at for o in dst.iter_objects(private)} == stamps

        # A changed object is copied again; a deletion is mirrored only with --delete.
        Path("changed.txt").write_bytes(b"changed\n")
        src.upload("changed.txt", private, "top.txt", upsert=True, content_type="text/plain")
        src.remove(private, ["custom.dat"])
        assert main(["storage", "sync", "--dry-run", "--delete", f"ss://src/{private}",
                     f"ss://dst/{private}"]) == 0  # fmt: skip
        plan = capsys.readouterr().out
        assert "copy\tss://src/" in plan and "top.txt (changed)" in plan
        assert "delete\tss://dst/" in plan and "custom.dat" in plan
        assert dst.exists(private, "custom.dat")  # a dry run changes nothing
        assert main(["storage", "sync", f"ss://src/{private}", f"ss://dst/{private}"]) == 0
        assert dst.exists(private, "custom.dat")
        assert main(["storage", "sync", "--delete", f"ss://src/{private}",
                     f"ss://dst/{private}"]) == 0  # fmt: skip
        assert "deleted " in capsys.readouterr().err
        assert not dst.exists(private, "custom.dat")
        assert _state(dst, private) == _state(src, private)

        # And back the other way, into a prefix of a new bucket.
        back = f"back-{tag}"
        assert main(["storage", "sync", f"ss://dst/{private}", f"ss://src/{back}/copy"]) == 0
        assert {o.name for o in src.iter_objects(back)} == {
            f"copy/{k}" for k in OBJECTS if k != "custom.dat"
        }
        _cleanup(src, back)
    finally:
        _cleanup(src, public, private)
        _cleanup(dst, public, private)


def test_sync_folder_both_ways(
    profiles: tuple[StorageManager, StorageManager],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dst = profiles[1]
    bucket = f"fold-{uuid.uuid4().hex[:8]}"
    tree = tmp_path / "tree"
    for key, (data, *_rest) in OBJECTS.items():
        (tree / key).parent.mkdir(parents=True, exist_ok=True)
        (tree / key).write_bytes(data)
    try:
        assert main(["storage", "sync", str(tree), f"ss://dst/{bucket}/up"]) == 0
        assert f"{len(OBJECTS)} transferred" in capsys.readouterr().err
        assert main(["storage", "sync", str(tree), f"ss://dst/{bucket}/up"]) == 0
        assert f"0 transferred, {len(OBJECTS)} skipped" in capsys.readouterr().err

        down = tmp_path / "down"
        assert main(["storage", "sync", f"ss://dst/{bucket}/up", str(down)]) == 0
        for key, (data, *_rest) in OBJECTS.items():
            assert (down / key).read_bytes() == data
        (down / "stray.txt").write_text("not in the bucket")
        assert main(["storage", "sync", "--delete", f"ss://dst/{bucket}/up", str(down)]) == 0
        assert "0 transferred" in capsys.readouterr().err
        assert not (down / "stray.txt").exists()
    finally:
        _cleanup(dst, bucket)


def test_sync_refuses_what_does_not_fit(
    profiles: tuple[StorageManager, StorageManager], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert main(["storage", "sync", str(tmp_path), str(tmp_path / "b")]) == 1
    assert "ss:// path on at least one side" in capsys.readouterr().err
    assert main(["storage", "sync", "ss://nosuch/b", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no profile 'nosuch'" in err and "dst, src" in err
    assert main(["storage", "sync", "-j", "0", "ss://src/b", str(tmp_path)]) == 1
