"""Clients of the Storage API that the integration tests share (raw httpx, no SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from managerkit import settings_for, temp_bucket

from hybridkit.storage import StorageManager


def _client(stack: Any, key: str | None) -> httpx.Client:
    headers = {} if key is None else {"apikey": key, "Authorization": f"Bearer {key}"}
    return httpx.Client(base_url=f"{stack.url}/storage/v1", headers=headers, timeout=60)


@pytest.fixture
def api(stack: Any) -> Iterator[httpx.Client]:
    """Service-role client rooted at the Storage API."""
    with _client(stack, stack.service_role_key) as client:
        yield client


@pytest.fixture
def anon(stack: Any) -> Iterator[httpx.Client]:
    """Anon-key client rooted at the Storage API."""
    with _client(stack, stack.anon_key) as client:
        yield client


@pytest.fixture
def bare(stack: Any) -> Iterator[httpx.Client]:
    """No apikey, no Authorization: callers add what they test."""
    with _client(stack, None) as client:
        yield client


# --- the storage manager on the session stack (test_manager_*.py) ----------------------


@pytest.fixture
def manager(stack, tmp_path: Path) -> Iterator[StorageManager]:  # type: ignore[no-untyped-def]
    settings = settings_for(stack.url, stack.service_role_key)
    with StorageManager(settings, resume_dir=tmp_path / "resume") as m:
        yield m


@pytest.fixture
def bucket(manager: StorageManager, unique_name: str) -> Iterator[str]:
    with temp_bucket(manager, unique_name) as name:
        yield name
