"""The ``hybridkit`` command: thin argument parsing over one library call per subcommand.

Exit codes: 0 success, 1 the operation failed (a one-line reason on stderr),
2 bad usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hybridkit import __version__
from hybridkit.cli._common import redacted
from hybridkit.config import environment
from hybridkit.errors import HybridError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from hybridkit.cli import branches, demo, local, mcp, migrate, profiles, sql, storage
    from hybridkit.cli import run as runbooks

    parser = argparse.ArgumentParser(
        prog="hybridkit",
        description="Operations kit for Supabase: runbooks, storage and a local stack.",
    )
    parser.add_argument("--version", action="version", version=f"hybridkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    local.add_parser(commands)
    demo.add_parser(commands)
    runbooks.add_parser(commands)
    migrate.add_parser(commands)
    sql.add_parser(commands)
    branches.add_parser(commands)
    storage.add_parser(commands)
    profiles.add_parser(commands)
    mcp.add_parser(commands)
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
        print(f"error: {redacted(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
