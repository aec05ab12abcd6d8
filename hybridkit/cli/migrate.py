"""``hybridkit migrate status|up|check|new``: the kit's migrations from a shell.

Exit codes: ``status`` 1 when there is drift (changed, missing locally, out of
order); ``check`` 1 when a check fails; ``up`` 1 when a migration fails.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hybridkit.cli._common import target_settings

__all__ = ["add_parser"]

DEFAULT_DIR = Path("migrations")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="apply and check SQL migrations (Supabase CLI layout and ledger)",
        description="Migrations in <version>_<name>.sql files, recorded in the Supabase CLI's "
        "ledger (supabase_migrations.schema_migrations), over SUPABASE_DB_URL or the "
        "Management API (SUPABASE_ACCESS_TOKEN + SUPABASE_PROJECT_REF).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--dir",
            type=Path,
            default=DEFAULT_DIR,
            help=f"migrations folder (default {DEFAULT_DIR})",
        )
        sub.add_argument(
            "--via",
            choices=("auto", "sql", "management"),
            default="auto",
            help="reach the database over SUPABASE_DB_URL (sql) or the Management API "
            "(default: the DB URL when set)",
        )
        sub.add_argument("--db-url", help="PostgreSQL URL (overrides SUPABASE_DB_URL)")

    status = actions.add_parser("status", help="applied, pending, changed, missing locally")
    common(status)
    status.set_defaults(handler=_status)

    up = actions.add_parser("up", help="apply pending migrations, each in one transaction")
    common(up)
    up.add_argument("--dry-run", action="store_true", help="print the SQL; change nothing")
    up.add_argument(
        "--include-all",
        action="store_true",
        help="also apply files older than the newest applied migration",
    )
    up.set_defaults(handler=_up)

    check = actions.add_parser(
        "check", help="extensions, indexes, policies, publication, RLS and security lints"
    )
    common(check)
    check.add_argument("--checks", type=Path, help="expectations file (default: <dir>/checks.toml)")
    check.add_argument("--no-lints", action="store_true", help="skip the advisor lints")
    check.add_argument("--problems-only", action="store_true", help="list failing checks only")
    check.set_defaults(handler=_check)

    new = actions.add_parser("new", help="create <timestamp>_<name>.sql and its rollback")
    new.add_argument("name", help="letters, digits, '_' and '-'")
    new.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"migrations folder (default {DEFAULT_DIR})"
    )
    new.set_defaults(handler=_new)


def _ledger(args: argparse.Namespace) -> Any:
    from hybridkit.migrations import ledger_from_settings

    settings = target_settings(db_url=args.db_url)
    return ledger_from_settings(settings, via=args.via)


def _status(args: argparse.Namespace) -> int:
    from hybridkit.migrations import migration_status

    status = migration_status(args.dir, _ledger(args))
    print(status.table())
    return 0 if status.ok else 1


def _up(args: argparse.Namespace) -> int:
    from hybridkit.migrations import apply_migrations

    ledger = _ledger(args)
    result = apply_migrations(args.dir, ledger, dry_run=args.dry_run, include_all=args.include_all)
    if not result.planned:
        print(f"nothing to apply: the database is up to date ({result.target})")
        return 0
    if result.dry_run:
        print("DRY RUN: migrations will *not* be applied")
        print(f"Would apply these migrations to {result.target}:")
        for migration in result.planned:
            print(f" • {migration.filename}")
        print()
        print(result.sql)
        return 0
    for migration in result.planned:
        print(f"applied {migration.filename}")
    print(f"{len(result.applied)} migration(s) applied to {result.target}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from hybridkit.checks import Expectations, check
    from hybridkit.migrations import migration_status

    ledger = _ledger(args)
    expectations = Expectations.load(args.checks or args.dir / "checks.toml")
    status = migration_status(args.dir, ledger)
    report = check(ledger, expectations, status=status, lints=False if args.no_lints else None)
    print(report.table(show_passing=not args.problems_only))
    return 0 if report.ok else 1


def _new(args: argparse.Namespace) -> int:
    from hybridkit.migrations import new_migration

    migration = new_migration(args.dir, args.name)
    print(f"created {migration.path}")
    print(f"rollback {migration.rollback_path}")
    return 0
