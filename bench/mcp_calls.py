"""`hybridkit mcp` over stdio, timed from the SDK's client: start-up, small calls, a transfer.

Usage::

    .venv/bin/python bench/mcp_calls.py              # 3 MiB file, 20 list_buckets calls
    .venv/bin/python bench/mcp_calls.py --size-mib 64 --calls 50

It starts a throw-away local stack, then `python -m hybridkit mcp --allow-writes` as a
subprocess, and prints the time to start and initialise, the mean round trip of
`list_buckets`, the first `execute_sql`, an `upload_file` and `download_file` of a
random file (checked byte-identical), and a `run_runbook("health_check")`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from hybridkit.local import LocalStack


async def measure(stack: Any, root: Path, size: int, calls: int) -> None:
    body = os.urandom(size)
    (root / "big.bin").write_bytes(body)
    env = {
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_DB_URL": stack.db_url,
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hybridkit", "mcp", "--allow-writes", "--root", str(root)],
        env=env,
        cwd=str(root),
    )
    began = time.perf_counter()
    with (root.parent / "server.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=600) as c:
            print(f"start + initialize      {time.perf_counter() - began:8.2f} s")
            await c.call_tool("create_bucket", {"name": "bench"})
            t = time.perf_counter()
            for _ in range(calls):
                await c.call_tool("list_buckets", {})
            each = 1000 * (time.perf_counter() - t) / calls
            print(f"list_buckets            {each:8.1f} ms/call")
            t = time.perf_counter()
            await c.call_tool("execute_sql", {"query": "select 1"})
            print(f"execute_sql (first)     {1000 * (time.perf_counter() - t):8.1f} ms")
            mib = size / 2**20
            for tool, args in (
                ("upload_file", {"local_path": "big.bin", "bucket": "bench", "path": "big.bin"}),
                ("download_file", {"bucket": "bench", "path": "big.bin", "local_path": "back.bin"}),
            ):
                t = time.perf_counter()
                result = await c.call_tool(tool, args)
                took = time.perf_counter() - t
                assert not result.is_error, result.content
                print(f"{tool:<14} {mib:5.0f} MiB {took:8.2f} s  ({mib / took:6.1f} MiB/s)")
            back = (root / "back.bin").read_bytes()
            assert hashlib.sha256(back).digest() == hashlib.sha256(body).digest()
            t = time.perf_counter()
            result = await c.call_tool("run_runbook", {"name": "health_check"})
            ok = (result.structured_content or {}).get("ok")
            print(f"run_runbook health_check {time.perf_counter() - t:7.1f} s  (ok={ok})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        with LocalStack(dir=Path(tmp) / "stack", port=0) as stack:
            anyio.run(measure, stack, root, args.size_mib * 2**20, args.calls)


if __name__ == "__main__":
    main()
