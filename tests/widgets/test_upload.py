"""The upload panel: planning, the background job, retries, cancel, the summary, the panel."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hybridkit_widgets as hkw
import pytest
from widgetfakes import FakeManager, failed, keys_in, ok, retrying_upload, snapshot

from hybridkit.config import Settings
from hybridkit.errors import CancelledError
from hybridkit.manager import HybridOperationResult, HybridSupabaseManager


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    (root / "daily").mkdir(parents=True)
    (root / "a.csv").write_bytes(b"a,b\n1,2\n")
    (root / "daily" / "b.json").write_bytes(b'{"x": 1}')
    (root / "daily" / "c.bin").write_bytes(os.urandom(300_000))
    return root


# ------------------------------------------------------------------------- plan


def test_plan_keeps_folder_structure_under_the_prefix(folder: Path) -> None:
    tasks = hkw.plan_upload([folder], prefix="/in/2026/")
    assert [(t.key, t.size) for t in tasks] == [
        ("in/2026/a.csv", 8),
        ("in/2026/daily/b.json", 8),
        ("in/2026/daily/c.bin", 300_000),
    ]
    single = hkw.plan_upload([folder / "a.csv"])
    assert [t.key for t in single] == ["a.csv"]
    picked = hkw.plan_upload(picked=[("C:/x/report.pdf", b"%PDF")], prefix="p")
    assert [(t.key, t.size, t.source) for t in picked] == [("p/report.pdf", 4, None)]


def test_plan_refuses_nothing_missing_empty_and_colliding(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(hkw.PanelError, match="nothing to upload"):
        hkw.plan_upload(["  "])
    with pytest.raises(hkw.PanelError, match="no such file or folder"):
        hkw.plan_upload([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(hkw.PanelError, match="holds no files"):
        hkw.plan_upload([tmp_path / "empty"])
    with pytest.raises(hkw.PanelError, match=r"both be stored as 'a\.csv'"):
        hkw.plan_upload([folder / "a.csv"], picked=[("a.csv", b"x")])


# ------------------------------------------------------------------------- the job


def test_job_uploads_every_file_and_sums_up(
    manager: HybridSupabaseManager, bucket: str, folder: Path
) -> None:
    changes: list[int] = []
    job = hkw.UploadJob(
        manager,
        bucket,
        hkw.plan_upload([folder], prefix="in"),
        prefix="in",
        jobs=2,
        on_change=lambda: changes.append(1),
    )
    job.start()
    assert job.wait(60)
    summary = job.summary()
    assert summary.ok and (summary.files, summary.uploaded, summary.failed) == (3, 3, 0)
    assert summary.bytes == 300_016 and summary.bytes_sent >= 300_016
    assert [t.status for t in job.tasks] == ["uploaded"] * 3
    # "attempts" counts requests (the verify read too): the panel shows retries only
    assert all(t.attempts >= 1 and t.retries == 0 and t.fraction == 1.0 for t in job.tasks)
    assert job.done == job.total == 300_016
    assert changes  # the view was told
    assert keys_in(manager, bucket) == ["in/a.csv", "in/daily/b.json", "in/daily/c.bin"]
    stored = manager.storage.client.storage.from_(bucket).download("in/daily/c.bin")
    local = (folder / "daily" / "c.bin").read_bytes()
    assert hashlib.md5(stored).digest() == hashlib.md5(local).digest()
    rows = summary.rows()
    assert rows["uploaded"] == "3" and rows["prefix"] == "in" and rows["retries"] == "0"


def test_job_reports_each_failure_with_its_reason(
    manager: HybridSupabaseManager, bucket: str, folder: Path, put: Any
) -> None:
    put(bucket, "a.csv", b"other content")
    tasks = hkw.plan_upload([folder / "a.csv", folder / "daily" / "b.json"])
    summary = hkw.UploadJob(manager, bucket, tasks).run()
    assert (summary.uploaded, summary.failed, summary.ok) == (1, 1, False)
    failed = next(t for t in tasks if t.status == "failed")
    assert failed.key == "a.csv" and failed.error.startswith("ConflictError: ")
    # With upsert the same file goes through.
    again = hkw.UploadJob(manager, bucket, hkw.plan_upload([folder / "a.csv"]), upsert=True).run()
    assert again.ok


def test_job_to_a_missing_bucket_creates_it_once_as_the_runbook_does(
    manager: HybridSupabaseManager, folder: Path, unique_name: str
) -> None:
    tasks = hkw.plan_upload([folder])
    try:
        summary = hkw.UploadJob(manager, unique_name, tasks).run()
        assert summary.ok and summary.created_bucket and summary.uploaded == 3
        bucket_info = manager.get_bucket(unique_name).unwrap()
        assert bucket_info.public is False  # private, as the runbook creates it
        assert keys_in(manager, unique_name) == ["a.csv", "daily/b.json", "daily/c.bin"]
    finally:
        manager.delete_bucket(unique_name, force=True)


def test_job_to_a_missing_bucket_without_create_tries_no_file(
    manager: HybridSupabaseManager, folder: Path, unique_name: str
) -> None:
    tasks = hkw.plan_upload([folder])
    summary = hkw.UploadJob(manager, unique_name, tasks, create_bucket=False).run()
    assert not summary.ok and not summary.created_bucket
    assert "does not exist; no file was tried" in summary.error
    assert [t.status for t in tasks] == ["queued"] * 3 and not any(t.error for t in tasks)
    assert not manager.get_bucket(unique_name).success


def test_second_upload_of_the_same_folder_skips_unchanged_files(
    manager: HybridSupabaseManager, bucket: str, folder: Path
) -> None:
    first = hkw.UploadJob(manager, bucket, hkw.plan_upload([folder], prefix="in"), prefix="in")
    assert first.run().uploaded == 3
    (folder / "a.csv").write_bytes(b"a,b\n3,4\n")  # same size, other content
    again = hkw.UploadJob(manager, bucket, hkw.plan_upload([folder], prefix="in"), prefix="in")
    summary = again.run()
    by_key = {t.key: t for t in again.tasks}
    assert by_key["in/daily/b.json"].status == by_key["in/daily/c.bin"].status == "skipped"
    # a changed file is not skipped: without upsert it is refused, and says how to replace it
    assert by_key["in/a.csv"].status == "failed"
    assert "tick 'overwrite (upsert)'" in by_key["in/a.csv"].error
    assert (summary.skipped, summary.uploaded, summary.failed) == (2, 0, 1)
    assert summary.bytes_sent == 0 and summary.rows()["throughput"] == "-"
    # the same folder through the runbook's call: the same outcome, file by file
    report = manager.upload_folder(folder, bucket, "in").data
    assert {r.target: r.status for r in report.results} == {k: t.status for k, t in by_key.items()}


def test_picked_files_upload_from_memory(manager: HybridSupabaseManager, bucket: str) -> None:
    tasks = hkw.plan_upload(picked=[("notes.txt", b"from the browser")], prefix="up")
    assert hkw.UploadJob(manager, bucket, tasks).run().ok
    assert keys_in(manager, bucket) == ["up/notes.txt"]


def test_retries_are_counted_live_and_taken_from_the_result(tmp_path: Path) -> None:
    fake = FakeManager()
    fake.upload = retrying_upload
    seen: list[int] = []
    job: hkw.UploadJob

    def on_change() -> None:
        seen.append(job.retries)

    job = hkw.UploadJob(fake, "b", hkw.plan_upload(picked=[("k", b"x" * 100)]), on_change=on_change)
    summary = job.run()
    assert max(seen) >= 2  # the restarts were visible while uploading
    assert job.tasks[0].retries == 2 and job.tasks[0].attempts == 3
    assert summary.retries == 2 and summary.bytes_sent == 300


def test_an_unexpected_exception_fails_the_file_not_the_job() -> None:
    fake = FakeManager()

    def broken(*args: Any, **kwargs: Any) -> HybridOperationResult:
        raise RuntimeError("bug")

    fake.upload = broken
    summary = hkw.UploadJob(fake, "b", hkw.plan_upload(picked=[("k", b"x")])).run()
    assert summary.failed == 1
    assert hkw.UploadJob(fake, "b", []).summary().files == 0


def test_cancel_stops_the_file_in_flight_and_skips_the_rest() -> None:
    fake = FakeManager()
    started = threading.Event()
    job: hkw.UploadJob

    def slow(
        bucket: str, source: Any, key: str, *, progress: Any, cancel: threading.Event, **o: Any
    ) -> Any:
        started.set()
        for done in range(0, 10_000, 10):  # stops at the next block once cancelled, as the library
            if cancel.is_set():
                return failed(CancelledError(f"upload {bucket}/{key}: cancelled"))
            progress(snapshot(done, 10_000))
            if done == 50:
                job.cancel()
        return ok()

    fake.upload = slow
    tasks = hkw.plan_upload(picked=[("a", b"1"), ("b", b"2"), ("c", b"3")])
    job = hkw.UploadJob(fake, "b", tasks, jobs=1)
    summary = job.run()
    assert [t.status for t in tasks] == ["cancelled"] * 3
    assert summary.cancelled == 3 and not summary.ok
    assert [c for c in fake.calls if c[0] == "upload_file"] == [("upload_file", ("b", "a"))]


def test_cancel_against_the_stack_leaves_nothing_half_stored(
    settings: Settings, bucket: str, tmp_path: Path
) -> None:
    eager = Settings.load(
        env={"SUPABASE_URL": str(settings.supabase_url)},
        service_role_key=settings.service_role_key.get_secret_value(),  # type: ignore[union-attr]
        progress_interval=0.001,
        env_file=None,
    )
    for name in ("one.bin", "two.bin", "three.bin"):
        (tmp_path / name).write_bytes(os.urandom(4 * 1024 * 1024))
    with HybridSupabaseManager(eager, resume_dir=tmp_path / "tus") as hm:
        job: hkw.UploadJob

        def on_change() -> None:
            if job.done > 0:
                job.cancel()

        tasks = hkw.plan_upload([tmp_path / n for n in ("one.bin", "two.bin", "three.bin")])
        job = hkw.UploadJob(hm, bucket, tasks, jobs=1, on_change=on_change)
        job.start()
        assert job.wait(60)
        assert [t.status for t in tasks] == ["cancelled"] * 3
        assert keys_in(hm, bucket) == []


def test_job_refuses_bad_input() -> None:
    with pytest.raises(hkw.PanelError, match="choose the bucket"):
        hkw.UploadJob(FakeManager(), " ", [])
    with pytest.raises(hkw.PanelError, match="at least one file"):
        hkw.UploadJob(FakeManager(), "b", [], jobs=0)
    job = hkw.UploadJob(FakeManager(), "b", hkw.plan_upload(picked=[("k", b"x")]))
    job.start()
    with pytest.raises(hkw.PanelError, match="already started"):
        job.start()
    assert job.wait(10)


# ------------------------------------------------------------------------- the panel


def test_panel_uploads_a_folder_and_shows_progress_and_the_summary(
    manager: HybridSupabaseManager, bucket: str, folder: Path
) -> None:
    panel = hkw.UploadPanel(manager, bucket=bucket, prefix="drop", path=str(folder))
    assert bucket in panel.bucket.options
    panel.start_button.click()
    summary = panel.wait(60)
    assert summary is not None and summary.ok
    assert panel.level == "ok", panel.message
    assert panel.message == f"3 of 3 file(s) uploaded to {bucket!r}"
    assert panel.overall.value == 1.0 and panel.overall.bar_style == "success"
    assert "3/3&nbsp;file(s)" in panel.overall_text.value  # a figure never wraps inside
    assert "MiB/s" in panel.overall_text.value
    assert "drop/daily/c.bin" in panel.files.value and "uploaded" in panel.files.value
    assert "upload summary: OK" in panel.summary.value
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    assert keys_in(manager, bucket, "drop/") == [
        "drop/a.csv",
        "drop/daily/b.json",
        "drop/daily/c.bin",
    ]


def test_panel_shows_failures_and_their_reasons(
    manager: HybridSupabaseManager, bucket: str, folder: Path, put: Any
) -> None:
    put(bucket, "a.csv", b"other content")
    panel = hkw.UploadPanel(manager, bucket=bucket, path=str(folder / "a.csv"))
    panel.start_button.click()
    summary = panel.wait(60)
    assert summary is not None and summary.failed == 1
    assert panel.level == "error"
    assert "1 file(s) failed" in panel.message and "ConflictError" in panel.message
    assert "NOT COMPLETE" in panel.summary.value
    # drawn as failed: a red row, an empty red bar, the reason in a wrapping cell
    assert "hk-row-failed" in panel.files.value and "hk-bar-failed" in panel.files.value
    assert "width:100%" not in panel.files.value
    # ... and so is the overall bar: nothing stored, red
    assert panel.overall.value == 0.0 and panel.overall.bar_style == "danger"
    assert "<td class='hk-detail'>ConflictError" in panel.files.value


def test_panel_to_a_missing_bucket_creates_it_then_skips_on_the_second_click(
    manager: HybridSupabaseManager, folder: Path, unique_name: str
) -> None:
    panel = hkw.UploadPanel(manager, bucket=unique_name, path=str(folder))
    assert panel.jobs.value == 4 and panel.create_bucket.value is True  # the runbook's defaults
    try:
        panel.start_button.click()
        first = panel.wait(60)
        assert first is not None and first.ok and first.uploaded == 3
        assert panel.level == "ok"
        assert panel.message.startswith(f"created the private bucket {unique_name!r}; 3 of 3")
        panel.start_button.click()
        second = panel.wait(60)
        assert second is not None and second.ok and (second.uploaded, second.skipped) == (0, 3)
        assert panel.message == f"0 of 3 file(s) uploaded to {unique_name!r}, 3 skipped (unchanged)"
        assert "ConflictError" not in panel.files.value and "unchanged" in panel.files.value
        assert "-&nbsp;MiB/s" in panel.overall_text.value  # skipped bytes are no throughput
        assert "3&nbsp;unchanged" in panel.overall_text.value
    finally:
        manager.delete_bucket(unique_name, force=True)


def test_panel_and_runbook_step_give_the_same_outcome_with_include_and_exclude(
    manager: HybridSupabaseManager, folder: Path, unique_name: str
) -> None:
    import hybridkit.runbook as rb

    (folder / ".cache.csv").write_bytes(b"hidden")
    other = f"{unique_name}-rb"
    globs = {"include": ["*.csv", "daily/*.bin"], "exclude": [".*"]}
    panel = hkw.UploadPanel(manager, bucket=unique_name, path=str(folder), **globs)
    assert (panel.include.value, panel.exclude.value) == ("*.csv, daily/*.bin", ".*")
    try:
        assert manager.create_bucket(other).success
        for round_ in ("first", "again"):
            panel.start_button.click()
            summary = panel.wait(60)
            assert summary is not None and summary.ok, panel.message
            result = rb.upload(manager, folder, other, **globs)  # the runbook's call
            assert result.success, result.error
            by_panel = {t.key: t.status for t in panel.job.tasks}  # type: ignore[union-attr]
            by_runbook = {r.target: r.status for r in result.data.results}
            assert by_panel == by_runbook, round_
            want = "uploaded" if round_ == "first" else "skipped"
            assert by_panel == {"a.csv": want, "daily/c.bin": want}
        assert keys_in(manager, unique_name) == keys_in(manager, other) == ["a.csv", "daily/c.bin"]
        # nothing matches: said before any request, as a plan error
        panel.include.value = "*.parquet"
        panel.start_button.click()
        assert panel.level == "error" and "matches include ['*.parquet']" in panel.message
    finally:
        manager.delete_bucket(unique_name, force=True)
        manager.delete_bucket(other, force=True)


def test_one_file_again_is_skipped_and_a_changed_one_says_how_to_replace_it(
    manager: HybridSupabaseManager, bucket: str, folder: Path
) -> None:
    import hybridkit.runbook as rb

    path = folder / "a.csv"
    panel = hkw.UploadPanel(manager, bucket=bucket, path=str(path))
    outcomes = []
    for content in (None, None, b"a,b\n9,9\n"):
        if content is not None:
            path.write_bytes(content)
        panel.start_button.click()
        summary = panel.wait(60)
        assert summary is not None
        one = rb.upload(manager, path, bucket).data.results[0]  # the runbook's step, after
        outcomes.append((panel.job.tasks[0].status, one.status))  # type: ignore[union-attr]
    # uploaded, then skipped by both; changed: refused by both, each saying how to replace it
    assert outcomes == [("uploaded", "skipped"), ("skipped", "skipped"), ("failed", "failed")]
    assert "tick 'overwrite (upsert)'" in panel.job.tasks[0].error  # type: ignore[union-attr]
    report = rb.upload(manager, path, bucket).data
    assert "the stored object differs from this file" in report.results[0].reason
    assert rb.upload_hint(report).endswith("pass -p upsert true to overwrite them")
    assert rb.upload(manager, path, bucket, upsert=True).data.results[0].status == "uploaded"


def test_panel_to_a_missing_bucket_without_create_says_so_once(
    manager: HybridSupabaseManager, folder: Path, unique_name: str
) -> None:
    panel = hkw.UploadPanel(manager, bucket=unique_name, path=str(folder))
    panel.create_bucket.value = False
    panel.start_button.click()
    summary = panel.wait(60)
    assert summary is not None and not summary.ok and summary.failed == 0
    assert panel.level == "error" and "does not exist; no file was tried" in panel.message
    assert "NOT STARTED" in panel.summary.value and "NotFoundError" not in panel.files.value


def test_panel_input_errors_are_shown_not_raised(manager: HybridSupabaseManager) -> None:
    panel = hkw.UploadPanel(manager, bucket="")
    panel.start_button.click()
    assert panel.level == "error" and "nothing to upload" in panel.message
    panel.path.value = "/definitely/not/here"
    panel.start_button.click()
    assert "no such file or folder" in panel.message
    panel.cancel_button.click()
    assert panel.message == "cancel: no upload is running"


def test_panel_uploads_files_picked_in_the_browser(
    manager: HybridSupabaseManager, bucket: str
) -> None:
    panel = hkw.UploadPanel(manager, bucket=bucket)
    panel.picker.value = (
        {
            "name": "picked.txt",
            "type": "text/plain",
            "size": 5,
            "content": memoryview(b"hello"),
            "last_modified": datetime.now(UTC),
        },
    )
    panel.start_button.click()
    assert panel.wait(30) is not None
    assert panel.level == "ok", panel.message
    assert keys_in(manager, bucket) == ["picked.txt"]
    assert panel.picker.value == ()  # cleared for the next batch


def test_panel_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeManager()
    release = threading.Event()

    def blocked(
        bucket: str, source: Any, key: str, *, progress: Any, cancel: threading.Event, **o: Any
    ) -> Any:
        while not release.wait(0.01):
            if cancel.is_set():
                return failed(CancelledError(f"upload {bucket}/{key}: cancelled"))
            progress(snapshot(1, 10))
        return ok()

    fake.upload = blocked
    panel = hkw.UploadPanel(fake, bucket="b")
    panel.picker.value = tuple(
        {
            "name": n,
            "type": "",
            "size": 1,
            "content": memoryview(b"x"),
            "last_modified": datetime.now(UTC),
        }
        for n in ("a", "b", "c")
    )
    panel.start_button.click()
    assert panel.start_button.disabled and not panel.cancel_button.disabled
    panel.start_button.click()  # a second start while running is refused
    panel.cancel_button.click()
    summary = panel.wait(10)
    release.set()
    assert summary is not None and summary.cancelled == 3
    assert panel.message.startswith("cancelled: 0 of 3 file(s) uploaded")
    assert "cancelled" in panel.files.value
