"""`hybridkit mcp --http`: streamable HTTP on 127.0.0.1, with and without a bearer token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcpkit import REQUIRED_TOOLS, assert_no_secret, secrets_of, server_env

TOKEN = "test-bearer-7f3c9a51d2e84b60"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(stack: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The server on a free loopback port, with a bearer token; yields its URL and log."""
    port = _free_port()
    log = tmp_path / "http-server.log"
    env = {**server_env(stack), "PATH": "/usr/bin:/bin", "HYBRIDKIT_MCP_TOKEN": TOKEN}
    with log.open("w") as errlog:
        process = subprocess.Popen(
            [sys.executable, "-m", "hybridkit", "mcp", "--http", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=errlog,
            stderr=errlog,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp", log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_streamable_http_with_a_bearer_token(stack: Any, http_server: tuple[str, Path]) -> None:
    url, log = http_server
    seen: list[str] = []

    # No token, or a wrong one: refused before MCP sees the request.
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.post(url, json={}, headers=headers, timeout=30)
        assert answer.status_code == 401
        seen.append(answer.text)

    async def scenario() -> None:
        # httpx2 is the SDK's HTTP client; the token goes in as an ordinary header.
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        async with client, Client(streamable_http_client(url, http_client=client)) as session:
            names = {t.name for t in (await session.list_tools()).tools}
            assert names >= REQUIRED_TOOLS
            result = await session.call_tool("list_buckets", {})
            assert not result.is_error and "buckets" in result.structured_content
            result = await session.call_tool("execute_sql", {"query": "select 2 as two"})
            assert result.structured_content["rows"] == [{"two": 2}]
            result = await session.call_tool("create_bucket", {"name": "never-made"})
            assert result.is_error and "--allow-writes" in result.content[0].text
            seen.extend(getattr(b, "text", "") for b in result.content)

    anyio.run(scenario)
    text = log.read_text()
    assert "streamable HTTP on http://127.0.0.1" in text
    assert_no_secret([*seen, text], [*secrets_of(stack), TOKEN])


def test_http_beyond_loopback_needs_a_token(stack: Any, tmp_path: Path) -> None:
    env = {**server_env(stack), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hybridkit", "mcp", "--http", "--host", "0.0.0.0", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "needs a bearer token" in done.stderr and "HYBRIDKIT_MCP_TOKEN" in done.stderr


def test_the_whole_disk_is_no_root(stack: Any, tmp_path: Path) -> None:
    env = {**server_env(stack), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hybridkit", "mcp", "--root", "/"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "the whole disk" in done.stderr and "--root" in done.stderr
