"""Build the MCP server around one manager, and run it over stdio or streamable HTTP.

Tools come from :class:`~hybridkit.mcp._tools.Toolbox`, each wrapped by the one
boundary; runbooks and run records are also resources (``hybridkit://runbooks``,
``hybridkit://runbooks/{name}``, ``hybridkit://runs``, ``hybridkit://runs/{run_id}``).

HTTP binds to 127.0.0.1 by default. Bound to any other address, it requires a bearer
token (``--token`` or ``HYBRIDKIT_MCP_TOKEN``) on every request; the token is compared
in constant time and never logged.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridkit import __version__
from hybridkit.config import environment
from hybridkit.errors import ConfigError
from hybridkit.mcp._boundary import Boundary, Redactor
from hybridkit.mcp._tools import (
    DESTRUCTIVE_TOOLS,
    READ_ONLY_TOOLS,
    Toolbox,
    ToolboxOptions,
    catalogue_name,
)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from hybridkit.config import Settings
    from hybridkit.manager import HybridSupabaseManager

__all__ = [
    "LOOPBACK",
    "build_server",
    "check_http_binding",
    "require_mcp",
    "serve_http",
    "serve_stdio",
]

LOOPBACK = ("127.0.0.1", "::1", "localhost")
INSTRUCTIONS = """\
hybridkit's tools for one Supabase project: storage buckets and objects, read-only SQL,
migrations and their drift checks, security advisors, and runbooks (operations notebooks).
{mode}
Destructive tools (delete_bucket, empty_bucket, remove_objects, destructive runbook runs)
answer the first call with a plan and a confirmation token: show the plan to the user, and
call again with confirm=<token> only when they agree. Local files (upload_file,
download_file) must be inside the server's root folder: {root}.
"""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def require_mcp() -> None:
    """Fail with the install command when the MCP SDK is missing."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise ConfigError(
            "hybridkit mcp needs the MCP Python SDK (mcp 2.x): pip install 'hybridkit[mcp]'"
        ) from None


def secrets_of(settings: Settings, extra_env: dict[str, str] | None = None) -> list[str]:
    """Every secret string the server must never show: the settings', the environment's."""
    from hybridkit.run import known_secrets

    env = environment()
    env.update(extra_env or {})
    for name, var in (
        ("service_role_key", "SUPABASE_SERVICE_ROLE_KEY"),
        ("anon_key", "SUPABASE_ANON_KEY"),
        ("access_token", "SUPABASE_ACCESS_TOKEN"),
        ("db_url", "SUPABASE_DB_URL"),
    ):
        secret = getattr(settings, name)
        if secret is not None:
            env[var] = secret.get_secret_value()
    found = known_secrets(env)
    token = env.get("HYBRIDKIT_MCP_TOKEN")
    return [*found, *([token] if token else [])]


def build_server(
    manager: HybridSupabaseManager, options: ToolboxOptions, redactor: Redactor
) -> MCPServer[Any]:
    """The MCP server: every tool behind the boundary, runbooks and runs as resources."""
    require_mcp()
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError
    from mcp_types import ToolAnnotations

    toolbox = Toolbox(manager, options)
    boundary = Boundary(redactor)
    mode = (
        "Writes are ALLOWED (--allow-writes)."
        if options.allow_writes
        else "The server is READ-ONLY: tools that change the project are refused."
    )
    server: MCPServer[Any] = MCPServer(
        "hybridkit",
        instructions=INSTRUCTIONS.format(mode=mode, root=toolbox.root.folder),
        version=__version__,
        # INFO: the SDK logs each failed call's (redacted) message, which desktop apps
        # show in their MCP log; the transports' chatter stays at WARNING below.
        log_level="INFO",
    )
    names = [*READ_ONLY_TOOLS, "create_bucket", "upload_file", *DESTRUCTIVE_TOOLS, "run_runbook"]
    for name in names:
        method = getattr(toolbox, name)
        description = inspect.cleandoc(method.__doc__ or "")
        if not options.allow_writes and name not in READ_ONLY_TOOLS:
            description += "\n\nThis server was started read-only: calls that change the project "
            description += "are refused (start it with --allow-writes)."
        server.add_tool(
            boundary.tool(method),
            name=name,
            description=description,
            annotations=ToolAnnotations(
                # download_file is allowed in read-only mode, but it writes a local file.
                read_only_hint=name in READ_ONLY_TOOLS and name != "download_file",
                destructive_hint=name in DESTRUCTIVE_TOOLS or name == "run_runbook",
                open_world_hint=False,
            ),
        )

    def resource_json(fn: Callable[..., Any]) -> Callable[..., str]:
        safe = boundary.tool(fn)

        @functools.wraps(fn)
        def read(*args: Any, **kwargs: Any) -> str:
            try:
                return json.dumps(safe(*args, **kwargs), indent=2)
            except Exception as exc:
                raise ResourceError(str(exc)) from None

        return read

    def runbooks() -> Any:
        """Every runbook with its parameters."""
        return toolbox.list_runbooks()

    def runbook(name: str) -> Any:
        """One runbook: its parameters and its description (the first markdown cell)."""
        from hybridkit.run import find_runbook

        book = find_runbook(catalogue_name(name), options.runbooks_dir)
        cells = json.loads(book.path.read_text(encoding="utf-8")).get("cells", [])
        intro: dict[str, Any] = next((c for c in cells if c.get("cell_type") == "markdown"), {})
        source = intro.get("source", "")
        return {
            "name": book.name,
            "title": book.title,
            "description": "".join(source) if isinstance(source, list) else source,
            "parameters": [vars(p) for p in book.parameters],
        }

    def runs() -> Any:
        """The 20 most recent runbook runs."""
        return toolbox.list_runs(20)

    def run_record(run_id: str) -> Any:
        """One run's full JSON record."""
        from hybridkit.run import list_runs

        for record in list_runs(options.runs_dir):
            if record.run_id == run_id:
                return json.loads(record.path.read_text(encoding="utf-8"))
        raise ResourceError(f"no run {run_id!r} in {options.runs_dir}")

    server.resource("hybridkit://runbooks", mime_type="application/json")(resource_json(runbooks))
    server.resource("hybridkit://runbooks/{name}", mime_type="application/json")(
        resource_json(runbook)
    )
    server.resource("hybridkit://runs", mime_type="application/json")(resource_json(runs))
    server.resource("hybridkit://runs/{run_id}", mime_type="application/json")(
        resource_json(run_record)
    )
    _redact_logs(boundary)
    return server


def _redact_logs(boundary: Boundary) -> None:
    """Log to stderr only, every record redacted (the SDK logs tool failures' text)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(boundary.log_filter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("mcp", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    for name in ("uvicorn", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve over stdin/stdout until the client closes them (what desktop assistants launch)."""
    server.run("stdio")


def bearer_guard(app: ASGIApp, token: str) -> ASGIApp:
    """An ASGI wrapper that answers 401 unless ``Authorization: Bearer <token>`` is sent."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def check_http_binding(host: str, token: str | None) -> None:
    """Refuse HTTP beyond loopback without a bearer token."""
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"serving MCP on {host} (beyond this machine) needs a bearer token: pass --token or "
            "set HYBRIDKIT_MCP_TOKEN, and give it to the client as Authorization: Bearer <token>"
        )


def serve_http(
    server: MCPServer[Any], *, host: str, port: int, token: str | None, path: str = "/mcp"
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp``; a bearer token beyond loopback."""
    import uvicorn

    check_http_binding(host, token)
    app: ASGIApp = server.streamable_http_app(streamable_http_path=path, host=host)
    if token:
        app = bearer_guard(app, token)
    logging.getLogger("hybridkit.mcp").info(
        "streamable HTTP on http://%s:%s%s%s",
        host,
        port,
        path,
        " (bearer token required)" if token else "",
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)


def default_migrations_dir() -> Path:
    """``./migrations`` when it exists, else the kit's own."""
    here = Path("migrations")
    if here.is_dir():
        return here.absolute()
    from hybridkit.runbook import kit_migrations_dir

    return kit_migrations_dir()
