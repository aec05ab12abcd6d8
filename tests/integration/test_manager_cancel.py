"""Cancelling transfers with ``cancel=`` (a ``threading.Event``), against the local stack.

The event is set from the progress callback, which runs in the thread that reads
the blocks, so the transfer stops at an exact, repeatable block boundary.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from managerkit import MiB, md5_file, remote_md5, settings_for, temp_bucket, write_random

from hybridkit.cli import main
from hybridkit.cli import storage as cli_storage
from hybridkit.errors import CancelledError
from hybridkit.manager import HybridSupabaseManager
from hybridkit.progress import Progress
from hybridkit.storage import StorageManager


def cancel_after(nbytes: int) -> tuple[threading.Event, Callable[[Progress], None]]:
    """An event, and a progress callback that sets it once ``nbytes`` were counted."""
    event = threading.Event()

    def on_progress(progress: Progress) -> None:
        if progress.done >= nbytes and not progress.finished:
            event.set()

    return event, on_progress


def resume_entries(manager: StorageManager) -> list[Path]:
    assert manager.resume_store is not None
    return list(manager.resume_store.directory.glob("*.json"))


# --------------------------------------------------------------------------- single files


@pytest.mark.parametrize("content_type", [None, "multipart/related"], ids=["raw", "multipart"])
def test_cancel_a_standard_upload_mid_body_stores_nothing(
    manager: StorageManager, bucket: str, tmp_path: Path, content_type: str | None
) -> None:
    path = tmp_path / "big.bin"
    size = 5 * MiB + 3
    digest = write_random(path, size)
    cancel, on_progress = cancel_after(MiB)
    seen: list[int] = []
    manager.breaker.record_failure()  # a cancel must neither add to it nor clear it

    def progress(p: Progress) -> None:
        seen.append(p.done)
        on_progress(p)

    with manager.track() as stats, pytest.raises(CancelledError):
        manager.upload(
            path, bucket, "big.bin", content_type=content_type, progress=progress, cancel=cancel
        )
    assert max(seen) < size  # stopped mid-body, at a block boundary
    assert (stats.attempts, stats.retries) == (1, 0)  # never retried
    assert manager.breaker.consecutive_failures == 1 and manager.breaker.state == "closed"
    assert not manager.exists(bucket, "big.bin")
    assert manager.list_objects(bucket) == []
    # The pool is healthy after the abandoned request: the same upload goes through.
    result = manager.upload(path, bucket, "big.bin", content_type=content_type)
    assert (result.method, result.attempts) == ("standard", 1)
    assert remote_md5(manager, bucket, "big.bin") == digest


def test_cancel_a_resumable_upload_then_resume_it(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "huge.bin"
    size = 3 * manager.chunk_size + 12345
    digest = write_random(path, size)
    cancel, progress = cancel_after(manager.chunk_size + 2 * MiB)  # inside the second chunk
    with pytest.raises(CancelledError):
        manager.upload(path, bucket, "huge.bin", progress=progress, cancel=cancel)
    assert not manager.exists(bucket, "huge.bin")
    assert len(resume_entries(manager)) == 1  # the upload URL is kept for a resume

    result = manager.upload(path, bucket, "huge.bin")
    assert result.method == "resumable"
    assert manager.chunk_size <= result.resumed_from < size
    assert result.bytes_sent <= size - manager.chunk_size
    assert remote_md5(manager, bucket, "huge.bin") == digest
    assert resume_entries(manager) == []


def test_cancel_a_download_leaves_no_final_file_and_resumes(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    digest = write_random(source, 5 * MiB)
    manager.upload(source, bucket, "d/src.bin")
    dest = tmp_path / "out" / "copy.bin"
    cancel, progress = cancel_after(2 * MiB)
    with pytest.raises(CancelledError):
        manager.download(bucket, "d/src.bin", dest, progress=progress, cancel=cancel)
    assert not dest.exists()
    # Like an interrupted download: the temporary file stays, and a later call resumes.
    left = sorted(p.name for p in dest.parent.iterdir())
    assert left == [".copy.bin.hkpart", ".copy.bin.hkpart.json"]
    result = manager.download(bucket, "d/src.bin", dest)
    assert 0 < result.resumed_from < 5 * MiB
    assert md5_file(dest) == digest and result.verified
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]


def test_a_preset_event_cancels_before_any_request(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    small, large = tmp_path / "in" / "s.bin", tmp_path / "in" / "l.bin"
    write_random(small, 1000)
    write_random(large, manager.chunk_size + 1)
    cancel = threading.Event()
    cancel.set()
    with manager.track() as stats:
        with pytest.raises(CancelledError):
            manager.upload(small, bucket, "s.bin", cancel=cancel)
        with pytest.raises(CancelledError):
            manager.upload(large, bucket, "l.bin", cancel=cancel)
        with pytest.raises(CancelledError):
            manager.download(bucket, "s.bin", tmp_path / "s.bin", cancel=cancel)
        report = manager.upload_folder(tmp_path / "in", bucket, "p", cancel=cancel)
        with pytest.raises(CancelledError):
            manager.download_prefix(bucket, "p/", tmp_path / "down", cancel=cancel)
        hm = HybridSupabaseManager(storage=manager)
        facade = hm.upload_file(bucket, small, cancel=cancel)
    assert stats.attempts == 0
    assert not facade.success and isinstance(facade.error, CancelledError)
    assert facade.metadata["error_type"] == "CancelledError"
    # The caller's decision, not a failure: stats() keeps the two apart.
    assert (hm.stats()["upload_file"]["cancelled"], hm.stats()["upload_file"]["failures"]) == (1, 0)
    assert resume_entries(manager) == []
    assert sorted(r.target for r in report.results) == ["p/l.bin", "p/s.bin"]
    assert {(r.status, r.reason) for r in report.results} == {
        ("cancelled", "cancelled before it started")
    }
    assert not report.ok and "2 cancelled" in report.summary()
    with pytest.raises(CancelledError):
        report.raise_for_problems()


# --------------------------------------------------------------------------- folders


def test_cancel_a_folder_upload_reports_every_file_once(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "tree"
    names = [f"f{i}.bin" for i in range(6)]
    size = 4 * MiB + 1  # standard uploads (under the resumable threshold), four blocks each
    for name in names:
        write_random(folder / name, size)
    # jobs=1: files go in order; the event is set a block into the third one.
    cancel, progress = cancel_after(2 * size + MiB)
    hm = HybridSupabaseManager(storage=manager)
    result = hm.upload_folder(folder, bucket, "up", jobs=1, progress=progress, cancel=cancel)
    assert not result.success and isinstance(result.error, CancelledError)
    report = result.data
    assert sorted(r.target for r in report.results) == [f"up/{n}" for n in names]
    statuses = [{r.target: (r.status, r.reason) for r in report.results}[f"up/{n}"] for n in names]
    assert statuses[:2] == [("uploaded", "")] * 2
    # A cancel stops the body at the next block it reads; on a loaded machine the
    # third file's last block may already be read when the event is set, and then it
    # lands whole and is reported uploaded. Either way: each file once, and the
    # report says exactly what is stored.
    assert statuses[2] in (("cancelled", "cancelled in flight"), ("uploaded", ""))
    assert statuses[3:] == [("cancelled", "cancelled before it started")] * 3
    uploaded = [f"up/{n}" for n, st in zip(names, statuses, strict=True) if st[0] == "uploaded"]
    assert not report.ok and len(report.cancelled) == len(names) - len(uploaded)
    assert f"{len(uploaded)} transferred, 0 skipped, 0 failed" in report.summary()
    stored = sorted(o.name for o in manager.list_objects(bucket))
    assert stored == uploaded  # a file in flight when cancelled left nothing behind


def test_cancel_a_prefix_download_reports_every_file_once(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    for i in range(4):
        write_random(tmp_path / "src" / f"o{i}.bin", 2 * MiB)
    manager.upload_folder(tmp_path / "src", bucket, "pre").raise_for_problems()
    cancel, progress = cancel_after(2 * MiB + MiB)
    out = tmp_path / "out"
    report = manager.download_prefix(bucket, "pre/", out, jobs=1, progress=progress, cancel=cancel)
    assert [(r.source, r.status) for r in report.results] == [
        ("pre/o0.bin", "downloaded"),
        ("pre/o1.bin", "cancelled"),
        ("pre/o2.bin", "cancelled"),
        ("pre/o3.bin", "cancelled"),
    ]
    assert not report.ok
    assert (out / "o0.bin").is_file() and not (out / "o1.bin").exists()
    again = manager.download_prefix(bucket, "pre/", out)
    assert again.ok and len(again.transferred) == 3 and len(again.skipped) == 1


# --------------------------------------------------------------------------- the CLI


def ctrl_c_after(nbytes: int) -> Callable[[str], Any]:
    """A stand-in for the CLI's progress bar that presses Ctrl-C once ``nbytes`` were read."""

    class CtrlC:
        def __init__(self, label: str) -> None:
            self.pressed = False

        def __call__(self, progress: Progress) -> None:
            if not self.pressed and progress.done >= nbytes:
                self.pressed = True
                os.kill(os.getpid(), signal.SIGINT)

        def close(self) -> None:
            pass

    return CtrlC


@pytest.fixture
def cli_env(stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The CLI aimed at the session stack, in a scratch folder; Ctrl-C needs the main thread."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Ctrl-C reaches only the main thread")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_URL", stack.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_role_key)
    monkeypatch.delenv("SUPABASE_ANON_KEY", raising=False)
    monkeypatch.setenv("SUPABASE_PROGRESS_INTERVAL", "0.000001")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_ctrl_c_during_cp_prints_the_summary_and_exits_130(
    cli_env: None,
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tree = tmp_path / "tree"
    for i in range(5):
        write_random(tree / f"f{i}.bin", 3 * MiB)

    monkeypatch.setattr(cli_storage, "_bar", ctrl_c_after(MiB))
    settings = settings_for(stack.url, stack.service_role_key)
    with StorageManager(settings) as manager, temp_bucket(manager, unique_name) as bucket:
        code = main(["storage", "cp", "-r", "-j", "1", str(tree), f"ss:///{bucket}/t"])
        err = capsys.readouterr().err
        assert code == 130, err
        assert "cancelling" in err and "cancelled; " in err
        assert len(manager.list_objects(bucket)) < 5


def test_cp_after_ctrl_c_resumes_and_says_so(
    cli_env: None,
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "big.bin"
    digest = write_random(source, 15 * MiB)  # resumable: three 6 MiB chunks

    settings = settings_for(stack.url, stack.service_role_key)
    with StorageManager(settings) as manager, temp_bucket(manager, unique_name) as bucket:
        with monkeypatch.context() as patched:
            patched.setattr(cli_storage, "_bar", ctrl_c_after(8 * MiB))
            assert main(["storage", "cp", str(source), f"ss:///{bucket}/big.bin"]) == 130
        assert "was not stored" in capsys.readouterr().err
        assert main(["storage", "cp", str(source), f"ss:///{bucket}/big.bin"]) == 0
        out = capsys.readouterr()
        # The server keeps what arrived of the cut chunk: the resume starts past 6 MiB.
        resumed = re.search(r"resumable, resumed at (\d+\.\d) MiB", out.out + out.err)
        assert resumed is not None and 6 <= float(resumed.group(1)) < 15
        assert remote_md5(manager, bucket, "big.bin") == digest
