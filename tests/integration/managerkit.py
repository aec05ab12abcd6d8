"""Helpers shared by the manager integration tests (not fixtures: plain functions)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hybridkit.config import Settings
from hybridkit.storage import StorageManager

MiB = 1024 * 1024


def settings_for(url: str, key: str, **overrides: Any) -> Settings:
    """Settings aimed at ``url`` that ignore the developer's environment and .env."""
    values: dict[str, Any] = {
        "supabase_url": url,
        "service_role_key": key,
        "max_retries": 3,
        "upload_timeout": 120,
        "progress_interval": 1e-6,  # report every block: tests look at the steps
    }
    values.update(overrides)
    return Settings.load(env={}, env_file=None, **values)


def write_random(path: Path, size: int, seed: int | None = None) -> str:
    """Write ``size`` pseudo-random bytes (in 1 MiB blocks); return their MD5."""
    rng = random.Random(seed if seed is not None else size)
    digest = hashlib.md5(usedforsecurity=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(MiB, left)
            block = rng.randbytes(n) if seed is not None else os.urandom(n)
            digest.update(block)
            fh.write(block)
            left -= n
    return digest.hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def remote_md5(manager: StorageManager, bucket: str, key: str) -> str:
    """Download ``bucket/key`` straight through httpx and hash it (no hybridkit logic)."""
    digest = hashlib.md5(usedforsecurity=False)
    url = f"{manager.storage_url}/object/{bucket}/{key}"
    with manager.http.stream("GET", url, headers=manager.session.auth_headers) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def temp_bucket(manager: StorageManager, name: str, **options: Any) -> Iterator[str]:
    """Create a bucket and delete it (emptied) afterwards, whatever happens."""
    manager.create_bucket(name, **options)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            manager.delete_bucket(name, force=True)
