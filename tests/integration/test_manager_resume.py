"""A resumable upload survives the death of the process that started it.

A child process uploads a large file and kills itself (SIGKILL, no clean-up) when
about half of it has been read; this process then uploads the same file again
and must resume from the server's offset. The issue's target is 256 MB; the
default is smaller for a 2-core machine::

    HYBRIDKIT_RESUME_MB=256 pytest tests/integration/test_manager_resume.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from managerkit import MiB, remote_md5, settings_for, temp_bucket, write_random

from hybridkit.storage import StorageManager

SIZE_MB = int(os.environ.get("HYBRIDKIT_RESUME_MB", "64"))

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from hybridkit.config import Settings
    from hybridkit.storage import StorageManager

    resume_dir, path, bucket, name = sys.argv[1:5]
    size = os.path.getsize(path)

    def die_at_half(progress):
        if progress.done >= size // 2:
            os.kill(os.getpid(), signal.SIGKILL)

    # URL and key come from the environment, never the command line (ps shows it).
    settings = Settings.load(env_file=None, progress_interval=1e-6)
    with StorageManager(settings, resume_dir=resume_dir) as manager:
        manager.upload(path, bucket, name, progress=die_at_half)
    sys.exit(3)  # not reached: the upload must not finish
    """
)


@pytest.mark.slow
def test_upload_resumes_in_a_new_process_after_a_kill(
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    unique_name: str,
) -> None:
    size = SIZE_MB * MiB
    path = tmp_path / "big.bin"
    digest = write_random(path, size)
    resume_dir = tmp_path / "resume"
    settings = settings_for(stack.url, stack.service_role_key)
    with (
        StorageManager(settings, resume_dir=resume_dir) as manager,
        temp_bucket(manager, unique_name) as bucket,
    ):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(resume_dir),
                str(path),
                bucket,
                "big.bin",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={
                **os.environ,
                "SUPABASE_URL": stack.url,
                "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
            },
        )
        assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
        assert len(list(resume_dir.glob("*.json"))) == 1  # the URL outlived the process
        assert not manager.exists(bucket, "big.bin")

        result = manager.upload(path, bucket, "big.bin")

        print(
            f"resumed at {result.resumed_from} of {size} bytes; sent again "
            f"{result.bytes_sent} ({result.bytes_sent / size:.1%}) in {result.duration:.1f}s"
        )
        assert result.method == "resumable"
        assert 0 < result.resumed_from < size
        # The killed PATCH may still be landing when the first HEAD answers: the
        # first PATCH of the resume then meets a 409 and the resume point moves on.
        # The bytes of that one refused chunk were sent too, so the bound is the
        # rest of the file plus at most one chunk (6 MiB); never a restart from 0.
        chunk = 6 * MiB
        assert result.bytes_sent <= size - result.resumed_from + chunk
        assert result.bytes_sent < 0.75 * size, (result.resumed_from, size)  # it resumed
        assert remote_md5(manager, bucket, "big.bin") == digest
        assert not list(resume_dir.glob("*.json"))


def test_a_changed_file_does_not_resume_its_older_self(
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    unique_name: str,
) -> None:
    """Same name, same size, other bytes: the resume key differs, the upload starts afresh."""
    from hybridkit.storage.transfer import open_source
    from hybridkit.storage.tus import ResumeStore

    settings = settings_for(stack.url, stack.service_role_key)
    with StorageManager(settings, resume_dir=tmp_path / "resume") as manager:
        path = tmp_path / "f.bin"
        size = manager.chunk_size + 100
        write_random(path, size, seed=1)
        with open_source(path) as src:
            old_key = ResumeStore.make_key(manager.storage_url, unique_name, "f.bin", src)
        digest = write_random(path, size, seed=2)
        with open_source(path) as src:
            new_key = ResumeStore.make_key(manager.storage_url, unique_name, "f.bin", src)
        assert old_key != new_key
        with temp_bucket(manager, unique_name) as bucket:
            assert manager.resume_store is not None
            manager.resume_store.put(old_key, f"{manager.storage_url}/upload/resumable/x")
            result = manager.upload(path, bucket, "f.bin")
            assert result.resumed_from == 0
            assert remote_md5(manager, bucket, "f.bin") == digest
