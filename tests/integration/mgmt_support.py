"""Fixtures for tests that use the Management API and branches.

Import the fixtures into a test module (``from mgmt_support import management, branch``).

Against the session's local stack the access token is read from the stack's own
state folder; against another target set ``HYBRIDKIT_TEST_ACCESS_TOKEN``,
``HYBRIDKIT_TEST_PROJECT_REF`` and ``HYBRIDKIT_TEST_MANAGEMENT_URL``. Branch
tests create real branches, so against anything but the local stack they also
need ``HYBRIDKIT_TEST_BRANCHES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from hybridkit.management import BranchDetail, ManagementClient
from hybridkit.retry import Retrier, RetryPolicy

if TYPE_CHECKING:
    from conftest import Target

__all__ = ["BranchTarget", "branch", "management"]


def _local_access_token(stack: Target, tmp_path_factory: pytest.TempPathFactory) -> str | None:
    from hybridkit.local import LocalStack
    from hybridkit.local.state import StackState

    for folder in tmp_path_factory.getbasetemp().glob("stack*"):
        state = StackState.read(folder / "state.json")
        if state is not None and state.url == stack.url:
            return LocalStack(folder).access_token
    return None


@pytest.fixture(scope="session")
def management(
    stack: Target, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagementClient]:
    token = os.environ.get("HYBRIDKIT_TEST_ACCESS_TOKEN")
    if not token and stack.local:
        token = _local_access_token(stack, tmp_path_factory)
    if not token:
        pytest.skip("needs the target's Management API access token")
    client = ManagementClient(
        access_token=token,
        project_ref=os.environ.get("HYBRIDKIT_TEST_PROJECT_REF", "local"),
        base_url=os.environ.get("HYBRIDKIT_TEST_MANAGEMENT_URL", stack.url),
        retrier=Retrier(RetryPolicy(max_retries=2), sleep=lambda _s: None),
    )
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class BranchTarget:
    """A fresh branch: its id and ref, a Management client scoped to it, its DB URL."""

    id: str
    ref: str
    client: ManagementClient
    detail: BranchDetail

    @property
    def db_url(self) -> str:
        return self.detail.db_url().get_secret_value()


@pytest.fixture
def branch(stack: Target, management: ManagementClient) -> Iterator[BranchTarget]:
    """A new branch of the main project, deleted afterwards."""
    if not stack.local and os.environ.get("HYBRIDKIT_TEST_BRANCHES") != "1":
        pytest.skip("creates branches: set HYBRIDKIT_TEST_BRANCHES=1 to allow it on this target")
    created = management.create_branch(f"test-{uuid.uuid4().hex[:10]}")
    try:
        yield BranchTarget(
            created.id,
            created.project_ref,
            management.for_project(created.project_ref),
            management.get_branch(created.id),
        )
    finally:
        management.delete_branch(created.id)
