"""Throughput plumbing of the storage client (issue 18), against the local stack.

Speed itself is measured by ``bench/storage_throughput.py``; these tests pin the
mechanisms: what a ``storage cp`` imports, the socket options, the pool size, the
bandwidth limit (with an injected clock), and how a folder job answers 429/503.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from managerkit import MiB, settings_for, write_random

from hybridkit.retry import CircuitBreaker
from hybridkit.storage import StorageManager
from hybridkit.storage.pace import Throttle


def test_storage_cp_imports_no_supabase_py(stack: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(16 * 1024))
    code = (
        "import sys, json\n"
        "from hybridkit.cli import main\n"
        f"status = main(['storage', 'cp', {str(source)!r}, 'ss:///{bucket}/small.bin'])\n"
        "print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('supabase', 'storage3', 'postgrest', 'gotrue', 'supabase_auth', 'realtime'))]))\n"
    )
    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    status, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert status == 0, out.stderr
    assert imported == []


def test_bucket_calls_still_use_storage3(manager: StorageManager, bucket: str) -> None:
    # The supabase-py client is built on first use, once, on the shared pool.
    assert bucket in {b.id for b in manager.list_buckets()}
    assert manager.client is manager.client
    assert manager.client.storage is not None


def test_pool_sockets_have_tcp_nodelay(manager: StorageManager) -> None:
    response = manager.http.get(f"{manager.storage_url}/status")
    sock = response.extensions["network_stream"].get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


class FakeTime:
    """A clock that moves only when something sleeps: bytes/time without wall-clock timing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.mark.parametrize("resumable", [False, True])
def test_bwlimit_paces_an_upload(
    manager: StorageManager, bucket: str, tmp_path: Path, resumable: bool
) -> None:
    path = tmp_path / "paced.bin"
    size = 3 * MiB + 123
    write_random(path, size)
    fake = FakeTime()
    throttle = Throttle("1M", clock=fake.clock, sleep=fake.sleep)
    result = manager.upload(path, bucket, "paced.bin", resumable=resumable, bwlimit=throttle)
    assert result.size == size and manager.info(bucket, "paced.bin").size == size
    assert throttle.taken == size
    # Every byte passed the bucket: at 1 MiB/s the (fake) clock moved at least the
    # time the bytes beyond the first burst take, and not much more.
    assert (size - throttle.burst) / throttle.rate <= fake.now <= size / throttle.rate + 1


def test_bwlimit_is_shared_by_a_folder_job(
    manager: StorageManager, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    sizes = [256 * 1024 + i for i in range(6)]
    for i, size in enumerate(sizes):
        write_random(folder / f"f{i}.bin", size)
    fake = FakeTime()
    throttle = Throttle(512 * 1024, clock=fake.clock, sleep=fake.sleep)
    report = manager.upload_folder(folder, bucket, "paced", jobs=3, bwlimit=throttle)
    assert report.ok and len(report.transferred) == len(sizes)
    assert throttle.taken == sum(sizes)
    assert fake.now >= (sum(sizes) - throttle.burst) / throttle.rate


@pytest.mark.parametrize("status", ["status_429", "status_503"])
def test_folder_slows_down_on_pushback_instead_of_failing(
    stack: Any,
    bucket: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: str,
) -> None:
    folder = tmp_path / "many"
    for i in range(12):
        (folder / f"f{i:02d}.bin").parent.mkdir(exist_ok=True)
        (folder / f"f{i:02d}.bin").write_bytes(os.urandom(4096))
    match = lambda method, path: method == "POST" and "/object/" in path  # noqa: E731
    slept: list[float] = []
    # More pushback in a row than one file's retry budget (1 + 3 retries): the job
    # must wait and go on, not report failures.
    pushback = [status] * 9
    with (
        FaultProxy(stack.url, match=match, retry_after="3", retry_after_503="3") as proxy,
        StorageManager(
            settings_for(proxy.url, stack.service_role_key),
            resume_dir=None,
            sleep=slept.append,
            breaker=CircuitBreaker(failure_threshold=50),
        ) as faulty,
        caplog.at_level(logging.INFO, logger="hybridkit.storage"),
    ):
        proxy.script(*pushback)
        report = faulty.upload_folder(folder, bucket, "many", jobs=4, skip_unchanged=False)
    assert report.ok, report.summary()
    assert len(report.transferred) == 12
    assert proxy.counts[status] == len(pushback)
    # Retry-After was honoured: the retries waited 3 s, and a file starting during a
    # pause waited what was left of it (the sleep is fake: the clock is not).
    assert 3.0 in slept and min(slept) >= 2.5
    halvings = [r.getMessage() for r in caplog.records if "pushed back" in r.getMessage()]
    assert halvings and "4 -> 2 files at once" in halvings[0]
