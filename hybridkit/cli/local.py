"""``hybridkit local start|stop|status|env|reset``: the embedded local stack from a shell."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from hybridkit.cli._common import action_parsers, add_action, add_yes, confirm
from hybridkit.errors import LocalStackError
from hybridkit.local import DEFAULT_DIR, DEFAULT_PORT, LocalStack

__all__ = ["add_arguments"]


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be between 0 and 65535, got {port}")
    return port


def add_arguments(parser: Any) -> None:
    """The actions of ``hybridkit local`` (registered in :mod:`hybridkit.cli`)."""
    actions = action_parsers(parser)
    start = add_action(actions, "start", "start the stack in the background", _start, _dir)
    start.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"API port on 127.0.0.1 (default: the port this stack used last, {DEFAULT_PORT} "
        "for a new one; 0 picks a free one)",
    )
    start.add_argument(
        "--random-secret",
        action="store_true",
        help="sign the keys with a random JWT secret instead of the CLI's demo secret "
        "(first start only)",
    )
    add_action(actions, "stop", "stop the stack (data is kept)", _stop, _dir)
    add_action(actions, "status", "say whether the stack runs, and where", _status, _dir)
    add_action(actions, "env", "print shell exports of the stack's URL and keys", _env, _dir)
    add_action(actions, "reset", "delete all buckets, objects and tables", _reset, _dir, add_yes)


def _dir(parser: Any) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"the stack's state folder (default: {DEFAULT_DIR})",
    )


def _existing(args: argparse.Namespace, none: str) -> LocalStack | None:
    """The stack in ``--dir``; None, having said ``none: there is no local stack in …``,
    when there is no such folder."""
    stack = LocalStack(args.dir)
    if stack.paths.root.is_dir():
        return stack
    print(f"{none}: there is no local stack in {stack.paths.root}")
    return None


def _start(args: argparse.Namespace) -> int:
    stack = LocalStack(args.dir, port=args.port, random_secret=args.random_secret)
    current = stack.status()
    if current.running and current.state is not None:
        print(f"already running: {current.detail}")
        return 0
    state = stack.start()
    print(f"local stack running at {state.url} (database on port {state.db_port})")
    print(f"  state folder: {stack.paths.root}")
    print(f'  use it:       eval "$(hybridkit local env --dir {shlex.quote(str(args.dir))})"')
    return 0


def _stop(args: argparse.Namespace) -> int:
    if (stack := _existing(args, "not running")) is None:
        return 0
    if stack.stop():
        print(f"stopped the local stack in {stack.paths.root} (data kept)")
    else:
        print(f"not running: the local stack in {stack.paths.root} was already stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = LocalStack(args.dir).status()
    print(status.detail)
    return 0 if status.running else 1


def _env(args: argparse.Namespace) -> int:
    stack = LocalStack(args.dir)
    status = stack.status()
    if not status.running:
        raise LocalStackError(status.detail)
    for name, value in stack.env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    if (stack := _existing(args, "nothing to reset")) is None:
        return 0
    refusal = LocalStackError(
        "reset deletes every bucket, object and table of the local stack; pass --yes to confirm"
    )
    question = f"Delete all data of the local stack in {stack.paths.root}?"
    if not args.yes and not confirm(question, refusal):
        print("reset cancelled; nothing changed")
        return 1
    restarted = stack.reset()
    print("local stack reset" + (" and started again" if restarted else " (it is stopped)"))
    return 0
