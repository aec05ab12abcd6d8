"""Fixtures for the widget tests: panels built without a browser, against the local stack.

Outside a kernel ipywidgets 8 uses a dummy comm: widgets are constructed, traits
change, ``Button.click()`` fires the handlers — so a panel's logic and wiring can be
tested synchronously. Nothing here is displayed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets", reason="the widget tests need hybridkit-widgets' ipywidgets")

from hybridkit.config import Settings
from hybridkit.manager import HybridSupabaseManager


@pytest.fixture(scope="session")
def settings(stack: Any) -> Settings:
    """The test stack's settings (service role)."""
    env = {
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_ANON_KEY": stack.anon_key,
    }
    if stack.db_url:
        env["SUPABASE_DB_URL"] = stack.db_url
    return Settings.load(env=env, env_file=None)


@pytest.fixture
def manager(settings: Settings, tmp_path: Path) -> Iterator[HybridSupabaseManager]:
    """A manager on the test stack (resumable uploads remembered under tmp_path)."""
    with HybridSupabaseManager(settings, resume_dir=tmp_path / "tus") as hm:
        yield hm


@pytest.fixture
def bucket(manager: HybridSupabaseManager, unique_name: str) -> Iterator[str]:
    """A fresh private bucket, deleted (with its objects) afterwards."""
    manager.create_bucket(unique_name).unwrap()
    try:
        yield unique_name
    finally:
        manager.delete_bucket(unique_name, force=True)


@pytest.fixture
def put(manager: HybridSupabaseManager) -> Callable[[str, str, bytes], None]:
    """Store an object: ``put(bucket, key, data)``."""

    def put(bucket: str, key: str, data: bytes) -> None:
        manager.upload_file(bucket, io.BytesIO(data), key).unwrap()

    return put
