"""The ``hybridkit`` command: thin argument parsing over one library call per subcommand.

Exit codes: 0 success, 1 the operation failed (a one-line reason on stderr),
2 bad usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hybridkit import __version__
from hybridkit.cli._common import add_command, error_text
from hybridkit.config import environment
from hybridkit.errors import HybridError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from hybridkit.cli import branches, demo, local, mcp, migrate, profiles, run, sql, storage

    parser = argparse.ArgumentParser(
        prog="hybridkit",
        description="Operations kit for Supabase: runbooks, storage and a local stack.",
    )
    parser.add_argument("--version", action="version", version=f"hybridkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    # One row a subcommand, in the order `hybridkit --help` lists them: (name, help, description,
    # the module's add_arguments, given the command's parser), or a module's own function given
    # the subparsers where it registers several commands or another shape.
    table: tuple[tuple[str, str, str, Callable[[Any], None]] | Callable[[Any], None], ...] = (
        (
            "local",
            "run an embedded, Supabase-compatible local stack",
            "An embedded local stack: a private PostgreSQL plus a Supabase-compatible "
            "API on 127.0.0.1, with the Supabase CLI's demo keys.",
            local.add_arguments,
        ),
        demo.add_parser,
        (
            "run",
            "run a runbook headless (papermill) and save its output notebook",
            "Run a runbook notebook headless with papermill. Parameters are converted to "
            "the types the runbook declares; secrets come only from the environment. The output "
            "notebook and a JSON record go to OUTPUT/<runbook>/.",
            run.add_arguments,
        ),
        run.add_listings,
        (
            "migrate",
            "apply and check SQL migrations (Supabase CLI layout and ledger)",
            "Migrations in <version>_<name>.sql files, recorded in the Supabase CLI's "
            "ledger (supabase_migrations.schema_migrations), over SUPABASE_DB_URL or the "
            "Management API (SUPABASE_ACCESS_TOKEN + SUPABASE_PROJECT_REF).",
            migrate.add_arguments,
        ),
        (
            "sql",
            "run SQL against the project (read-only unless --write)",
            "Run SQL over SUPABASE_DB_URL, or over the Management API when only "
            "SUPABASE_ACCESS_TOKEN and SUPABASE_PROJECT_REF are set. Read-only by default.",
            sql.add_arguments,
        ),
        (
            "branches",
            "list, create, delete, diff and merge database branches (Management API)",
            "Branches through the Management API: needs SUPABASE_ACCESS_TOKEN and "
            "SUPABASE_PROJECT_REF (SUPABASE_MANAGEMENT_URL for the local stack).",
            branches.add_arguments,
        ),
        storage.add_parser,
        (
            "profiles",
            "list the named projects (HYBRIDKIT_PROFILE_<NAME>_* and the profiles file)",
            "Profiles name projects for ss://<profile>/bucket/path (docs/sync.md). "
            "Keys are shown masked.",
            profiles.add_arguments,
        ),
        (
            "mcp",
            "serve storage, SQL, migrations and runbooks to AI assistants (MCP)",
            "An MCP server over the configured project (else the local stack): "
            "read-only unless --allow-writes; destructive tools confirm with a token; local files "
            "stay inside --root. Stdio by default; --http for streamable HTTP.",
            mcp.add_arguments,
        ),
    )
    for row in table:
        if callable(row):
            row(commands)
            continue
        name, help, description, add = row
        add(add_command(commands, name, help, description))
    return parser


def _redact_logs() -> None:
    """Log lines on stderr (the last-resort handler, any configured one) carry no secret."""
    import logging

    from hybridkit.redact import RedactingFilter, known_secrets

    redacting = RedactingFilter(known_secrets(environment()))
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None:
            handler.addFilter(redacting)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    _redact_logs()
    try:
        return handler(args)
    except HybridError as exc:
        print(error_text(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
