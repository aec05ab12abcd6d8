"""``hybridkit mcp``: serve the kit's tools to an AI assistant over MCP.

Stdio by default (what Claude Desktop, Claude Code, Cursor and VS Code launch);
``--http`` serves streamable HTTP on 127.0.0.1. Read-only unless ``--allow-writes``.
Exit codes: 0 when the client hung up, 1 when the server could not start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hybridkit.config import kit_env

__all__ = ["add_arguments"]


def add_arguments(parser: Any) -> None:
    """The options of ``hybridkit mcp`` (registered in :mod:`hybridkit.cli`)."""
    parser.add_argument(
        "--allow-writes", action="store_true", help="allow tools that change the project"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="the folder upload_file/download_file are confined to (default: the working folder)",
    )
    parser.add_argument("--runs", type=Path, help="runbook outputs (default: ROOT/runs)")
    parser.add_argument(
        "--migrations", type=Path, help="migrations folder (default: ./migrations, else the kit's)"
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP, not stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    parser.add_argument(
        "--token",
        help="bearer token HTTP clients must send (default: $HYBRIDKIT_MCP_TOKEN); "
        "required beyond loopback",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from hybridkit.mcp import require_mcp, serve

    require_mcp()
    if not args.root.is_dir():
        from hybridkit.errors import InvalidInputError

        raise InvalidInputError(f"--root {args.root} is not a folder")
    serve(
        allow_writes=args.allow_writes,
        root=args.root,
        runs_dir=args.runs,
        migrations_dir=args.migrations,
        http=args.http,
        host=args.host,
        port=args.port,
        token=args.token or kit_env("HYBRIDKIT_MCP_TOKEN") or None,
    )
    return 0
