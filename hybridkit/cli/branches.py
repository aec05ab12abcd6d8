"""``hybridkit branches list|create|delete``: database branches through the Management API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hybridkit._tables import text_table
from hybridkit.config import Settings
from hybridkit.errors import InvalidInputError

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "branches",
        help="list, create and delete database branches (Management API)",
        description="Branches through the Management API: needs SUPABASE_ACCESS_TOKEN and "
        "SUPABASE_PROJECT_REF (SUPABASE_MANAGEMENT_URL for the local stack).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every branch, the default one included")
    listing.set_defaults(handler=_list)
    create = actions.add_parser("create", help="create a branch (parent's migrations, no data)")
    create.add_argument("name")
    create.add_argument("--git-branch", help="the git branch it follows")
    create.add_argument("--persistent", action="store_true", help="keep it when merged")
    create.set_defaults(handler=_create)
    delete = actions.add_parser("delete", help="delete a branch and its database")
    delete.add_argument("branch", help="branch id, ref or name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=_delete)


def _client() -> Any:
    from hybridkit.management import ManagementClient

    return ManagementClient.from_settings(Settings.load())


def _list(args: argparse.Namespace) -> int:
    with _client() as client:
        branches = client.list_branches()
    rows = [
        (b.name, b.project_ref, b.status, "yes" if b.is_default else "", b.id) for b in branches
    ]
    print("\n".join(text_table(("NAME", "REF", "STATUS", "DEFAULT", "ID"), rows)))
    return 0


def _create(args: argparse.Namespace) -> int:
    with _client() as client:
        branch = client.create_branch(
            args.name, git_branch=args.git_branch, persistent=args.persistent
        )
    print(
        f"created branch {branch.name} (ref {branch.project_ref}, id {branch.id}): {branch.status}"
    )
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _client() as client:
        matches = [
            b
            for b in client.list_branches()
            if args.branch in (b.id, b.project_ref, b.name) and not b.is_default
        ]
        if not matches:
            raise InvalidInputError(f"no branch {args.branch!r} (see `hybridkit branches list`)")
        branch = matches[0]
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInputError(
                    f"deleting branch {branch.name} drops its database; pass --yes to confirm"
                )
            answer = input(
                f"Delete branch {branch.name} ({branch.project_ref}) and its data? [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("cancelled; nothing changed")
                return 1
        client.delete_branch(branch.id)
    print(f"deleted branch {branch.name} ({branch.project_ref})")
    return 0
