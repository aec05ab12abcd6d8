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


def pytest_configure(config: pytest.Config) -> None:
    """Keep the suite away from the user's own project and local stack.

    A user may run the tests with a stack of theirs running on 54321 and its exports
    in the shell (``eval "$(hybridkit local env)"``): no test may reach it. Settings
    come only from the ``HYBRIDKIT_TEST_*`` variables; a stack started on demand
    (a runbook or command with nothing configured) lives in a folder of the run's own
    and listens on a free port.
    """
    for name in list(os.environ):
        if name.startswith(("SUPABASE_", "HYBRIDKIT_PROFILE_")):
            del os.environ[name]
    import tempfile

    own = Path(tempfile.mkdtemp(prefix="hybridkit-tests-"))
    os.environ["HYBRIDKIT_LOCAL_DIR"] = str(own / "local")
    os.environ["HYBRIDKIT_LOCAL_PORT"] = "0"
    os.environ["HYBRIDKIT_ENV_FILE"] = ""  # a user's .env in the working folder is theirs
    config.add_cleanup(lambda: _stop_on_demand_stack(own))


def _stop_on_demand_stack(own: Path) -> None:
    import shutil

    from hybridkit.local import LocalStack

    stack = LocalStack(own / "local")
    if stack.paths.root.is_dir():
        stack.stop()
        stack.reset_files()
    shutil.rmtree(own, ignore_errors=True)


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
