"""`hybridkit mcp` checked from outside: the SDK's client over stdio against a real subprocess.

Each test starts the server (`python -m hybridkit mcp ...`) on the session's local stack
and scans everything it said — results, errors, resources, its stderr log — for secrets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from managerkit import settings_for
from mcpkit import REQUIRED_TOOLS, Session, assert_no_secret, secrets_of, stdio_session

from hybridkit.manager import HybridSupabaseManager

MiB = 1024 * 1024


def run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


@pytest.fixture
def hm(stack: Any) -> Iterator[HybridSupabaseManager]:
    """A manager straight on the stack, to set up and to check behind the server's back."""
    with HybridSupabaseManager(settings_for(stack.url, stack.service_role_key)) as manager:
        yield manager


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@contextlib.contextmanager
def bucket_with(hm: HybridSupabaseManager, name: str, files: dict[str, bytes]) -> Iterator[str]:
    hm.create_bucket(name).unwrap()
    try:
        for key, body in files.items():
            hm.upload_file(name, io.BytesIO(body), key).unwrap()
        yield name
    finally:
        hm.delete_bucket(name, force=True)


def _scan(stack: Any, session: Session, root: Path) -> None:
    log = root.parent / f"{root.name}-server.log"
    texts = [*session.seen, log.read_text(encoding="utf-8") if log.exists() else ""]
    assert assert_no_secret(texts, secrets_of(stack)) > 0


def test_read_only_mode_lists_reads_and_refuses_writes(
    stack: Any, hm: HybridSupabaseManager, root: Path, unique_name: str
) -> None:
    with bucket_with(hm, unique_name, {"a/one.txt": b"one", "a/two.txt": b"two", "z.bin": b"z"}):

        async def scenario() -> None:
            async with stdio_session(stack, root) as s:
                listing = await s.client.list_tools()
                s.seen.append(listing.model_dump_json())
                tools = {t.name: t for t in listing.tools}
                assert set(tools) >= REQUIRED_TOOLS
                schema = tools["create_bucket"].input_schema["properties"]
                assert {"name", "public", "file_size_limit", "allowed_mime_types"} <= set(schema)
                assert tools["list_buckets"].annotations.read_only_hint is True
                assert tools["delete_bucket"].annotations.destructive_hint is True
                assert "started read-only" in (tools["create_bucket"].description or "")
                assert "started read-only" not in (tools["list_buckets"].description or "")

                listed = await s.ok("list_buckets")
                assert unique_name in [b["name"] for b in listed["buckets"]]

                rows = await s.ok(
                    "execute_sql",
                    {"query": f"select id, public from storage.buckets where id = '{unique_name}'"},
                )
                assert rows["rows"] == [{"id": unique_name, "public": False}]

                text = await s.refused("create_bucket", {"name": f"{unique_name}-new"})
                assert "read-only" in text and "--allow-writes" in text and "hint:" in text
                text = await s.refused("delete_bucket", {"name": unique_name})
                assert "read-only" in text
                text = await s.refused(
                    "remove_objects", {"bucket": unique_name, "paths": ["z.bin"]}
                )
                assert "read-only" in text
                (root / "up.txt").write_bytes(b"up")
                await s.refused(
                    "upload_file", {"local_path": "up.txt", "bucket": unique_name, "path": "up.txt"}
                )

                text = await s.refused(
                    "execute_sql",
                    {"query": f"delete from storage.buckets where id = '{unique_name}'"},
                )
                assert "read-only" in text and "nothing was changed" in text

                one_level = await s.ok("list_objects", {"bucket": unique_name})
                assert {o["name"] for o in one_level["objects"]} == {"a/", "z.bin"}
                deep = await s.ok(
                    "list_objects", {"bucket": unique_name, "recursive": True, "limit": 2}
                )
                assert deep["truncated"] and deep["count"] == 2 and "truncated" in deep["note"]

                got = await s.ok(
                    "download_file",
                    {"bucket": unique_name, "path": "a/two.txt", "local_path": "out/two.txt"},
                )
                assert got["local_path"] == "out/two.txt"
                assert (root / "out" / "two.txt").read_bytes() == b"two"
                again = await s.refused(
                    "download_file",
                    {"bucket": unique_name, "path": "a/two.txt", "local_path": "out/two.txt"},
                )
                assert "already exists" in again

                signed = await s.ok(
                    "create_signed_url",
                    {"bucket": unique_name, "path": "a/one.txt", "expires_in": 60},
                )
                url = signed["signed_url"]
                if url.startswith("/"):
                    url = f"{stack.url}/storage/v1{url}"
                assert httpx.get(url, timeout=30).content == b"one"

                missing = await s.refused(
                    "download_file",
                    {"bucket": unique_name, "path": "nope.txt", "local_path": "nope.txt"},
                )
                assert "NotFoundError" in missing and "hint:" in missing
                assert not (root / "nope.txt").exists(), "a failed download leaves nothing"

                # A secret that reaches a result or an error is redacted on the way out.
                echo = await s.ok(
                    "execute_sql", {"query": f"select '{stack.service_role_key}' as k"}
                )
                assert echo["rows"] == [{"k": "[REDACTED]"}]
                if stack.jwt_secret:
                    broken = await s.refused(
                        "execute_sql", {"query": f"select '{stack.jwt_secret}'::int"}
                    )
                    assert "[REDACTED]" in broken

                health = await s.ok("health_check")
                assert health["ok"] is True and {c["name"] for c in health["services"]} == {
                    "storage",
                    "rest",
                }
                status = await s.ok("migration_status")
                assert status["migrations"] and "state" in status["migrations"][0]
                report = await s.ok("migration_check")
                assert {"ok", "problems", "warnings", "passed", "target"} <= set(report)
                assert report["problems"] or report["passed"]
                advisors = await s.ok("advisors")
                assert {"ok", "problems", "warnings", "lints"} <= set(advisors)

                _scan(stack, s, root)

            # The log says what failed (redacted: _scan read it) and what the server serves.
            log = (root.parent / f"{root.name}-server.log").read_text(encoding="utf-8")
            assert "read-only" in log and "failed" in log
            assert "[REDACTED]" in log, "the failed call that echoed the JWT secret is logged"

            # Nothing the server refused happened.
            assert hm.object_exists(unique_name, "z.bin").unwrap() is True
            assert hm.get_bucket(unique_name).success
            assert not hm.get_bucket(f"{unique_name}-new").success

        run(scenario)


def book_path() -> str:
    from hybridkit.run import find_runbook

    return str(find_runbook("health_check").path)


def test_runbooks_resources_and_history(stack: Any, root: Path) -> None:
    async def scenario() -> None:
        async with stdio_session(stack, root) as s:
            books = await s.ok("list_runbooks")
            names = {b["name"] for b in books["runbooks"]}
            assert {"health_check", "bucket_admin", "upload"} <= names

            done = await s.ok("run_runbook", {"name": "health_check"})
            assert done["ok"] is True and done["outcome"] == "ok", done
            assert Path(done["notebook"]).is_file()
            assert Path(done["notebook"]).is_relative_to(root / "runs")
            assert done["summaries"], "the runbook's summary table came back"

            # A destructive run is refused in read-only mode; a dry run is not destructive.
            text = await s.refused(
                "run_runbook",
                {
                    "name": "bucket_admin",
                    "parameters": {"action": "delete", "bucket": "x", "dry_run": False},
                },
            )
            assert "read-only" in text and "--allow-writes" in text
            bad = await s.refused("run_runbook", {"name": "no_such_runbook"})
            assert "known runbooks" in bad
            stray = root / "stray.ipynb"
            stray.write_text(Path(book_path()).read_text())
            for given in (str(stray), "../stray", "stray.ipynb"):
                text = await s.refused("run_runbook", {"name": given})
                assert "not a runbook name" in text, text
            secret = await s.refused(
                "run_runbook",
                {"name": "health_check", "parameters": {"service_role_key": "x" * 20}},
            )
            assert "secrets are never runbook parameters" in secret

            runs = await s.ok("list_runs", {"limit": 5})
            assert runs["runs"][0]["run_id"] == done["run_id"]

            resources = {str(r.uri) for r in (await s.client.list_resources()).resources}
            assert {"hybridkit://runbooks", "hybridkit://runs"} <= resources
            templates = {
                t.uri_template
                for t in (await s.client.list_resource_templates()).resource_templates
            }
            assert {"hybridkit://runbooks/{name}", "hybridkit://runs/{run_id}"} <= templates
            book = await s.read("hybridkit://runbooks/health_check")
            assert book["name"] == "health_check" and book["parameters"]
            record = await s.read(f"hybridkit://runs/{done['run_id']}")
            assert record["outcome"] == "ok" and record["via"] == "mcp"
            recent = await s.read("hybridkit://runs")
            assert recent["runs"][0]["run_id"] == done["run_id"]
            _scan(stack, s, root)

    run(scenario)


def test_writes_upload_download_and_confirmation(
    stack: Any, hm: HybridSupabaseManager, root: Path, unique_name: str
) -> None:
    body = os.urandom(3 * MiB)
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(body)

    async def scenario() -> None:
        async with stdio_session(stack, root, "--allow-writes") as s:
            created = await s.ok("create_bucket", {"name": unique_name, "file_size_limit": "10MB"})
            assert created["created"]["name"] == unique_name
            up = await s.ok(
                "upload_file",
                {"local_path": "data/big.bin", "bucket": unique_name, "path": "in/big.bin"},
            )
            assert up["size"] == len(body) and up["verified"] is True
            listed = await s.ok("list_objects", {"bucket": unique_name, "recursive": True})
            assert [(o["name"], o["size"]) for o in listed["objects"]] == [
                ("in/big.bin", len(body))
            ]
            await s.ok(
                "download_file",
                {"bucket": unique_name, "path": "in/big.bin", "local_path": "back/big.bin"},
            )
            back = (root / "back" / "big.bin").read_bytes()
            assert hashlib.sha256(back).digest() == hashlib.sha256(body).digest()

            # delete_bucket: a non-empty bucket needs empty_first; the first call only plans.
            text = await s.refused("delete_bucket", {"name": unique_name})
            assert "still holds 1 object" in text and "empty_first" in text
            plan = await s.ok("delete_bucket", {"name": unique_name, "empty_first": True})
            assert plan["status"] == "confirmation_required"
            assert plan["plan"]["objects"] == 1 and plan["plan"]["bytes"] == len(body)
            assert hm.object_exists(unique_name, "in/big.bin").unwrap() is True
            wrong = await s.ok(
                "delete_bucket",
                {"name": unique_name, "empty_first": True, "confirm": "confirm-0000000000000000"},
            )
            assert wrong["status"] == "confirmation_required" and "did not fit" in wrong["note"]
            assert hm.get_bucket(unique_name).success

            # The plan changes (a second object) → the old token no longer fits.
            token = wrong["confirm"]
            (root / "small.txt").write_bytes(b"small")
            await s.ok(
                "upload_file", {"local_path": "small.txt", "bucket": unique_name, "path": "s.txt"}
            )
            stale = await s.ok(
                "delete_bucket", {"name": unique_name, "empty_first": True, "confirm": token}
            )
            assert stale["status"] == "confirmation_required" and stale["plan"]["objects"] == 2
            assert hm.get_bucket(unique_name).success

            # remove_objects: plan, then act with the token.
            plan = await s.ok(
                "remove_objects", {"bucket": unique_name, "paths": ["s.txt", "nope.txt"]}
            )
            assert plan["plan"]["delete"] == ["s.txt"] and plan["plan"]["missing"] == ["nope.txt"]
            assert hm.object_exists(unique_name, "s.txt").unwrap() is True
            removed = await s.ok(
                "remove_objects",
                {"bucket": unique_name, "paths": ["s.txt", "nope.txt"], "confirm": plan["confirm"]},
            )
            assert removed["removed"] == ["s.txt"]
            assert hm.object_exists(unique_name, "s.txt").unwrap() is False
            reused = await s.ok(
                "remove_objects",
                {"bucket": unique_name, "paths": ["s.txt", "nope.txt"], "confirm": plan["confirm"]},
            )
            assert reused["status"] == "confirmation_required", "a token is single-use"

            # empty_bucket and delete_bucket, each confirmed.
            plan = await s.ok("empty_bucket", {"name": unique_name})
            assert hm.object_exists(unique_name, "in/big.bin").unwrap() is True
            await s.ok("empty_bucket", {"name": unique_name, "confirm": plan["confirm"]})
            assert hm.list_objects(unique_name).unwrap() == []
            plan = await s.ok("delete_bucket", {"name": unique_name})
            assert plan["plan"]["objects"] == 0
            done = await s.ok("delete_bucket", {"name": unique_name, "confirm": plan["confirm"]})
            assert done["status"] == "deleted"
            assert not hm.get_bucket(unique_name).success

            # A destructive runbook run: the plan first, the run only with the token.
            hm.create_bucket(f"{unique_name}-rb").unwrap()
            args = {
                "name": "bucket_admin",
                "parameters": {
                    "action": "delete",
                    "bucket": f"{unique_name}-rb",
                    "dry_run": False,
                    "confirm": f"{unique_name}-rb",
                },
            }
            plan = await s.ok("run_runbook", args)
            assert plan["status"] == "confirmation_required"
            assert "DELETE bucket" in plan["plan"]["action"]
            assert hm.get_bucket(f"{unique_name}-rb").success
            ran = await s.ok("run_runbook", {**args, "confirm": plan["confirm"]})
            assert ran["ok"] is True and ran["dry_run"] is False, ran
            assert not hm.get_bucket(f"{unique_name}-rb").success

            # Writes allowed, execute_sql still only reads.
            text = await s.refused("execute_sql", {"query": "delete from storage.buckets"})
            assert "read-only" in text
            _scan(stack, s, root)

    try:
        run(scenario)
    finally:
        hm.delete_bucket(unique_name, force=True)
        hm.delete_bucket(f"{unique_name}-rb", force=True)


def test_local_paths_are_confined_to_the_root(
    stack: Any, hm: HybridSupabaseManager, root: Path, unique_name: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"outside the root")
    (root / "escape").symlink_to(outside)
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "inside.txt").write_bytes(b"inside")
    (root / "alias.txt").symlink_to(root / "inside.txt")

    with bucket_with(hm, unique_name, {"k.txt": b"k"}):

        async def scenario() -> None:
            async with stdio_session(stack, root, "--allow-writes") as s:
                for given in (
                    "../outside/secret.txt",
                    str(outside / "secret.txt"),
                    "escape/secret.txt",
                    "link.txt",
                ):
                    text = await s.refused(
                        "upload_file", {"local_path": given, "bucket": unique_name, "path": "x"}
                    )
                    assert "outside the server's root" in text, (given, text)
                for given in (
                    "../outside/new.txt",
                    str(outside / "new.txt"),
                    "escape/new.txt",
                    "link.txt",
                ):
                    text = await s.refused(
                        "download_file",
                        {
                            "bucket": unique_name,
                            "path": "k.txt",
                            "local_path": given,
                            "overwrite": True,
                        },
                    )
                    assert "outside the server's root" in text, (given, text)
                # A symlink that stays inside the root is fine.
                await s.ok(
                    "upload_file", {"local_path": "alias.txt", "bucket": unique_name, "path": "a"}
                )
                text = await s.refused(
                    "run_runbook",
                    {"name": "upload", "parameters": {"source": "../outside", "bucket": "b"}},
                )
                assert "outside the server's root" in text
                _scan(stack, s, root)

        run(scenario)
        assert sorted(o.name for o in hm.list_objects(unique_name).unwrap()) == ["a", "k.txt"]
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert (outside / "secret.txt").read_bytes() == b"outside the root"
