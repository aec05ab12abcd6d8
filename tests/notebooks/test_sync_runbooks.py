"""storage_sync, restore_drill and storage_inventory run headless against local stacks.

The destination of a sync is a second local stack named only by HYBRIDKIT_PROFILE_DST_*;
what landed is read back through supabase-py, not through hybridkit.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

RunBook = Callable[..., Any]


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from hybridkit.local import LocalStack

    with LocalStack(dir=tmp_path_factory.mktemp("nb-second"), port=0) as local:
        yield local


@pytest.fixture
def dst_env(second: Any) -> dict[str, str]:
    return {
        "HYBRIDKIT_PROFILE_DST_URL": second.url,
        "HYBRIDKIT_PROFILE_DST_SERVICE_ROLE_KEY": second.service_role_key,
    }


def _storage(url: str, key: str) -> Any:
    from supabase import create_client

    return create_client(url, key).storage


def _seed(storage: Any, bucket: str, objects: dict[str, bytes]) -> None:
    storage.create_bucket(bucket, options={"public": True, "file_size_limit": 1_000_000})
    for key, data in objects.items():
        storage.from_(bucket).upload(
            key, data, {"content-type": "text/plain", "cache-control": "120", "upsert": "true"}
        )


def _drop(storage: Any, bucket: str) -> None:
    try:
        storage.empty_bucket(bucket)
        storage.delete_bucket(bucket)
    except Exception:
        pass


OBJECTS = {"a.txt": b"a" * 10, "deep/er/b c.txt": b"b" * 2000, "empty.txt": b""}


def test_storage_sync_plans_copies_and_deletes_only_when_confirmed(
    run_book: RunBook, stack: Any, second: Any, dst_env: dict[str, str], bucket: str
) -> None:
    src = _storage(stack.url, stack.service_role_key)
    dst = _storage(second.url, second.service_role_key)
    _seed(src, bucket, OBJECTS)
    try:
        args = {"source": f"ss:///{bucket}", "destination": f"ss://dst/{bucket}"}
        plan = run_book("storage_sync", env=dst_env, **args)
        assert plan.ok, plan.result.error
        assert plan.summary["to copy"] == 3 and plan.summary["buckets to create"] == 1
        assert "DRY RUN: nothing was copied" in plan.text()
        assert bucket not in {b.name for b in dst.list_buckets()}

        done = run_book("storage_sync", env=dst_env, dry_run=False, **args)
        assert done.ok, done.result.error
        assert done.summary["copied"] == 3 and done.summary["failed"] == 0
        assert dst.get_bucket(bucket).public is True
        assert dst.from_(bucket).download("deep/er/b c.txt") == OBJECTS["deep/er/b c.txt"]
        assert "sync  [##########] 100%  2.0 KiB/2.0 KiB  3/3 files" in done.text()

        src.from_(bucket).remove(["a.txt"])
        refused = run_book("storage_sync", env=dst_env, dry_run=False, delete=True, **args)
        assert refused.result.outcome == "failed"
        assert dst.from_(bucket).download("a.txt") == OBJECTS["a.txt"]
        mirrored = run_book(
            "storage_sync", env=dst_env, dry_run=False, delete=True, confirm=args["destination"],
            **args,
        )  # fmt: skip
        assert mirrored.ok, mirrored.result.error
        assert mirrored.summary["deleted"] == 1 and mirrored.summary["unchanged"] == 2
        assert "a.txt" not in {o["name"] for o in dst.from_(bucket).list()}
    finally:
        _drop(src, bucket)
        _drop(dst, bucket)


def test_storage_sync_refuses_two_folders_before_anything_runs(run_book: RunBook) -> None:
    from hybridkit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="both folders"):
        run_book("storage_sync", source="a", destination="b")


def test_restore_drill_passes_a_good_backup_and_fails_a_tampered_one(
    run_book: RunBook, stack: Any, bucket: str, tmp_path: Path
) -> None:
    from hybridkit.config import Settings
    from hybridkit.storage import StorageManager
    from hybridkit.storage.backup import backup
    from hybridkit.storage.sync import Remote

    src = _storage(stack.url, stack.service_role_key)
    _seed(src, bucket, OBJECTS)
    root = tmp_path / "backups"
    env = {"SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key}
    with StorageManager(Settings.load(env=env, env_file=None), resume_dir=None) as storage:
        assert backup(Remote(storage, bucket), root / "old").ok
        assert backup(Remote(storage, bucket), root / "new").ok
    try:
        good = run_book("restore_drill", backup_dir=str(root))
        assert good.ok, good.result.error
        values = good.summary
        assert values["backup"].endswith("new") and values["differences"] == 0
        assert values["objects restored"] == 3 and values["buckets restored"] == 1
        assert values["backup age"].endswith(" h")
        port = int(values["drill stack"].split()[1].rstrip(","))
        assert port > 0 and f"http://127.0.0.1:{port}" not in (stack.url,)
        with pytest.raises(OSError):  # the drill's stack was stopped
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

        target = root / "new" / "objects" / bucket / "deep" / "er" / "b c.txt"
        target.write_bytes(b"B" + target.read_bytes()[1:])
        bad = run_book("restore_drill", backup_dir=str(root))
        assert bad.result.outcome == "failed"
        assert bad.summary["differences"] >= 1
        assert f"{bucket}/deep/er/b c.txt: differs from the manifest" in bad.text()

        stale = run_book("restore_drill", backup_dir=str(root / "old"), max_age_hours=1e-9)
        assert stale.result.outcome == "failed" and "h old" in stale.text()
    finally:
        _drop(src, bucket)


def test_storage_inventory_totals_charts_and_growth(
    run_book: RunBook, stack: Any, bucket: str, runs_dir: Path
) -> None:
    src = _storage(stack.url, stack.service_role_key)
    _seed(src, bucket, OBJECTS)
    try:
        first = run_book("storage_inventory", bucket=bucket, top=2, runs_dir=str(runs_dir))
        assert first.ok, first.result.error
        assert first.summary["total objects"] == 3 and first.summary["total bytes"] == 2010
        assert first.summary["largest object"].startswith(f"{bucket}/deep/er/b c.txt")
        text = first.text()
        assert f"{bucket}/deep/" in text and "the 2 largest prefixes" in text
        for name in first.summary["charts"].split(", "):
            png = first.result.record.parent / name
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        images = [
            o
            for c in first.nb["cells"]
            for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})
        ]
        assert len(images) == 2

        src.from_(bucket).upload("more.txt", b"m" * 990, {"content-type": "text/plain"})
        second = run_book("storage_inventory", bucket=bucket, runs_dir=str(runs_dir))
        assert second.ok
        assert second.summary["total bytes"] == 3000
        assert "2 point(s): 1 earlier run(s)" in second.text()
        record = json.loads(second.result.record.read_text())
        assert record["summaries"][-1]["values"]["total objects"] == 4
    finally:
        _drop(src, bucket)


def test_upload_and_download_take_a_profile(
    run_book: RunBook, stack: Any, second: Any, dst_env: dict[str, str], bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    dst = _storage(second.url, second.service_role_key)
    here = _storage(stack.url, stack.service_role_key)
    source = tmp_path / "src"
    (source / "d").mkdir(parents=True)
    (source / "d" / "one.csv").write_bytes(b"1,2\n")
    try:
        up = run_book("upload", env=dst_env, source=str(source), bucket=bucket, profile="dst")
        assert up.ok, up.result.error
        assert f"target      {second.url}" in up.text()
        assert dst.from_(bucket).download("d/one.csv") == b"1,2\n"
        assert bucket not in {b.name for b in here.list_buckets()}
        down = run_book(
            "download", env=dst_env, bucket=bucket, dest=str(tmp_path / "back"), profile="dst"
        )
        assert down.ok, down.result.error
        assert (tmp_path / "back" / "d" / "one.csv").read_bytes() == b"1,2\n"
        unknown = run_book("upload", env=dst_env, bucket=bucket, profile="nosuch")
        assert unknown.result.outcome == "failed" and "nosuch" in unknown.text()
    finally:
        _drop(dst, bucket)
