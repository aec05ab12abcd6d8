"""Drive `hybridkit mcp` from outside: the SDK's own client over a real subprocess.

Every text and structured value the server sends back (and its stderr log) is kept,
so a test can scan all of it for secrets at the end.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

REQUIRED_TOOLS = {
    "list_buckets",
    "create_bucket",
    "delete_bucket",
    "list_objects",
    "upload_file",
    "download_file",
    "remove_objects",
    "create_signed_url",
    "health_check",
    "migration_status",
    "migration_check",
    "execute_sql",
    "list_runbooks",
    "run_runbook",
    "list_runs",
    "advisors",
}


def server_env(stack: Any) -> dict[str, str]:
    """The environment the server runs with: the test stack's settings, nothing else."""
    env = {
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_ANON_KEY": stack.anon_key,
        "SUPABASE_MAX_RETRIES": "2",
    }
    if stack.db_url:
        env["SUPABASE_DB_URL"] = stack.db_url
    if stack.jwt_secret:
        env["SUPABASE_JWT_SECRET"] = stack.jwt_secret
    return env


def secrets_of(stack: Any) -> list[str]:
    """What must never appear in anything the server says."""
    found = [stack.service_role_key, stack.anon_key, stack.jwt_secret, stack.access_token]
    if stack.db_url:
        found.append(stack.db_url)
        password = urlsplit(stack.db_url).password
        if password:
            found.append(f":{password}@")
    return [s for s in found if s]


@dataclass
class Reply:
    """One tool call's answer."""

    is_error: bool
    data: Any
    text: str


@dataclass
class Session:
    """A connected client that records everything it receives."""

    client: Client
    seen: list[str] = field(default_factory=list)

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Reply:
        result = await self.client.call_tool(name, arguments or {})
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        self.seen.append(text)
        self.seen.append(json.dumps(result.structured_content, default=str))
        return Reply(result.is_error, result.structured_content, text)

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        reply = await self.call(name, arguments)
        assert not reply.is_error, f"{name} failed: {reply.text}"
        assert isinstance(reply.data, dict), reply
        return reply.data

    async def refused(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        reply = await self.call(name, arguments)
        assert reply.is_error, f"{name} was not refused: {reply.text}"
        return reply.text

    async def read(self, uri: str) -> Any:
        result = await self.client.read_resource(uri)
        text = "".join(getattr(c, "text", "") for c in result.contents)
        self.seen.append(text)
        return json.loads(text)


@contextlib.asynccontextmanager
async def stdio_session(
    stack: Any,
    root: Path,
    *args: str,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Session]:
    """`python -m hybridkit mcp ARGS --root ROOT` as a subprocess, with the SDK's client."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hybridkit", "mcp", "--root", str(root), *args],
        env={**server_env(stack), **(env or {})},
        cwd=str(root),
    )
    log = log or root.parent / f"{root.name}-server.log"
    with log.open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=300) as client:
            yield Session(client)


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> int:
    """Fail when any secret occurs in any text; return how many characters were scanned."""
    scanned = 0
    for text in texts:
        scanned += len(text)
        for secret in secrets:
            assert secret not in text, f"a secret leaked: …{text[:200]}…"
    return scanned
