"""What the CLI's commands share: registering a command and its usual options, the target, a
yes/no confirmation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hybridkit.config import Settings, environment
from hybridkit.errors import HybridError
from hybridkit.target import resolve

__all__ = [
    "action_parsers",
    "add_action",
    "add_command",
    "add_db_options",
    "add_yes",
    "confirm",
    "error_text",
    "target_settings",
]

Handler = Callable[[argparse.Namespace], int]


def add_command(commands: Any, name: str, help: str, description: str) -> Any:
    """Register ``name`` on the top-level subparsers; returns its parser."""
    return commands.add_parser(name, help=help, description=description)


def action_parsers(parser: Any) -> Any:
    """The subparsers of ``parser``'s ACTION (required), for :func:`add_action`."""
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def add_action(
    actions: Any, name: str, help: str, handler: Handler, *options: Callable[[Any], None]
) -> argparse.ArgumentParser:
    """Register one action run by ``handler``, with the options each of ``options`` adds."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help)
    for add in options:
        add(parser)
    parser.set_defaults(handler=handler)
    return parser


def add_yes(parser: Any, help: str = "do not ask for confirmation") -> None:
    """``--yes``: go on without asking."""
    parser.add_argument("--yes", action="store_true", help=help)


def add_db_options(parser: Any, via_help: str) -> None:
    """``--via`` (the direct connection or the Management API) and ``--db-url``."""
    parser.add_argument(
        "--via", choices=("auto", "sql", "management"), default="auto", help=via_help
    )
    parser.add_argument("--db-url", help="PostgreSQL URL (overrides SUPABASE_DB_URL)")


def confirm(question: str, refusal: HybridError) -> bool:
    """Ask ``question [y/N]`` on the terminal; True for y/yes.

    Raises ``refusal`` when there is no terminal to ask on (a scheduler must pass --yes).
    """
    if not sys.stdin.isatty():
        raise refusal
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def target_settings(**overrides: Any) -> Settings:
    """The configured project's settings, else the local stack's (started if needed).

    Says on stderr when the local stack is the target, so output on stdout stays clean.
    """
    target = resolve(**overrides)
    if target.local:
        print(
            f"target: the local stack at {target.settings.supabase_url} "
            "(no SUPABASE_URL or SUPABASE_DB_URL set)",
            file=sys.stderr,
        )
    return target.settings


def redacted(text: str) -> str:
    """``text`` without any secret of this process's environment (the CLI's stderr)."""
    from hybridkit.redact import known_secrets, redact_text

    return redact_text(text, known_secrets(environment()))[0]


def error_text(error: HybridError) -> str:
    """How the CLI says ``error`` on stderr: ``error: <message>``, then ``hint: <hint>``
    when the error carries one, both without a secret."""
    text = f"error: {redacted(str(error))}"
    return f"{text}\nhint: {redacted(error.hint)}" if error.hint else text
