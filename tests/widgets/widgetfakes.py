"""Test helpers: a stand-in manager for the edges a real stack does not produce on demand.

It returns ``HybridOperationResult`` values like the real facade; tests use it for
failures with secrets in their text, retries and cancellation at exact moments.
Everything else runs against the local stack.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hybridkit.errors import HybridError, RetryableError
from hybridkit.manager import HybridOperationResult
from hybridkit.progress import Progress


def ok(data: Any = None, **metadata: Any) -> HybridOperationResult:
    return HybridOperationResult(True, data, None, {"attempts": 1, "retries": 0, **metadata})


def failed(error: HybridError, **metadata: Any) -> HybridOperationResult:
    return HybridOperationResult(False, None, error, {"attempts": 1, "retries": 0, **metadata})


def snapshot(done: int, total: int, *, finished: bool = False) -> Progress:
    return Progress(done=done, total=total, elapsed=0.1, rate=1.0, eta=None, finished=finished)


class FakeManager:
    """Answers with canned results; ``upload`` decides what an upload does."""

    settings = None

    def __init__(self, *, fail_with: HybridError | None = None) -> None:
        self.fail_with = fail_with
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.upload: Callable[..., HybridOperationResult] | None = None
        self.lock = threading.Lock()

    def _answer(self, name: str, *args: Any, data: Any = None) -> HybridOperationResult:
        with self.lock:
            self.calls.append((name, args))
        if self.fail_with is not None:
            return failed(self.fail_with)
        return ok(data)

    def list_buckets(self) -> HybridOperationResult:
        return self._answer("list_buckets", data=[])

    def get_bucket(self, name: str) -> HybridOperationResult:
        # The bucket is always there: ``fail_with`` is for the operations after it.
        with self.lock:
            self.calls.append(("get_bucket", (name,)))
        return ok(None)

    def create_bucket(self, name: str, **options: Any) -> HybridOperationResult:
        return self._answer("create_bucket", name)

    def list_objects(self, bucket: str, prefix: str = "", **f: Any) -> HybridOperationResult:
        return self._answer("list_objects", bucket, prefix, data=[])

    def upload_file(
        self, bucket: str, source: Any, key: str, **options: Any
    ) -> HybridOperationResult:
        with self.lock:
            self.calls.append(("upload_file", (bucket, key)))
        if self.upload is not None:
            return self.upload(bucket, source, key, **options)
        if self.fail_with is not None:
            return failed(self.fail_with)
        return ok()


def retrying_upload(
    bucket: str, source: Any, key: str, *, progress: Any = None, **options: Any
) -> HybridOperationResult:
    """An upload whose body restarts twice (what a retry looks like from outside)."""
    data = source.read() if hasattr(source, "read") else b"x" * 10
    total = len(data)
    for _ in range(3):
        progress(snapshot(0, total))
        progress(snapshot(total // 2, total))
    progress(snapshot(total, total, finished=True))
    return ok(None, attempts=3, retries=2, bytes=total * 3)


def flaky_error() -> RetryableError:
    return RetryableError("upload b/k: gave up after 4 attempts; last error: ReadTimeout")


def keys_in(manager: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every key in a bucket, straight from the stack."""
    return sorted(o.name for o in manager.list_objects(bucket, prefix).unwrap())
