"""Storage jobs through a bad network: the breaker waits, budgets follow progress, jobs end.

The fault proxy draws faults per 64 KiB of request bytes (a reset mid-body, a
stall, a slow chunk) and answers 503 to a share of new connections. The issue's
soak is 100 files of 1 KB to 33 MB, 40 s stalls, 15 s idle timeouts and a 400 s
deadline; the defaults here are scaled down so the suite stays quick on a small
machine (the proportions stay: stalls well over the idle timeout, chunks of a
fraction of the largest file)::

    HYBRIDKIT_REL_FILES=100 HYBRIDKIT_REL_MAX_MB=33 HYBRIDKIT_REL_CHUNK_MB=6 \\
    HYBRIDKIT_REL_STALL=40 HYBRIDKIT_REL_IDLE=15 HYBRIDKIT_REL_DEADLINE=400 \\
        pytest tests/integration/test_storage_reliability.py
"""

from __future__ import annotations

import io
import math
import os
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faultproxy import FaultProxy
from managerkit import MiB, remote_md5, settings_for, temp_bucket, write_random

from hybridkit.cli import main
from hybridkit.errors import RetriesExhausted
from hybridkit.retry import CircuitBreaker, RetryPolicy
from hybridkit.storage import StorageManager

FILES = int(os.environ.get("HYBRIDKIT_REL_FILES", "30"))
MAX_MB = float(os.environ.get("HYBRIDKIT_REL_MAX_MB", "3"))
CHUNK = int(float(os.environ.get("HYBRIDKIT_REL_CHUNK_MB", "0.5")) * MiB)
STALL = float(os.environ.get("HYBRIDKIT_REL_STALL", "3"))
IDLE = float(os.environ.get("HYBRIDKIT_REL_IDLE", "1"))
DEADLINE = float(os.environ.get("HYBRIDKIT_REL_DEADLINE", "6"))
SEED = int(os.environ.get("HYBRIDKIT_REL_SEED", "12"))
SMALL = 200_000  # every file up to this size must land even at 10 % per chunk


@pytest.fixture
def direct(stack) -> Iterator[StorageManager]:  # type: ignore[no-untyped-def]
    """A manager talking to the stack directly: the judge of what really landed."""
    with StorageManager(settings_for(stack.url, stack.service_role_key), resume_dir=None) as m:
        yield m


@pytest.fixture
def bucket(direct: StorageManager, unique_name: str) -> Iterator[str]:
    with temp_bucket(direct, unique_name) as name:
        yield name


def sizes(count: int, max_bytes: int) -> list[int]:
    """Log-uniform sizes from 1 KB to ``max_bytes``, both ends present."""
    rng = random.Random(7)
    low, high = math.log(1000), math.log(max_bytes)
    out = [int(math.exp(rng.uniform(low, high))) for _ in range(count)]
    out[0], out[-1] = 1000, max_bytes
    return out


def make_folder(root: Path) -> dict[str, tuple[int, str]]:
    """The soak folder: relative path -> (size, md5)."""
    files = {}
    for i, size in enumerate(sizes(FILES, int(MAX_MB * MiB))):
        rel = f"d{i % 4}/f{i:03d}.bin"
        files[rel] = (size, write_random(root / rel, size, seed=i))
    return files


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack) -> Any:  # type: ignore[no-untyped-def]
    """Point the CLI at a proxy with the scaled settings; returns a setter for the URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_role_key)
    monkeypatch.delenv("SUPABASE_ANON_KEY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, value in {
        "SUPABASE_IDLE_TIMEOUT": IDLE,
        "SUPABASE_CONNECT_TIMEOUT": max(IDLE, 2.0),
        "SUPABASE_CHUNK_SIZE": CHUNK,
        "SUPABASE_STANDARD_UPLOAD_THRESHOLD": CHUNK,
        "SUPABASE_BREAKER_COOLDOWN": max(1.0, STALL / 4),
    }.items():
        monkeypatch.setenv(name, str(value))
    return lambda url: monkeypatch.setenv("SUPABASE_URL", url)


def landed(direct: StorageManager, bucket: str, prefix: str) -> dict[str, int]:
    return {o.name[len(prefix) + 1 :]: o.size for o in direct.list_objects(bucket, prefix + "/")}


def bad_network(stack: Any, rate: float) -> FaultProxy:  # type: ignore[misc]
    return FaultProxy(
        stack.url,
        seed=SEED,
        chunk_fault_rate=rate,
        stall_seconds=STALL,
        slow_seconds=min(0.5, STALL / 4),
        connect_503_rate=0.2,
    )


# --------------------------------------------------------------------------- the soak


def test_folder_at_one_percent_per_chunk_lands_every_file_intact(
    stack: Any,
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
    cli_env: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = make_folder(tmp_path / "soak")
    with bad_network(stack, 0.01) as proxy:
        cli_env(proxy.url)
        code = main(["storage", "cp", "-r", str(tmp_path / "soak"), f"ss:///{bucket}/soak"])
    err = capsys.readouterr().err
    print(f"proxy: {proxy.chunks} chunks, {dict(proxy.counts)}\n{err}")
    assert sum(n for k, n in proxy.counts.items() if k != "none") > 0, proxy.counts
    assert code == 0, err
    assert landed(direct, bucket, "soak") == {rel: size for rel, (size, _) in files.items()}
    for rel, (_, digest) in files.items():
        assert remote_md5(direct, bucket, f"soak/{rel}") == digest, rel
    summary = re.search(r"(\d+) bytes of files \((\d+) re-sent\)", err)
    assert summary is not None and int(summary[1]) == sum(s for s, _ in files.values())


def test_folder_at_ten_percent_ends_by_its_deadline_and_a_rerun_completes_it(
    stack: Any,
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
    cli_env: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = make_folder(tmp_path / "soak")
    source = str(tmp_path / "soak")
    with bad_network(stack, 0.10) as proxy:
        cli_env(proxy.url)
        code = main(
            ["storage", "cp", "-r", "--deadline", str(DEADLINE), source, f"ss:///{bucket}/j"]
        )
        err = capsys.readouterr().err
        first_run = f"proxy: {proxy.chunks} chunks, {dict(proxy.counts)}\n{err}"
        there = landed(direct, bucket, "j")

        # Nothing fails because the breaker is open: it makes work wait.
        assert "circuit open" not in err.lower() and "CircuitOpenError" not in err
        # Every small file landed, intact; nothing partial is visible under a key.
        for rel, (size, digest) in files.items():
            if size <= SMALL:
                assert rel in there, (rel, err)
            if rel in there:
                assert there[rel] == size
                assert remote_md5(direct, bucket, f"j/{rel}") == digest, rel
        missing = sorted(set(files) - set(there))
        # The job says exactly which files did not land, and exits 1 only then.
        for rel in missing:
            assert re.search(rf"failed: \S*{re.escape(rel)} -> j/{re.escape(rel)}: .+", err), rel
        assert code == (1 if missing else 0), err

        # A re-run without faults completes the rest and sends nothing twice.
        proxy.chunk_fault_rate = 0.0
        proxy.connect_503_rate = 0.0
        proxy.log.clear()
        assert main(["storage", "cp", "-r", source, f"ss:///{bucket}/j"]) == 0
        err = capsys.readouterr().err
        print(first_run, err)  # shown with -rA: what the bad network did
        sent = {path for _, method, path in proxy.log if method == "POST" and "/object/" in path}
    assert re.search(rf"\b{len(missing)} transferred, {len(there)} skipped, 0 failed", err), err
    for rel in there:
        assert not any(path.endswith(f"/j/{rel}") for path in sent), rel
    assert landed(direct, bucket, "j") == {rel: size for rel, (size, _) in files.items()}
    for rel in missing:
        assert remote_md5(direct, bucket, f"j/{rel}") == files[rel][1], rel


# --------------------------------------------------------------------------- single behaviours


def through(proxy: FaultProxy, stack: Any, tmp_path: Path, **options: Any) -> StorageManager:
    settings = settings_for(
        proxy.url,
        stack.service_role_key,
        chunk_size=256 * 1024,
        standard_upload_threshold=256 * 1024,
        idle_timeout=1.0,
        **options.pop("settings", {}),
    )
    options.setdefault("resume_dir", tmp_path / "resume")
    return StorageManager(settings, **options)


def test_every_tus_request_of_an_upsert_upload_says_x_upsert(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    digest = write_random(path, 3 * 256 * 1024 + 5)
    direct.upload(io.BytesIO(b"the old object"), bucket, "up.bin")
    seen: list[tuple[str, str | None]] = []
    with FaultProxy(stack.url) as proxy, through(proxy, stack, tmp_path) as faulty:
        faulty.http.event_hooks["request"].append(
            lambda r: (
                seen.append((r.method, r.headers.get("x-upsert")))
                if "/upload/resumable" in r.url.path
                else None
            )
        )
        proxy.script("none", "none", "reset_request")  # a retry, so HEAD is used too
        result = faulty.upload(path, bucket, "up.bin", upsert=True)
    assert result.method == "resumable"
    assert {m for m, _ in seen} >= {"POST", "PATCH", "HEAD"}
    assert all(value == "true" for _, value in seen), seen
    assert remote_md5(direct, bucket, "up.bin") == digest


def test_a_failed_standard_upload_of_several_chunks_goes_on_as_resumable(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "std.bin"
    digest = write_random(path, 3 * 256 * 1024 + 11)
    match = lambda method, p: method == "POST" and "/object/" in p  # noqa: E731
    with FaultProxy(stack.url, match=match) as proxy, through(proxy, stack, tmp_path) as faulty:
        proxy.script("reset_request")
        result = faulty.upload(path, bucket, "std.bin", resumable=False)
    assert proxy.counts["reset_request"] == 1
    assert result.method == "resumable" and result.retries >= 1
    assert remote_md5(direct, bucket, "std.bin") == digest


def test_an_open_breaker_makes_an_upload_wait_then_finish(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown=0.3, jitter=0.5)
    with (
        FaultProxy(stack.url, fault_rate=1.0, faults=["status_503"]) as proxy,
        through(
            proxy,
            stack,
            tmp_path,
            breaker=breaker,
            retry_policy=RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.1),
        ) as faulty,
    ):
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: outcome.update(r=faulty.upload(io.BytesIO(b"patience"), bucket, "w.txt"))
        )
        worker.start()
        # Two failures open the breaker; probes fail while the outage lasts.
        while breaker.times_opened < 4 and worker.is_alive():
            threading.Event().wait(0.05)
        assert worker.is_alive()  # more failed probes than its budget: still waiting
        proxy.fault_rate = 0.0  # the outage ends
        worker.join(timeout=30)
    assert not worker.is_alive() and "r" in outcome
    assert breaker.state == "closed" and breaker.times_opened >= 4
    assert remote_md5(direct, bucket, "w.txt") == remote_md5_of(b"patience")


def remote_md5_of(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


def test_a_deadline_stops_an_upload_which_resumes_from_its_offset_later(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "slow.bin"
    size = 8 * 256 * 1024
    digest = write_random(path, size)
    # The same proxy both times: a remembered upload is keyed by the URL it went to.
    with FaultProxy(
        stack.url, slow_seconds=0.5, chunk_fault_rate=1.0, chunk_faults=["slow"]
    ) as proxy:
        with (
            through(proxy, stack, tmp_path) as faulty,
            pytest.raises(RetriesExhausted, match="deadline"),
        ):
            faulty.upload(path, bucket, "slow.bin", deadline=3.0)
        assert not direct.exists(bucket, "slow.bin")  # nothing partial under the key
        proxy.chunk_fault_rate = 0.0
        with through(proxy, stack, tmp_path) as clean:
            result = clean.upload(path, bucket, "slow.bin")
    assert 0 < result.resumed_from < size
    assert result.bytes_sent <= size - result.resumed_from
    assert remote_md5(direct, bucket, "slow.bin") == digest


def test_a_server_unreachable_for_too_long_ends_the_folder_job(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    for i in range(6):
        write_random(folder / f"{i}.bin", 1000 + i, seed=i)
    breaker = CircuitBreaker(failure_threshold=2, cooldown=0.2, unreachable_after=2.0)
    with (
        FaultProxy(stack.url, fault_rate=1.0, faults=["status_503"]) as proxy,
        through(
            proxy,
            stack,
            tmp_path,
            breaker=breaker,
            retry_policy=RetryPolicy(max_retries=50, base_delay=0.05, max_delay=0.1),
        ) as faulty,
    ):
        report = faulty.upload_folder(folder, bucket, "f", skip_unchanged=False, jobs=2)
    assert len(report.failed) == 6 and not report.transferred
    reasons = " ".join(r.reason for r in report.failed)
    assert "unreachable" in reasons and "circuit open" not in reasons.lower()
    assert not direct.list_objects(bucket, "f/")


def test_httpx_idle_timeouts_come_from_the_settings(stack: Any, tmp_path: Path) -> None:
    settings = settings_for(stack.url, stack.service_role_key, idle_timeout=7, connect_timeout=3)
    with StorageManager(settings, resume_dir=None) as m:
        assert m.transfer_timeout == httpx.Timeout(connect=3, read=7, write=7, pool=None)
        assert m.breaker.failure_threshold == settings.breaker_threshold


def test_the_fault_proxy_draws_per_64_kib_and_refuses_new_connections(
    stack: Any, bucket: str
) -> None:
    body = b"x" * (10 * 64 * 1024)
    url = f"/storage/v1/object/{bucket}/p.bin"
    headers = {
        "Authorization": f"Bearer {stack.service_role_key}",
        "apikey": stack.service_role_key,
    }
    with FaultProxy(
        stack.url, chunk_fault_rate=1.0, chunk_faults=["slow"], slow_seconds=0.01
    ) as proxy:
        with httpx.Client(base_url=proxy.url, headers=headers) as client:
            assert client.post(url, content=body).status_code == 200
        assert proxy.counts["chunk_slow"] == 10  # one per 64 KiB (the head rides in the first)
    with (
        FaultProxy(stack.url, chunk_fault_rate=1.0, chunk_faults=["reset"]) as proxy,
        httpx.Client(base_url=proxy.url, headers=headers) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.post(url, content=body, headers={"x-upsert": "true"})
    with FaultProxy(stack.url, connect_503_rate=1.0) as proxy:
        with httpx.Client(base_url=proxy.url, headers=headers) as client:
            assert client.get(f"/storage/v1/bucket/{bucket}").status_code == 503
        assert proxy.counts["connect_503"] == 1


def test_a_download_job_past_its_deadline_reports_what_is_missing(
    stack: Any, direct: StorageManager, bucket: str, tmp_path: Path
) -> None:
    for i in range(3):
        direct.upload(io.BytesIO(b"%d" % i * 1000), bucket, f"dl/{i}.txt")
    slow = FaultProxy(stack.url, chunk_fault_rate=1.0, chunk_faults=["slow"], slow_seconds=1.0)
    with slow as proxy, through(proxy, stack, tmp_path) as faulty:
        report = faulty.download_prefix(bucket, "dl/", tmp_path / "out", jobs=1, deadline=1.5)
        assert report.failed and not report.cancelled
        assert all("deadline (1.5s) passed" in r.reason for r in report.failed)
        proxy.chunk_fault_rate = 0.0
        again = faulty.download_prefix(bucket, "dl/", tmp_path / "out", jobs=1)
    assert again.ok and len(again.transferred) == len(report.failed)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.txt", "1.txt", "2.txt"]
