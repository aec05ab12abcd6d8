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
    # refused input exits 2, before anything is done (1 is for what failed)
    assert main(["storage", "sync", str(tmp_path), str(tmp_path / "b")]) == 2
    assert "ss:// path on at least one side" in capsys.readouterr().err
    assert main(["storage", "sync", "ss://nosuch/b", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no profile 'nosuch'" in err and "dst, src" in err
    assert main(["storage", "sync", "-j", "0", "ss://src/b", str(tmp_path)]) == 2


def test_backup_verify_restore(
    profiles: tuple[StorageManager, StorageManager],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, dst = profiles
    tag = uuid.uuid4().hex[:8]
    public, private = f"bpub-{tag}", f"bpriv-{tag}"
    _seed(src, public, private)
    bak = tmp_path / "bak"
    try:
        for bucket in (public, private):
            assert main(["storage", "backup", f"ss://src/{bucket}", str(bak)]) == 0
        assert f"{len(OBJECTS)} transferred" in capsys.readouterr().err
        manifest = (bak / "manifest.jsonl").read_text().splitlines()
        assert len(manifest) == 2 * len(OBJECTS)
        assert '"owner": "ops"' in (bak / "manifest.jsonl").read_text()
        assert (bak / "objects" / private / "with space & punct (1)!,=+@.txt").is_file()
        # Incremental: nothing is downloaded again.
        assert main(["storage", "backup", f"ss://src/{private}", str(bak)]) == 0
        assert f"0 transferred, {len(OBJECTS)} skipped" in capsys.readouterr().err

        assert main(["storage", "verify", str(bak)]) == 0
        assert main(["storage", "verify", str(bak), "--against", "ss://src/"]) == 0
        capsys.readouterr()

        # Restore into the other project: buckets with their configuration, objects identical.
        for bucket in (public, private):
            assert main(["storage", "restore", str(bak), f"ss://dst/{bucket}"]) == 0
        assert _config(dst, public) == _config(src, public)
        assert _state(dst, private) == _state(src, private)
        assert main(["storage", "verify", str(bak), "--against", "ss://dst/", "--deep"]) == 0
        # A deleted bucket comes back; what is identical is skipped.
        dst.delete_bucket(public, force=True)
        capsys.readouterr()
        assert main(["storage", "restore", str(bak), "ss://dst/"]) == 0
        err = capsys.readouterr().err
        assert f"{len(OBJECTS)} transferred, {len(OBJECTS)} skipped" in err
        assert _state(dst, public) == _state(src, public)

        # One changed byte in the backup is caught, and named.
        target = bak / "objects" / private / "custom.dat"
        data = bytearray(target.read_bytes())
        data[100] ^= 1
        target.write_bytes(bytes(data))
        (bak / "objects" / private / "extra.txt").write_text("not in the manifest")
        assert main(["storage", "verify", str(bak)]) == 1
        out = capsys.readouterr().out
        assert f"{private}/custom.dat: differs from the manifest" in out
        assert f"{private}/extra.txt: in the backup but not in the manifest" in out
        # A live project that differs from the backup is caught too.
        src.remove(private, ["top.txt"])
        assert main(["storage", "verify", str(bak), "--against", f"ss://src/{private}"]) == 1
        assert f"{private}/top.txt: not in the live project" in capsys.readouterr().out
    finally:
        _cleanup(src, public, private)
        _cleanup(dst, public, private)


def test_a_sync_stopped_by_its_deadline_continues_on_the_next_run(
    profiles: tuple[StorageManager, StorageManager],
) -> None:
    from hybridkit.storage.sync import Remote, sync

    src, dst = profiles
    tag = uuid.uuid4().hex[:8]
    public, private = f"dpub-{tag}", f"dpriv-{tag}"
    _seed(src, public, private)
    try:
        # A deadline already past when the copies start: nothing is copied, all is named.
        stopped = sync(Remote(src, private), Remote(dst, private), deadline=1e-9)
        assert not stopped.ok
        assert len(stopped.transfer.failed) == len(OBJECTS)
        assert all("run the sync again" in r.reason for r in stopped.transfer.failed)
        dst.upload(_write(b"leaf " * 100), private, "nested/deeper/leaf.txt",
                   content_type="text/plain", cache_control=60,
                   metadata={"owner": "ops", "n": 2})  # fmt: skip
        done = sync(Remote(src, private), Remote(dst, private))
        assert done.ok
        assert len(done.transfer.transferred) == len(OBJECTS) - 1  # the one that had landed
        assert len(done.transfer.skipped) == 1
        assert _state(dst, private) == _state(src, private)
    finally:
        _cleanup(src, public, private)
        _cleanup(dst, public, private)


def _write(data: bytes) -> Path:
    path = Path(f"w-{uuid.uuid4().hex}")
    path.write_bytes(data)
    return path


def test_whole_project_sync(
    profiles: tuple[StorageManager, StorageManager], capsys: pytest.CaptureFixture[str]
) -> None:
    # From the second stack, which holds only the buckets this module makes (and removes).
    src, dst = profiles
    tag = uuid.uuid4().hex[:8]
    public, private = f"wpub-{tag}", f"wpriv-{tag}"
    _seed(dst, public, private)
    try:
        assert main(["storage", "ls", "ss://dst/"]) == 0
        assert {f"{public}/", f"{private}/"} <= set(capsys.readouterr().out.split())
        assert main(["storage", "sync", "--dry-run", "ss://dst/", "ss://src/"]) == 0
        plan = capsys.readouterr().out
        assert f"create-bucket\t{public} (public, 1000000," in plan
        assert public not in {b.id for b in src.list_buckets()}  # a dry run creates nothing
        assert main(["storage", "sync", "ss://dst/", "ss://src/"]) == 0
        for bucket in (public, private):
            assert _config(src, bucket) == _config(dst, bucket)
            assert _state(src, bucket) == _state(dst, bucket)
        assert main(["storage", "sync", "ss://dst/", "ss://src/"]) == 0
        assert "0 transferred" in capsys.readouterr().err
    finally:
        _cleanup(src, public, private)
        _cleanup(dst, public, private)


def test_cp_names_one_project(
    profiles: tuple[StorageManager, StorageManager],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dst = profiles[1]
    bucket = f"cp-{uuid.uuid4().hex[:8]}"
    dst.create_bucket(bucket)
    try:
        one = _write(b"one")
        assert main(["storage", "cp", str(one), f"ss://dst/{bucket}/a b.txt"]) == 0
        assert dst.exists(bucket, "a b.txt")
        assert main(["storage", "cp", f"ss://dst/{bucket}/a b.txt", f"ss://src/{bucket}/x"]) == 2
        assert "use `hybridkit storage sync` between projects" in capsys.readouterr().err
        assert main(["storage", "--profile", "dst", "buckets", "list"]) == 0
        assert f"{bucket}\tprivate" in capsys.readouterr().out
    finally:
        _cleanup(dst, bucket)


def _raw_put(storage: StorageManager, bucket: str, key: str, data: bytes, **headers: str) -> None:
    """Store an object as storage-js does (a raw body): the server keeps Cache-Control verbatim."""
    import httpx

    response = httpx.post(
        f"{storage.storage_url}/object/{bucket}/{key}",
        content=data,
        headers={**storage.session.auth_headers, "x-upsert": "true", **headers},
    )
    assert response.status_code == 200, response.text


def _sha(storage: StorageManager, bucket: str, key: str, into: Path) -> str:
    import hashlib

    storage.download(bucket, key, into)
    digest = hashlib.sha256()
    with into.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    into.unlink()
    return digest.hexdigest()


def test_a_change_of_metadata_alone_is_synced_and_cache_control_is_kept_whole(
    profiles: tuple[StorageManager, StorageManager], capsys: pytest.CaptureFixture[str]
) -> None:
    from hybridkit.storage.sync import Remote, sync

    src, dst = profiles
    bucket = f"meta-{uuid.uuid4().hex[:8]}"
    src.create_bucket(bucket)
    try:
        whole = {"Content-Type": "text/plain", "Cache-Control": "public, max-age=60, immutable"}
        _raw_put(src, bucket, "whole.txt", b"kept whole", **whole)
        _raw_put(src, bucket, "nocache.txt", b"no cache", **{"Content-Type": "text/plain"})
        src.upload(_write(b"same bytes"), bucket, "meta.txt", content_type="text/plain",
                   cache_control=60, metadata={"v": 1})  # fmt: skip
        assert sync(Remote(src, bucket), Remote(dst, bucket)).ok
        assert dst.info(bucket, "whole.txt").cache_control == "public, max-age=60, immutable"
        assert dst.info(bucket, "nocache.txt").cache_control == "no-cache"
        assert _state(dst, bucket) == _state(src, bucket)
        assert sync(Remote(src, bucket), Remote(dst, bucket)).transfer.transferred == ()

        # The same bytes with other user metadata, another type, another cache control.
        src.upload(_write(b"same bytes"), bucket, "meta.txt", content_type="text/plain",
                   cache_control=60, metadata={"v": 2}, upsert=True)  # fmt: skip
        src.upload(_write(b"no cache"), bucket, "nocache.txt", content_type="text/csv",
                   upsert=True)  # fmt: skip
        assert main(["storage", "sync", "--dry-run", f"ss://src/{bucket}",
                     f"ss://dst/{bucket}"]) == 0  # fmt: skip
        plan = capsys.readouterr().out
        assert "meta.txt (metadata changed)" in plan and "nocache.txt (changed)" in plan
        assert "whole.txt" not in plan
        report = sync(Remote(src, bucket), Remote(dst, bucket))
        assert report.ok and len(report.transfer.transferred) == 2
        assert dst.info(bucket, "meta.txt").user_metadata == {"v": 2}
        assert dst.info(bucket, "nocache.txt").content_type == "text/csv"
        assert _state(dst, bucket) == _state(src, bucket)
    finally:
        _cleanup(src, bucket)
        _cleanup(dst, bucket)


def test_a_50_mb_object_streams_between_projects_and_through_a_backup(
    profiles: tuple[StorageManager, StorageManager], tmp_path: Path
) -> None:
    import os

    from hybridkit.progress import Progress
    from hybridkit.storage.backup import backup, restore, verify_backup
    from hybridkit.storage.sync import Remote, sync

    src, dst = profiles
    bucket = f"big-{uuid.uuid4().hex[:8]}"
    src.create_bucket(bucket)
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        for _ in range(50):
            fh.write(os.urandom(1024 * 1024))
    try:
        src.upload(big, bucket, "dir/big file.bin", content_type="application/x-big",
                   cache_control=120, metadata={"size": "50MB"})  # fmt: skip
        seen: list[Progress] = []
        report = sync(Remote(src, bucket), Remote(dst, bucket), progress=seen.append)
        assert report.ok, report.transfer.failed
        assert [r.status for r in report.transfer.results] == ["uploaded"]
        assert seen[-1].finished and seen[-1].done == 50 * 1024 * 1024
        assert seen[-1].files_done == seen[-1].files_total == 1
        want = _sha(src, bucket, "dir/big file.bin", tmp_path / "a")
        assert _sha(dst, bucket, "dir/big file.bin", tmp_path / "b") == want
        assert _state(dst, bucket) == _state(src, bucket)

        bak = tmp_path / "bak"
        assert backup(Remote(src, bucket), bak).ok
        assert verify_backup(bak).ok
        dst.delete_bucket(bucket, force=True)
        restored = restore(bak, Remote(dst))
        assert restored.ok and len(restored.transferred) == 1
        assert _sha(dst, bucket, "dir/big file.bin", tmp_path / "c") == want
        assert _state(dst, bucket) == _state(src, bucket)
    finally:
        _cleanup(src, bucket)
        _cleanup(dst, bucket)


def test_sync_backup_and_restore_show_one_bar_on_a_terminal(
    profiles: tuple[StorageManager, StorageManager],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    src, dst = profiles
    bucket = f"bar-{uuid.uuid4().hex[:8]}"
    src.create_bucket(bucket)
    try:
        for i in range(3):
            src.upload(_write(b"x" * 1000), bucket, f"k{i}.bin")
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        for argv, label in (
            (["storage", "sync", f"ss://src/{bucket}", f"ss://dst/{bucket}"], "sync"),
            (["storage", "backup", f"ss://src/{bucket}", str(tmp_path / "bak")], "backup"),
            (["storage", "restore", str(tmp_path / "bak"), f"ss://dst/{bucket}"], "restore"),
        ):
            assert main(argv) == 0
            err = capsys.readouterr().err
            assert f"{label}: 100%" in err and "2.93k/2.93k" in err, err
    finally:
        _cleanup(src, bucket)
        _cleanup(dst, bucket)


def test_with_policies_copies_storage_rls_policies(
    stack: Any,
    second_stack: Any,
    profiles: tuple[StorageManager, StorageManager],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import psycopg

    src, dst = profiles
    bucket = f"pol-{uuid.uuid4().hex[:8]}"
    name = f'read {bucket} "quoted"'
    src.create_bucket(bucket)
    argv = ["storage", "sync", "--with-policies", f"ss://src/{bucket}", f"ss://dst/{bucket}"]
    assert main(argv) == 2  # no DB_URL yet: bad input, said plainly, exit 2
    assert "needs a database URL" in capsys.readouterr().err
    monkeypatch.setenv("HYBRIDKIT_PROFILE_SRC_DB_URL", stack.db_url)
    monkeypatch.setenv("HYBRIDKIT_PROFILE_DST_DB_URL", second_stack.db_url)
    quoted = '"' + name.replace('"', '""') + '"'
    create = (
        f"create policy {quoted} on storage.objects for select to authenticated, anon "
        f"using (bucket_id = '{bucket}' and (storage.foldername(name))[1] = 'public')"
    )
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(create)
    try:
        assert main(["storage", "sync", "--dry-run", *argv[2:]]) == 0
        out = capsys.readouterr().out
        assert f'CREATE POLICY {quoted} ON storage."objects" AS PERMISSIVE FOR SELECT' in out
        assert 'TO "anon", "authenticated" USING (' in out
        with psycopg.connect(second_stack.db_url) as conn:  # a dry run changes nothing
            rows = conn.execute("select 1 from pg_policies where policyname = %s", [name])
            assert rows.fetchall() == []

        assert main(argv) == 0
        assert "policies: 1 to create, 0 to replace" in capsys.readouterr().err
        assert main(argv) == 0
        assert "policies: 0 to create, 0 to replace, " in capsys.readouterr().err
        with psycopg.connect(second_stack.db_url) as conn:
            got = conn.execute(
                "select cmd, roles::text[], qual from pg_policies where policyname = %s", [name]
            ).fetchall()
        with psycopg.connect(stack.db_url) as conn:
            want = conn.execute(
                "select cmd, roles::text[], qual from pg_policies where policyname = %s", [name]
            ).fetchall()
        assert got == want and len(got) == 1

        with psycopg.connect(stack.db_url, autocommit=True) as conn:  # changed at the source
            conn.execute(f"drop policy {quoted} on storage.objects")
            conn.execute(create.replace("'public'", "'shared'"))
        assert main(argv) == 0
        assert "policies: 0 to create, 1 to replace" in capsys.readouterr().err
        with psycopg.connect(second_stack.db_url) as conn:
            qual = conn.execute("select qual from pg_policies where policyname = %s", [name])
            assert "shared" in qual.fetchone()[0]  # type: ignore[index]
    finally:
        for url in (stack.db_url, second_stack.db_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"drop policy if exists {quoted} on storage.objects")
        _cleanup(src, bucket)
        _cleanup(dst, bucket)


def test_a_source_stream_that_breaks_is_read_on_with_range(
    stack: Any, profiles: tuple[StorageManager, StorageManager], tmp_path: Path
) -> None:
    import os

    from faultproxy import FaultProxy

    from hybridkit.storage.sync import Remote, sync

    src, dst = profiles
    bucket = f"flt-{uuid.uuid4().hex[:8]}"
    src.create_bucket(bucket)
    data = {"big.bin": os.urandom(9 * 1024 * 1024), "small.bin": os.urandom(300_000)}
    for key, body in data.items():
        src.upload(_write(body), bucket, key, metadata={"k": key})

    def downloads(method: str, path: str) -> bool:
        return method == "GET" and f"/object/{bucket}/" in path

    try:
        with FaultProxy(stack.url, match=downloads) as proxy:
            # Three faults in a row: within the default budget of 3 retries of one read.
            proxy.script("reset_response", "status_503", "reset_response")
            settings = settings_for_profile(
                "src",
                env={
                    "HYBRIDKIT_PROFILE_SRC_URL": proxy.url,
                    "HYBRIDKIT_PROFILE_SRC_SERVICE_ROLE_KEY": stack.service_role_key,
                },
                file=None,
            )
            with StorageManager(settings, resume_dir=None, sleep=lambda _s: None) as flaky:
                report = sync(Remote(flaky, bucket), Remote(dst, bucket), jobs=1)
        assert report.ok, report.transfer.failed
        assert proxy.counts["reset_response"] == 2 and proxy.counts["status_503"] == 1
        assert sum(r.retries for r in report.transfer.results) >= 3
        for key, body in data.items():
            dst.download(bucket, key, tmp_path / "got")
            assert (tmp_path / "got").read_bytes() == body
        assert _state(dst, bucket) == _state(src, bucket)
    finally:
        _cleanup(src, bucket)
        _cleanup(dst, bucket)
