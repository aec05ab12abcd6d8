"""``hybridkit migrate status|up|check|new``: the kit's migrations from a shell.

Exit codes: ``status`` 1 when there is drift (changed, missing locally, out of
order); ``check`` 1 when a check fails — a difference between the live schema
and the shadow database the migrations build, a ledger problem, a missing
required extension or a security lint — 0 when clean; ``up`` 1 when a migration
fails. ``check --format json`` prints one JSON document (for schedulers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hybridkit.cli._common import action_parsers, add_action, add_db_options, target_settings

__all__ = ["add_arguments"]

DEFAULT_DIR = Path("migrations")


def add_arguments(parser: Any) -> None:
    """The actions of ``hybridkit migrate`` (registered in :mod:`hybridkit.cli`)."""
    actions = action_parsers(parser)
    add_action(actions, "status", "applied, pending, changed, missing locally", _status, _target)
    up = add_action(
        actions, "up", "apply pending migrations, each in one transaction", _up, _target
    )
    up.add_argument("--dry-run", action="store_true", help="print the SQL; change nothing")
    up.add_argument(
        "--include-all",
        action="store_true",
        help="also apply files older than the newest applied migration",
    )
    check = add_action(
        actions,
        "check",
        "the live schema against a shadow database the migrations build; ledger, "
        "extensions and security lints",
        _check,
        _target,
    )
    check.add_argument("--checks", type=Path, help="expectations file (default: <dir>/checks.toml)")
    check.add_argument("--no-lints", action="store_true", help="skip the advisor lints")
    check.add_argument("--problems-only", action="store_true", help="list failing checks only")
    check.add_argument(
        "--format", choices=("table", "json"), default="table", help="output (default table)"
    )
    check.add_argument(
        "--shadow-url",
        help="a PostgreSQL server (superuser) to build the shadow database on; default: the "
        "target's own server when it is local, else a temporary private cluster",
    )
    check.add_argument(
        "--no-shadow",
        action="store_true",
        help="skip the schema comparison (ledger and lints only)",
    )

    new = add_action(actions, "new", "create <timestamp>_<name>.sql and its rollback", _new)
    new.add_argument("name", help="letters, digits, '_' and '-'")
    new.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"migrations folder (default {DEFAULT_DIR})"
    )


def _target(parser: Any) -> None:
    """The migrations folder and the database: the options of status, up and check."""
    parser.add_argument(
        "--dir",
        "--migrations",
        dest="dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"migrations folder, or a Supabase CLI project (its supabase/migrations) "
        f"(default {DEFAULT_DIR})",
    )
    add_db_options(
        parser,
        "reach the database over SUPABASE_DB_URL (sql) or the Management API "
        "(default: the DB URL when set)",
    )


def _ledger(args: argparse.Namespace) -> Any:
    from hybridkit.database.migrations import ledger_from_settings

    settings = target_settings(db_url=args.db_url)
    return ledger_from_settings(settings, via=args.via)


def _folder(args: argparse.Namespace) -> Path:
    from hybridkit.database.migrations import migrations_folder

    return migrations_folder(args.dir)


def _status(args: argparse.Namespace) -> int:
    from hybridkit.database.migrations import migration_status

    status = migration_status(_folder(args), _ledger(args))
    print(status.table())
    return 0 if status.ok else 1


def _up(args: argparse.Namespace) -> int:
    from hybridkit.database.migrations import apply_migrations

    ledger = _ledger(args)
    result = apply_migrations(
        _folder(args), ledger, dry_run=args.dry_run, include_all=args.include_all
    )
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
    from hybridkit.database.checks import Expectations, check
    from hybridkit.database.migrations import DirectLedger, ledger_from_settings, migration_status
    from hybridkit.database.shadow import migration_drift

    folder = _folder(args)
    settings = target_settings(db_url=args.db_url)
    ledger = ledger_from_settings(settings, via=args.via)
    expectations = Expectations.load(args.checks or folder / "checks.toml")
    status = migration_status(folder, ledger)
    drift = None
    if not args.no_shadow:
        db_url = settings.db_url if isinstance(ledger, DirectLedger) else None
        target_url = db_url.get_secret_value() if db_url is not None else None
        drift = migration_drift(folder, ledger, target_url=target_url, shadow_url=args.shadow_url)
    report = check(
        ledger, expectations, status=status, lints=False if args.no_lints else None, drift=drift
    )
    if args.format == "json":
        print(json.dumps(_report_json(report, problems_only=args.problems_only), indent=2))
        return 0 if report.ok else 1
    print(report.table(show_passing=not args.problems_only))
    if drift is not None and drift.rows:
        print()
        print(drift.table())
        print()
        print("-- repair (review before running; extras' DROPs are comments):")
        print(drift.repair_script())
    return 0 if report.ok else 1


def _report_json(report: Any, *, problems_only: bool = False) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "target": report.target,
        "problems": len(report.problems),
        "drift": report.drift.to_dict() if report.drift is not None else None,
        "findings": [
            {
                "check": f.check,
                "subject": f.subject,
                "ok": f.ok,
                "severity": f.severity,
                "detail": f.detail,
            }
            for f in report.findings
            if not (problems_only and f.ok)
        ],
    }


def _new(args: argparse.Namespace) -> int:
    from hybridkit.database.migrations import new_migration

    migration = new_migration(args.dir, args.name)
    print(f"created {migration.path}")
    print(f"rollback {migration.rollback_path}")
    return 0
