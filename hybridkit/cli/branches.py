"""``hybridkit branches list|create|delete|diff|merge``: database branches (Management API).

``diff NAME`` compares the branch's live schema with its parent's — the same
catalog comparison as ``migrate check`` (:mod:`hybridkit.database.schema_diff`) — and
lists what merging would bring to the parent: ``added`` (only on the branch),
``dropped`` (only on the parent), ``changed``; each with the statement that
would make the parent match. Exit 1 when they differ, 0 when they match.
``merge NAME`` shows that diff and the branch's migrations the parent lacks (a
dry run), and with ``--yes`` merges through the Management API (which applies
those migrations to the parent), then diffs again: what remains was changed on
the branch by hand, outside its migrations.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from hybridkit._tables import text_table
from hybridkit.cli._common import action_parsers, add_action, add_yes, confirm
from hybridkit.config import Settings
from hybridkit.errors import InvalidInputError

__all__ = ["add_arguments"]


def add_arguments(parser: Any) -> None:
    """The actions of ``hybridkit branches`` (registered in :mod:`hybridkit.cli`)."""
    actions = action_parsers(parser)
    add_action(actions, "list", "every branch, the default one included", _list)
    create = add_action(
        actions, "create", "create a branch (parent's migrations, no data)", _create
    )
    create.add_argument("name")
    create.add_argument("--git-branch", help="the git branch it follows")
    create.add_argument("--persistent", action="store_true", help="keep it when merged")
    add_action(actions, "delete", "delete a branch and its database", _delete, _branch, add_yes)
    diff = add_action(
        actions, "diff", "what a branch changed against its parent's schema", _diff, _branch
    )
    diff.add_argument("--format", choices=("table", "json"), default="table")
    merge = add_action(
        actions,
        "merge",
        "apply a branch's new migrations to its parent (a dry run without --yes)",
        _merge,
        _branch,
    )
    add_yes(merge, "merge (default: show what would)")


def _branch(parser: Any) -> None:
    parser.add_argument("branch", help="branch id, ref or name")


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


def _find(client: Any, key: str) -> Any:
    matches = [
        b
        for b in client.list_branches()
        if key in (b.id, b.project_ref, b.name) and not b.is_default
    ]
    if not matches:
        raise InvalidInputError(f"no branch {key!r} (see `hybridkit branches list`)")
    return matches[0]


_AS_BRANCH = {"missing": "added", "extra": "dropped", "changed": "changed"}


def _branch_diff(client: Any, branch: Any) -> Any:
    """The parent as the live side, the branch as the expected one: rows repair the parent."""
    from hybridkit.database.shadow import database_diff

    child = client.for_project(branch.project_ref)
    diff = database_diff(
        lambda sql: child.query(sql, read_only=True),
        lambda sql: client.query(sql, read_only=True),
        expected_name=f"branch {branch.name} ({branch.project_ref})",
        live_name=f"its parent {client.project_ref}",
    )
    rows = tuple(dataclasses.replace(r, change=_AS_BRANCH[r.change]) for r in diff.rows)
    return dataclasses.replace(diff, rows=rows)


def _diff(args: argparse.Namespace) -> int:
    with _client() as client:
        branch = _find(client, args.branch)
        diff = _branch_diff(client, branch)
    if args.format == "json":
        print(json.dumps(diff.to_dict(), indent=2))
    else:
        print(diff.table(labels=("BRANCH", "PARENT")))
    return 0 if diff.ok else 1


def _merge(args: argparse.Namespace) -> int:
    with _client() as client:
        branch = _find(client, args.branch)
        child = client.for_project(branch.project_ref)
        done = {m.version for m in client.list_migrations()}
        todo = [m for m in child.list_migrations() if m.version not in done]
        diff = _branch_diff(client, branch)
        print(diff.table(labels=("BRANCH", "PARENT")))
        print()
        if not todo:
            print(f"branch {branch.name} has no migrations its parent lacks; nothing to merge")
            return 0 if diff.ok else 1
        print(f"the branch's migrations the parent lacks ({len(todo)}):")
        for migration in todo:
            print(f" • {migration.version}_{migration.name or ''}")
        if not args.yes:
            print("DRY RUN: nothing merged; pass --yes to apply them to the parent")
            return 0
        client.merge_branch(branch.id)
        after = _branch_diff(client, branch)
    print(f"merged {len(todo)} migration(s) of {branch.name} into its parent")
    if not after.ok:
        print("still different (changed on the branch outside its migrations):")
        print(after.table(labels=("BRANCH", "PARENT")))
        return 1
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _client() as client:
        branch = _find(client, args.branch)
        refusal = InvalidInputError(
            f"deleting branch {branch.name} drops its database; pass --yes to confirm"
        )
        question = f"Delete branch {branch.name} ({branch.project_ref}) and its data?"
        if not args.yes and not confirm(question, refusal):
            print("cancelled; nothing changed")
            return 1
        client.delete_branch(branch.id)
    print(f"deleted branch {branch.name} ({branch.project_ref})")
    return 0
