"""Every runbook run headless by papermill against the local stack, with several parameter sets.

Checks look at what a reader of the output notebook sees (its text) and at the
target itself through supabase-py (not through hybridkit, so the two cannot
agree by sharing a bug).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hybridkit.errors import InvalidInputError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
RunBook = Callable[..., Any]  # conftest's run_book: returns a Run


@pytest.fixture(scope="module")
def storage(stack: Any) -> Any:
    from supabase import create_client

    return create_client(stack.url, stack.service_role_key).storage


def keys_in(storage: Any, bucket: str) -> set[str]:
    """Every key in ``bucket`` (recursive walk through supabase-py)."""
    found: set[str] = set()

    def walk(prefix: str) -> None:
        for row in storage.from_(bucket).list(prefix, {"limit": 1000}):
            path = f"{prefix}/{row['name']}" if prefix else row["name"]
            if row.get("id") is None:
                walk(path)
            else:
                found.add(path)

    walk("")
    return found


def bucket_names(storage: Any) -> set[str]:
    return {b.name for b in storage.list_buckets()}


def make_files(root: Path, count: int, *, size: int = 300) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sub = root / f"part-{i % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"file-{i:03d}.csv").write_bytes(bytes([i % 251]) * (size + i))
    return root


def seed(storage: Any, bucket: str, keys: list[str]) -> None:
    storage.create_bucket(bucket)
    for key in keys:
        storage.from_(bucket).upload(key, f"data of {key}".encode(), {"upsert": "true"})


# ----------------------------------------------------------------------------- health_check


def test_health_check_reports_a_healthy_local_stack(run_book: RunBook) -> None:
    run = run_book("health_check", fail_on_problem=True)
    assert run.ok, run.result.error
    assert run.summary["storage"] == "ok" and run.summary["rest"] == "ok"
    assert run.summary["problems"] == 0
    assert run.summary["circuit breaker"] == "closed"
    text = run.text()
    assert "key         service_role (not shown)" in text
    assert "mode        headless" in text
    assert run.result.target["key_role"] == "service_role"


def test_health_check_fails_the_run_when_asked_and_the_key_is_refused(run_book: RunBook) -> None:
    bad = {"SUPABASE_SERVICE_ROLE_KEY": "not-a-valid-key", "SUPABASE_ANON_KEY": ""}
    run = run_book("health_check", env=bad, fail_on_problem=True)
    assert run.result.outcome == "failed"
    assert "the health check found problems" in (run.result.error or "")
    assert "the key was refused" in run.text()
    # Without fail_on_problem the same problems are reported, and the run succeeds.
    run = run_book("health_check", env=bad)
    assert run.ok and run.summary["problems"] >= 1
    assert "the run does not fail because fail_on_problem is False" in run.text()


def test_health_check_names_an_unreachable_target(run_book: RunBook) -> None:
    run = run_book(
        "health_check", env={"SUPABASE_URL": "http://127.0.0.1:9"}, fail_on_problem=True, timeout=2
    )
    assert run.result.outcome == "failed"
    assert "unreachable" in run.text()


# ----------------------------------------------------------------------------- upload


def test_upload_of_200_files_keeps_the_output_notebook_small_and_readable(
    run_book: RunBook, bucket: str, storage: Any, tmp_path: Path
) -> None:
    source = make_files(tmp_path / "src", 200)
    run = run_book("upload", source=str(source), bucket=bucket, prefix="007", concurrency=8)
    assert run.ok, run.result.error
    assert run.summary["files"] == 200 and run.summary["uploaded"] == 200
    assert run.summary["failed"] == 0
    assert keys_in(storage, bucket) == {
        f"007/{p.relative_to(source).as_posix()}" for p in source.rglob("*.csv")
    }
    size = run.result.notebook.stat().st_size
    assert size < 200_000, f"output notebook is {size} bytes"
    progress = [line for line in run.text().splitlines() if line.startswith("upload  [")]
    assert 1 <= len(progress) <= 11, progress
    assert progress[-1].startswith("upload  [##########] 100%")

    again = run_book("upload", source=str(source), bucket=bucket, prefix="007")
    assert again.ok
    assert again.summary["skipped (unchanged)"] == 200 and again.summary["uploaded"] == 0


def test_upload_defaults_to_a_generated_sample_and_keeps_text_bucket_names(
    run_book: RunBook, storage: Any
) -> None:
    # "007" must stay the text "007" (papermill's -p would make it the number 7).
    run = run_book("upload", bucket="007")
    try:
        assert run.ok, run.result.error
        assert "No source given: uploading a generated sample folder" in run.text()
        assert len(keys_in(storage, "007")) == 12
    finally:
        storage.empty_bucket("007")
        storage.delete_bucket("007")


def test_upload_of_one_file_skips_it_unchanged_and_says_how_to_replace_it(
    run_book: RunBook, bucket: str, storage: Any, tmp_path: Path
) -> None:
    path = tmp_path / "report.csv"
    path.write_text("a,b\n1,2\n")
    first = run_book("upload", source=str(path), bucket=bucket, prefix="r")
    assert first.ok and first.summary["uploaded"] == 1
    # run again on the same file: skipped as unchanged, as a folder re-run does (was a 409)
    again = run_book("upload", source=str(path), bucket=bucket, prefix="r")
    assert again.ok and again.result.outcome == "ok", again.result.error
    assert (again.summary["skipped (unchanged)"], again.summary["uploaded"]) == (1, 0)
    assert again.summary["failed"] == 0 and again.summary["bytes sent"] == "0 B"
    path.write_text("a,b\n3,4\n")  # same size, other bytes
    refused = run_book("upload", source=str(path), bucket=bucket, prefix="r")
    assert refused.result.outcome == "failed"
    assert refused.summary["failed"] == 1
    text = refused.text()
    assert "the stored object differs from this file" in text
    assert "1 stored object(s) differ from the local file(s): pass -p upsert true" in text
    assert storage.from_(bucket).download("r/report.csv") == b"a,b\n1,2\n"
    assert run_book("upload", source=str(path), bucket=bucket, prefix="r", upsert=True).ok
    assert storage.from_(bucket).download("r/report.csv") == b"a,b\n3,4\n"


def test_upload_of_a_folder_applies_include_and_exclude(
    run_book: RunBook, bucket: str, storage: Any, tmp_path: Path
) -> None:
    source = make_files(tmp_path / "src", 8)
    (source / "notes.txt").write_text("not a csv")
    (source / "part-1" / ".hidden.csv").write_text("hidden")
    run = run_book(
        "upload", source=str(source), bucket=bucket, include=["*.csv"], exclude=[".*", "part-3/**"]
    )
    assert run.ok, run.result.error
    expected = {
        p.relative_to(source).as_posix()
        for p in source.rglob("*.csv")
        if not p.name.startswith(".") and p.parent.name != "part-3"
    }
    assert len(expected) == 6 and keys_in(storage, bucket) == expected
    assert run.summary["files"] == 6


def papermill_alone(name: str, folder: Path, **parameters: Any) -> str:
    """Run a runbook with papermill only (as JupyterLab or Airflow's PapermillOperator would,
    with no `hybridkit run` pre-flight); the text of its outputs."""
    import json

    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = folder / f"{name}-alone.ipynb"
    with pytest.raises(PapermillExecutionError):
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters, progress_bar=False
        )
    nb = json.loads(out.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def test_invalid_upload_parameters_fail_before_anything_changes(
    run_book: RunBook, bucket: str, storage: Any, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as refused:  # before a kernel starts
        run_book("upload", bucket=bucket, concurrency=0, source="/no/such/folder")
    assert "concurrency: must be between 1 and 32, got 0" in str(refused.value)
    assert "source: '/no/such/folder' does not exist" in str(refused.value)
    assert bucket not in bucket_names(storage)
    # The notebook's own validation cell says the same where a reader of the notebook looks.
    text = papermill_alone("upload", tmp_path, concurrency=0, source="/no/such/folder")
    assert "invalid parameters:" in text
    assert "concurrency: must be between 1 and 32, got 0" in text
    assert "source: '/no/such/folder' does not exist" in text
    assert "Nothing was changed." in text


def test_upload_without_permission_to_create_the_bucket_fails_loudly(
    run_book: RunBook, bucket: str
) -> None:
    run = run_book("upload", bucket=bucket, create_bucket=False)
    assert run.result.outcome == "failed"
    assert f"bucket '{bucket}' does not exist" in run.text()
    assert "pass -p create_bucket true" in run.text()


# ----------------------------------------------------------------------------- download


def test_download_is_verified_and_resumable(
    run_book: RunBook, bucket: str, storage: Any, tmp_path: Path
) -> None:
    source = make_files(tmp_path / "src", 12, size=5000)
    assert run_book("upload", source=str(source), bucket=bucket, prefix="backup/2026").ok
    dest = tmp_path / "restore"
    run = run_book("download", bucket=bucket, prefix="backup", dest=str(dest))
    assert run.ok, run.result.error
    assert run.summary["downloaded"] == 12
    for path in source.rglob("*.csv"):
        copy = dest / "2026" / path.relative_to(source)
        assert (
            hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
        )

    # A partial backup (one file lost, one damaged) resumes: only those two are fetched.
    victims = sorted(dest.rglob("*.csv"))[:2]
    victims[0].unlink()
    victims[1].write_bytes(b"damaged")
    again = run_book("download", bucket=bucket, prefix="backup", dest=str(dest))
    assert again.ok
    assert again.summary["downloaded"] == 2 and again.summary["skipped (already there)"] == 10
    assert victims[1].read_bytes() != b"damaged"


def test_download_of_a_missing_bucket_says_so(run_book: RunBook, bucket: str) -> None:
    run = run_book("download", bucket=bucket)
    assert run.result.outcome == "failed"
    assert f"read bucket '{bucket}' failed: NotFoundError" in run.text()


# ----------------------------------------------------------------------------- bucket_admin


def test_bucket_admin_is_a_dry_run_by_default(run_book: RunBook, bucket: str, storage: Any) -> None:
    run = run_book("bucket_admin", action="create", bucket=bucket, file_size_limit="5MB")
    assert run.ok
    assert bucket not in bucket_names(storage)
    assert f"DRY RUN: would create bucket '{bucket}'" in run.text()
    assert run.summary["outcome"] == "dry run: nothing changed"


def test_bucket_admin_creates_updates_and_lists(
    run_book: RunBook, bucket: str, storage: Any
) -> None:
    created = run_book(
        "bucket_admin",
        action="create",
        bucket=bucket,
        file_size_limit="5MB",
        allowed_mime_types=["text/csv", "image/*"],
        dry_run=False,
    )
    assert created.ok, created.result.error
    info = storage.get_bucket(bucket)
    assert info.file_size_limit == 5_000_000
    assert set(info.allowed_mime_types) == {"text/csv", "image/*"}
    assert info.public is False

    updated = run_book(
        "bucket_admin",
        action="update",
        bucket=bucket,
        public="true",
        clear_size_limit=True,
        dry_run=False,
    )
    assert updated.ok, updated.result.error
    info = storage.get_bucket(bucket)
    assert info.public is True and info.file_size_limit is None

    listed = run_book("bucket_admin")
    assert listed.ok and bucket in listed.text()

    again = run_book("bucket_admin", action="create", bucket=bucket, dry_run=False)
    assert again.result.outcome == "failed"
    assert "already exists" in again.text()


def test_destructive_actions_without_confirmation_change_nothing_and_say_what_would(
    run_book: RunBook, bucket: str, storage: Any
) -> None:
    seed(storage, bucket, ["a.txt", "b/c.txt", "b/d.txt"])
    for action in ("empty", "delete"):
        run = run_book(
            "bucket_admin", action=action, bucket=bucket, dry_run=False, empty_first=True
        )
        assert run.result.outcome == "failed"
        text = run.text()
        assert "3 object(s)" in text and "a.txt" in text  # the plan: what would have gone
        assert "not confirmed: refusing to" in text and "Nothing was changed." in text
        assert f"pass -p confirm {bucket}" in text
        assert keys_in(storage, bucket) == {"a.txt", "b/c.txt", "b/d.txt"}

    wrong = run_book("bucket_admin", action="empty", bucket=bucket, dry_run=False, confirm="other")
    assert wrong.result.outcome == "failed"
    assert f"confirm is 'other' but the target is '{bucket}'" in wrong.text()
    assert len(keys_in(storage, bucket)) == 3

    dry = run_book("bucket_admin", action="delete", bucket=bucket, confirm=bucket, empty_first=True)
    assert dry.ok and "DRY RUN: would delete bucket" in dry.text()
    assert bucket in bucket_names(storage)


def test_confirmed_empty_then_delete(run_book: RunBook, bucket: str, storage: Any) -> None:
    seed(storage, bucket, ["x/1.txt", "x/2.txt"])
    not_empty = run_book(
        "bucket_admin", action="delete", bucket=bucket, dry_run=False, confirm=bucket
    )
    assert not_empty.result.outcome == "failed"
    assert "still holds 2 object(s)" in not_empty.text()
    emptied = run_book("bucket_admin", action="empty", bucket=bucket, dry_run=False, confirm=bucket)
    assert emptied.ok, emptied.result.error
    assert keys_in(storage, bucket) == set()
    deleted = run_book(
        "bucket_admin", action="delete", bucket=bucket, dry_run=False, confirm=bucket
    )
    assert deleted.ok, deleted.result.error
    assert bucket not in bucket_names(storage)


def test_bucket_admin_parameter_errors(run_book: RunBook) -> None:
    with pytest.raises(InvalidInputError) as refused:
        run_book("bucket_admin", action="destroy", bucket="", file_size_limit="huge")
    text = str(refused.value)
    assert "action: must be one of list, create, update, empty, delete; got 'destroy'" in text
    assert "file_size_limit: 'huge' is not a size" in text


# ----------------------------------------------------------------------------- storage_cleanup


def test_cleanup_dry_run_reports_what_would_go_and_removes_nothing(
    run_book: RunBook, bucket: str, storage: Any
) -> None:
    keys = ["tmp/a.tmp", "tmp/b.tmp", "tmp/keep.csv", "other/c.tmp"]
    seed(storage, bucket, keys)
    run = run_book("storage_cleanup", bucket=bucket, prefix="tmp", glob="*.tmp", older_than_days=0)
    assert run.ok
    assert run.summary["matched"] == 2 and run.summary["removed"] == 0
    assert run.summary["outcome"] == "dry run: nothing removed (2 would go)"
    assert "tmp/a.tmp" in run.text() and "DRY RUN: would delete 2 object(s)" in run.text()
    assert keys_in(storage, bucket) == set(keys)

    refused = run_book(
        "storage_cleanup",
        bucket=bucket,
        prefix="tmp",
        glob="*.tmp",
        older_than_days=0,
        dry_run=False,
    )
    assert refused.result.outcome == "failed"
    assert "Nothing was changed." in refused.text()
    assert keys_in(storage, bucket) == set(keys)

    done = run_book(
        "storage_cleanup",
        bucket=bucket,
        prefix="tmp",
        glob="*.tmp",
        older_than_days=0,
        dry_run=False,
        confirm=bucket,
    )
    assert done.ok, done.result.error
    assert done.summary["removed"] == 2
    assert keys_in(storage, bucket) == {"tmp/keep.csv", "other/c.tmp"}


def test_cleanup_by_age_keeps_new_objects_and_refuses_to_select_everything(
    run_book: RunBook, bucket: str, storage: Any
) -> None:
    seed(storage, bucket, ["new.log"])
    run = run_book(
        "storage_cleanup", bucket=bucket, older_than_days=1, dry_run=False, confirm=bucket
    )
    assert run.ok
    assert run.summary["matched"] == 0 and "Nothing matches" in run.text()
    assert keys_in(storage, bucket) == {"new.log"}

    with pytest.raises(InvalidInputError) as everything:
        run_book("storage_cleanup", bucket=bucket, older_than_days=0)
    assert "never selects every object" in str(everything.value)
