"""The storage manager through a fault-injecting proxy, against the real local stack.

Sizes are parameters (the issue's target is 200 files of 1 KB to 64 MB; the
defaults are smaller so the suite stays quick on a 2-core machine)::

    HYBRIDKIT_FAULT_FILES=200 HYBRIDKIT_FAULT_MAX_MB=64 \
        pytest tests/integration/test_manager_faults.py
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faultproxy import FaultProxy
from managerkit import MiB, md5_file, remote_md5, settings_for, temp_bucket, write_random

from hybridkit.errors import CircuitOpenError, ConflictError, NotFoundError, RetriesExhausted
from hybridkit.manager import HybridSupabaseManager
from hybridkit.retry import CircuitBreaker, RetryPolicy
from hybridkit.storage import StorageManager

FILES = int(os.environ.get("HYBRIDKIT_FAULT_FILES", "60"))
MAX_MB = float(os.environ.get("HYBRIDKIT_FAULT_MAX_MB", "16"))
FAULT_RATE = float(os.environ.get("HYBRIDKIT_FAULT_RATE", "0.10"))
FAULT_SEED = int(os.environ.get("HYBRIDKIT_FAULT_SEED", "1234"))

# Short timeouts so that a stalled answer is given up on quickly.
TIMEOUT = httpx.Timeout(connect=5.0, read=2.0, write=10.0, pool=60.0)
FAST_RETRIES = RetryPolicy(max_retries=6, base_delay=0.05, max_delay=0.5, deadline=300)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def direct(stack, tmp_path: Path) -> Iterator[StorageManager]:  # type: ignore[no-untyped-def]
    """A manager talking to the stack directly: the judge of what really landed."""
    with StorageManager(settings_for(stack.url, stack.service_role_key), resume_dir=None) as m:
        yield m


@pytest.fixture
def bucket(direct: StorageManager, unique_name: str) -> Iterator[str]:
    with temp_bucket(direct, unique_name) as name:
        yield name


def through(proxy: FaultProxy, stack, tmp_path: Path, **options) -> StorageManager:  # type: ignore[no-untyped-def]
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("resume_dir", tmp_path / "resume")
    return StorageManager(settings_for(proxy.url, stack.service_role_key), **options)


def mixed_sizes(count: int, max_bytes: int, seed: int = 42) -> list[int]:
    """Log-uniform sizes from 1 KB up to ``max_bytes``, with both ends present."""
    rng = random.Random(seed)
    low, high = math.log(1000), math.log(max_bytes)
    sizes = [int(math.exp(rng.uniform(low, high))) for _ in range(count)]
    sizes[0], sizes[-1] = 1000, max_bytes
    return sizes


# --------------------------------------------------------------------------- the big one


def test_mixed_uploads_land_exactly_once_and_byte_identical(
    stack,  # type: ignore[no-untyped-def]
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
) -> None:
    sizes = mixed_sizes(FILES, int(MAX_MB * MiB))
    folder = tmp_path / "files"
    digests = {}
    for i, size in enumerate(sizes):
        rel = f"d{i % 5}/f{i:03d}.bin"
        digests[rel] = write_random(folder / rel, size, seed=i)
    if MAX_MB * MiB > direct.threshold:
        assert any(s > direct.threshold for s in sizes), "some files must go through TUS"

    with FaultProxy(stack.url, fault_rate=FAULT_RATE, seed=FAULT_SEED, latency=0.0005) as proxy:
        # A breaker sized for a 10 % fault rate; its own behaviour is tested below.
        breaker = CircuitBreaker(failure_threshold=12, cooldown=2.0)
        with through(proxy, stack, tmp_path, breaker=breaker, max_connections=8) as faulty:
            report = faulty.upload_folder(folder, bucket, "mix", jobs=4)

    print(f"proxy: {proxy.requests} requests, {dict(proxy.counts)}; upload: {report.summary()}")
    faulted = sum(n for kind, n in proxy.counts.items() if kind != "none")
    kinds = {kind for kind in proxy.counts if kind != "none"}
    assert faulted >= max(3, proxy.requests * FAULT_RATE / 3), proxy.counts
    assert len(kinds) >= min(4, faulted), proxy.counts

    # No file is reported done that is not: every "uploaded" is there, byte-identical.
    by_key = {r.target: r for r in report.results}
    for rel, digest in digests.items():
        result = by_key[f"mix/{rel}"]
        if result.status == "uploaded":
            assert remote_md5(direct, bucket, f"mix/{rel}") == digest, rel
        else:
            assert result.status == "failed" and result.reason, result
    assert report.ok, [(r.target, r.reason) for r in report.failed]
    assert report.retries > 0
    # Exactly once: nothing else in the bucket, no duplicates, sizes right.
    stored = direct.list_objects(bucket)
    assert sorted(o.name for o in stored) == sorted(f"mix/{rel}" for rel in digests)
    assert {o.name: o.size for o in stored} == {
        f"mix/{rel}": size for rel, size in zip(digests, sizes, strict=True)
    }
    assert not any((tmp_path / "resume").glob("*.json"))  # every resume entry was settled


# --------------------------------------------------------------------------- single faults


def test_lost_answer_to_a_create_is_reconciled_not_failed(
    stack,  # type: ignore[no-untyped-def]
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
) -> None:
    match = lambda method, path: method == "POST" and "/object/" in path  # noqa: E731
    with FaultProxy(stack.url, match=match) as proxy:
        proxy.script("drop_response")
        with through(proxy, stack, tmp_path) as faulty:
            result = faulty.upload(io.BytesIO(b"exactly once"), bucket, "once.txt")
    assert result.reconciled and result.attempts == 2
    assert proxy.counts["drop_response"] == 1
    assert remote_md5(direct, bucket, "once.txt") == hashlib.md5(b"exactly once").hexdigest()


def test_lost_answer_never_claims_someone_elses_object(
    stack,  # type: ignore[no-untyped-def]
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
) -> None:
    """A reset before the server saw the body, then a 409: the object is not ours."""
    direct.upload(io.BytesIO(b"someone else"), bucket, "theirs.txt")
    match = lambda method, path: method == "POST" and "/object/" in path  # noqa: E731
    with FaultProxy(stack.url, match=match) as proxy, through(proxy, stack, tmp_path) as faulty:
        proxy.script("stall")
        with pytest.raises(ConflictError) as info:
            faulty.upload(io.BytesIO(b"mine mine!!!"), bucket, "theirs.txt")
    assert info.value.status == 409 and proxy.counts["stall"] == 1
    assert remote_md5(direct, bucket, "theirs.txt") == hashlib.md5(b"someone else").hexdigest()


def test_resumable_upload_survives_resets_and_stalls_mid_chunk(
    stack,  # type: ignore[no-untyped-def]
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.bin"
    size = 3 * direct.chunk_size + 777
    digest = write_random(path, size)
    match = lambda method, path: method == "PATCH"  # noqa: E731
    # Five faults in a row (plus the lock a stalled PATCH may still hold) would open
    # the default breaker; this test is about resuming, so give the breaker room.
    breaker = CircuitBreaker(failure_threshold=20)
    with FaultProxy(stack.url, match=match) as proxy:
        scripted = ["reset_request", "stall", "drop_response", "status_503"]
        proxy.script("none", *scripted)
        with through(proxy, stack, tmp_path, breaker=breaker) as faulty:
            result = faulty.upload(path, bucket, "big.bin")
    faults = [fault for fault, _, _ in proxy.log if fault != "none"]
    # Each fault costs exactly one retry (the resets keep what arrived, so the upload
    # may finish before the script runs out); a clean chunk is never counted as one.
    assert len(faults) >= 3 and faults == scripted[: len(faults)]
    assert result.method == "resumable" and result.retries == len(faults)
    assert result.bytes_sent < 2 * size  # resumed from the server's offset, not restarted
    assert remote_md5(direct, bucket, "big.bin") == digest


def test_download_resumes_after_a_reset_mid_body(
    stack,  # type: ignore[no-untyped-def]
    direct: StorageManager,
    bucket: str,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src.bin"
    digest = write_random(src, 8 * MiB)
    direct.upload(src, bucket, "d.bin", resumable=False)
    match = lambda method, path: method == "GET" and "/object/" in path  # noqa: E731
    with FaultProxy(stack.url, match=match) as proxy:
        proxy.script("reset_response", "status_500", "stall")
        with through(proxy, stack, tmp_path) as faulty:
            result = faulty.download(bucket, "d.bin", tmp_path / "out.bin")
    assert result.retries == 3 and result.verified
    assert md5_file(tmp_path / "out.bin") == digest
    assert not (tmp_path / ".out.bin.hkpart").exists()


def test_injected_429_and_503_are_retried(
    stack,  # type: ignore[no-untyped-def]
    bucket: str,
    tmp_path: Path,
) -> None:
    waits: list[float] = []
    with (
        FaultProxy(stack.url) as proxy,
        through(proxy, stack, tmp_path, sleep=waits.append) as faulty,
        faulty.track() as stats,
    ):
        proxy.script("status_429", "status_503")
        assert bucket in [b.id for b in faulty.list_buckets()]
    assert stats.attempts == 3 and stats.retries == 2
    assert len(waits) == 2


def test_a_non_retryable_error_fails_after_one_attempt(
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    unique_name: str,
) -> None:
    with FaultProxy(stack.url) as proxy, through(proxy, stack, tmp_path) as faulty:
        with faulty.track() as stats, pytest.raises(NotFoundError):
            faulty.upload(io.BytesIO(b"x"), unique_name, "no-bucket.txt")
        assert stats.attempts == 1
        hm = HybridSupabaseManager(storage=faulty)
        result = hm.get_bucket(unique_name)
        assert not result.success and isinstance(result.error, NotFoundError)
        assert result.metadata["attempts"] == 1 and result.metadata["retries"] == 0
    assert proxy.requests == 2  # one request each, never resent


def test_a_write_that_may_have_landed_is_not_resent(
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    with FaultProxy(stack.url) as proxy:
        proxy.script("drop_response")
        with through(proxy, stack, tmp_path) as faulty:
            hm = HybridSupabaseManager(storage=faulty)
            result = hm.execute_rpc("hybridkit_anything", {"n": 1})
    assert not result.success and isinstance(result.error, RetriesExhausted)
    assert "duplicate" in result.error.message
    assert result.metadata["attempts"] == 1 and proxy.requests == 1


def test_the_breaker_fails_fast_for_a_caller_that_asked_not_to_wait(
    stack,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=30.0, clock=clock)
    with (
        FaultProxy(stack.url, fault_rate=1.0, faults=["status_503"]) as proxy,
        through(
            proxy, stack, tmp_path, breaker=breaker, sleep=lambda s: None, wait_for_breaker=False
        ) as faulty,
    ):
        # An interactive caller that asked not to wait is told at once.
        with pytest.raises(CircuitOpenError):
            faulty.list_buckets()  # 3 failures open it; the 4th attempt fails fast
        assert breaker.state == "open" and proxy.requests == 3
        hm = HybridSupabaseManager(storage=faulty)
        fast = hm.list_buckets()
        assert isinstance(fast.error, CircuitOpenError) and fast.metadata["attempts"] == 0
        assert proxy.requests == 3  # nothing went out while open
        proxy.fault_rate = 0.0  # the service recovers
        clock.now += 30.0
        assert breaker.state == "half_open"
        assert hm.list_buckets().success  # the probe goes through and closes it
        assert breaker.state == "closed"
        assert hm.health_check().data.breaker_state == "closed"
