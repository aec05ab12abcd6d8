"""Shared fixtures: one local stack per test session, on free ports.

Set ``HYBRIDKIT_TEST_URL`` (with ``HYBRIDKIT_TEST_ANON_KEY``,
``HYBRIDKIT_TEST_SERVICE_ROLE_KEY`` and optionally ``HYBRIDKIT_TEST_JWT_SECRET``,
``HYBRIDKIT_TEST_DB_URL``) to run the same tests against another stack or a real
project instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Target:
    """Where the tests send their requests."""

    url: str
    anon_key: str
    service_role_key: str
    jwt_secret: str | None
    db_url: str | None
    local: bool
    access_token: str | None = None

    def mint_jwt(self, claims: dict[str, Any]) -> str:
        import jwt

        if self.jwt_secret is None:
            pytest.skip("minting JWTs needs the target's JWT secret")
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A running local stack (or the target named by HYBRIDKIT_TEST_URL)."""
    url = os.environ.get("HYBRIDKIT_TEST_URL")
    if url:
        yield Target(
            url=url.rstrip("/"),
            anon_key=os.environ["HYBRIDKIT_TEST_ANON_KEY"],
            service_role_key=os.environ["HYBRIDKIT_TEST_SERVICE_ROLE_KEY"],
            jwt_secret=os.environ.get("HYBRIDKIT_TEST_JWT_SECRET"),
            db_url=os.environ.get("HYBRIDKIT_TEST_DB_URL"),
            local=False,
        )
        return
    from hybridkit.local import LocalStack

    state = tmp_path_factory.mktemp("stack")
    with LocalStack(dir=state, port=0) as local:
        yield Target(
            url=local.url,
            anon_key=local.anon_key,
            service_role_key=local.service_role_key,
            jwt_secret=local.jwt_secret,
            db_url=local.db_url,
            local=True,
            access_token=local.access_token,
        )


@pytest.fixture
def unique_name() -> str:
    """A bucket or object name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep files worth looking at afterwards (screenshots, notebooks)."""
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
