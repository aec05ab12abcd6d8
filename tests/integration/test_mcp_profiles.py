"""MCP storage tools take a ``profile``: another project named by HYBRIDKIT_PROFILE_<NAME>_*."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from managerkit import settings_for
from mcpkit import assert_no_secret, secrets_of, stdio_session

from hybridkit.manager import HybridSupabaseManager


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from hybridkit.local import LocalStack

    with LocalStack(dir=tmp_path_factory.mktemp("mcp-other"), port=0) as local:
        yield local


def test_storage_tools_act_on_the_profile_they_are_given(
    stack: Any, other: Any, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_bytes(b"to the other project")
    name = f"mcp-prof-{uuid.uuid4().hex[:8]}"
    env = {
        "HYBRIDKIT_PROFILE_OTHER_URL": other.url,
        "HYBRIDKIT_PROFILE_OTHER_SERVICE_ROLE_KEY": other.service_role_key,
    }
    here = HybridSupabaseManager(settings_for(stack.url, stack.service_role_key))
    there = HybridSupabaseManager(settings_for(other.url, other.service_role_key))

    async def scenario() -> None:
        async with stdio_session(stack, root, "--allow-writes", env=env) as s:
            await s.ok("create_bucket", {"name": name, "profile": "other"})
            await s.ok(
                "upload_file",
                {"local_path": "a.txt", "bucket": name, "path": "x/a.txt", "profile": "other"},
            )
            listed = await s.ok(
                "list_objects", {"bucket": name, "recursive": True, "profile": "other"}
            )
            assert [o["name"] for o in listed["objects"]] == ["x/a.txt"]
            names = {b["name"] for b in (await s.ok("list_buckets", {}))["buckets"]}
            assert name not in names  # the server's own project is untouched
            plan = await s.ok(
                "delete_bucket", {"name": name, "empty_first": True, "profile": "other"}
            )
            assert plan["plan"]["objects"] == 1
            assert there.object_exists(name, "x/a.txt").unwrap() is True
            done = await s.ok(
                "delete_bucket",
                {"name": name, "empty_first": True, "profile": "other", "confirm": plan["confirm"]},
            )
            assert done["status"] == "deleted"
            text = await s.refused("list_buckets", {"profile": "nosuch"})
            assert "nosuch" in text
            assert assert_no_secret(s.seen, [*secrets_of(stack), other.service_role_key]) > 0

    try:
        anyio.run(scenario)
        assert not there.get_bucket(name).success
        assert not here.get_bucket(name).success
    finally:
        for manager in (here, there):
            manager.delete_bucket(name, force=True)
            manager.close()
