"""``hybridkit mcp``: the manager's operations and the runbooks as tools for AI assistants.

An MCP server on the official Python SDK (``mcp`` 2.x, ``mcp.server.mcpserver.MCPServer``),
using the same settings, manager and error tree as the CLI. Read-only unless started
with ``allow_writes``; destructive tools confirm with a token; local files stay inside
the root folder; no secret reaches a result, an error or the log.

Modules follow a call's route: ``_server`` (the MCP server, resources, transports) →
``_boundary`` (the one translation of errors, bounds and redaction) → ``_tools`` (the
tools and their rules) with ``_confirm`` (plan tokens), ``_paths`` (root confinement)
and ``_runbooks`` (what a runbook run would change).

Example:
    >>> from hybridkit.mcp import serve   # doctest: +SKIP
    >>> serve(allow_writes=False, root=".")   # stdio, until the client hangs up
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hybridkit import __version__
from hybridkit.config import mask_url
from hybridkit.errors import ConfigError
from hybridkit.mcp._boundary import Boundary, Redactor, ToolRefusal
from hybridkit.mcp._confirm import Confirmations
from hybridkit.mcp._paths import Root
from hybridkit.mcp._server import build_server, require_mcp
from hybridkit.mcp._tools import TOOL_NAMES, Toolbox, ToolboxOptions

__all__ = [
    "TOOL_NAMES",
    "Boundary",
    "Confirmations",
    "Redactor",
    "Root",
    "ToolRefusal",
    "Toolbox",
    "ToolboxOptions",
    "build_server",
    "require_mcp",
    "serve",
]


def serve(
    *,
    allow_writes: bool = False,
    root: str | os.PathLike[str] = ".",
    runs_dir: str | os.PathLike[str] | None = None,
    migrations_dir: str | os.PathLike[str] | None = None,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
) -> None:
    """Start the server on the configured project (else the local stack) and serve.

    Args:
        allow_writes: allow tools that change the project.
        root: the folder local files are confined to.
        runs_dir: runbook outputs (default ``<root>/runs``).
        migrations_dir: default ``./migrations`` when it exists, else the kit's own.
        http: serve streamable HTTP on ``host:port`` instead of stdio.
        token: the bearer token HTTP requires (needed beyond loopback).

    Raises:
        ConfigError: the SDK is missing, a setting is malformed, HTTP beyond loopback
            has no token, or the root is the whole disk.
    """
    require_mcp()
    from hybridkit.local import LocalStack
    from hybridkit.manager import HybridSupabaseManager
    from hybridkit.mcp._server import (
        check_http_binding,
        default_migrations_dir,
        secrets_of,
        serve_http,
        serve_stdio,
    )
    from hybridkit.target import resolve

    # Checked before anything connects or starts.
    if http:
        check_http_binding(host, token)
    folder = Path(root).expanduser().resolve()
    if folder == Path(folder.anchor):
        # Desktop apps often start servers in "/": confining files to it would confine nothing.
        raise ConfigError(
            f"the root folder for local files would be {folder} (the whole disk): pass --root "
            "with the folder the assistant may read and write"
        )
    target = resolve(**(settings_overrides or {}))
    kernel_env: dict[str, str] = {}
    if target.local_dir is not None:
        # Runbook kernels must reach the same stack, whatever folder they run in.
        kernel_env = {
            **LocalStack(target.local_dir).env(),
            "HYBRIDKIT_LOCAL_DIR": str(target.local_dir),
        }
    options = ToolboxOptions(
        allow_writes=allow_writes,
        root=folder,
        runs_dir=Path(runs_dir).absolute() if runs_dir else folder / "runs",
        migrations_dir=Path(migrations_dir).absolute()
        if migrations_dir
        else default_migrations_dir(),
        kernel_env=kernel_env,
    )
    redactor = Redactor([*secrets_of(target.settings, kernel_env), *([token] if token else [])])
    with HybridSupabaseManager(target.settings) as manager:
        server = build_server(manager, options, redactor)
        settings = target.settings
        logging.getLogger("hybridkit.mcp").info(
            "hybridkit mcp %s on %s (%s key%s); %s; local files confined to %s",
            __version__,
            mask_url(settings.supabase_url or "") or "(no SUPABASE_URL)",
            settings.key_role,
            ", the local stack" if target.local else "",
            "writes ALLOWED" if allow_writes else "read-only",
            folder,
        )
        if http:
            serve_http(server, host=host, port=port, token=token)
        else:
            serve_stdio(server)
