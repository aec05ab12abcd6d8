"""The kit's migrations on a fresh database: status, up, check, drift, failures.

Every test works on its own branch (a fresh database with the stack's baseline)
and on its own copy of ``migrations/``, so tests neither see nor disturb each
other or the main database.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mgmt_support import BranchTarget, branch, management  # noqa: F401

from hybridkit.cli import main as cli
from hybridkit.database.checks import Expectations, check
from hybridkit.database.migrations import (
    DirectLedger,
    ManagementLedger,
    State,
    apply_migrations,
    migration_status,
)
from hybridkit.database.shadow import migration_drift
from hybridkit.errors import MigrationError

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
KIT_VERSIONS = [
    "20250601000000",
    "20250601000100",
    "20250601000200",
    "20250601000300",
    "20250601000400",
    "20250601000500",
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(REPO_MIGRATIONS, target)
    return target


def run_sql(url: str, statement: str, params: Any = None) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def ledger_versions(url: str) -> list[str]:
    rows = run_sql(
        url,
        "SELECT version FROM supabase_migrations.schema_migrations ORDER BY version",
    )
    return [r[0] for r in rows]


def full_check(folder: Path, ledger: Any, db_url: str) -> Any:
    # The schema's expectations come from a shadow of the migrations, on the same server.
    return check(
        ledger,
        Expectations.load(folder / "checks.toml"),
        status=migration_status(folder, ledger),
        drift=migration_drift(folder, ledger, target_url=db_url),
    )


def test_fresh_up_check_and_second_up(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    status = migration_status(folder, ledger)
    assert [e.version for e in status.entries] == KIT_VERSIONS
    assert {e.state for e in status.entries} == {State.PENDING}
    assert not full_check(folder, ledger, branch.db_url).ok  # nothing is there yet

    result = apply_migrations(folder, ledger)
    assert list(result.applied) == KIT_VERSIONS
    assert {e.state for e in migration_status(folder, ledger).entries} == {State.APPLIED}

    report = full_check(folder, ledger, branch.db_url)
    assert report.ok, report.table()
    vector = [f for f in report.findings if f.subject == "vector"]
    assert vector and vector[0].severity == "info"  # optional: reported, not failed

    again = apply_migrations(folder, ledger)
    assert again.planned == () and again.applied == ()
    assert ledger_versions(branch.db_url) == KIT_VERSIONS

    # The ledger is the CLI's: exactly version, statements, name.
    columns = run_sql(
        branch.db_url,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations' "
        "ORDER BY ordinal_position",
    )
    assert [c[0] for c in columns] == ["version", "statements", "name"]


def test_dry_run_changes_nothing(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    plan = apply_migrations(folder, ledger, dry_run=True)
    assert [m.version for m in plan.planned] == KIT_VERSIONS and plan.applied == ()
    assert "create table if not exists public.file_uploads" in plan.sql
    assert run_sql(branch.db_url, "SELECT to_regclass('public.file_uploads')") == [(None,)]
    assert run_sql(
        branch.db_url, "SELECT to_regclass('supabase_migrations.schema_migrations')"
    ) == [(None,)]


def test_hand_dropped_index_and_policy_fail_the_check(
    branch: BranchTarget,  # noqa: F811
    folder: Path,
) -> None:
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    run_sql(branch.db_url, "DROP INDEX public.file_uploads_status_idx")
    report = full_check(folder, ledger, branch.db_url)
    assert not report.ok
    assert [(f.check, f.subject) for f in report.problems] == [
        ("drift:index", "public.file_uploads_status_idx")
    ]
    assert report.drift is not None
    assert report.drift.rows[0].repair.startswith("CREATE INDEX file_uploads_status_idx")

    run_sql(
        branch.db_url,
        'DROP POLICY "hybridkit service role manages objects" ON storage.objects',
    )
    report = full_check(folder, ledger, branch.db_url)
    subjects = {f.subject for f in report.problems}
    assert 'storage.objects: "hybridkit service role manages objects"' in subjects
    assert "file_uploads_status_idx" in report.table(show_passing=False)
    with pytest.raises(MigrationError, match="hybridkit service role manages objects"):
        report.raise_for_problems()


def test_rls_off_and_publication_fail_the_check(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    run_sql(branch.db_url, "ALTER TABLE public.ops_runs DISABLE ROW LEVEL SECURITY")
    run_sql(branch.db_url, "ALTER PUBLICATION supabase_realtime DROP TABLE public.file_uploads")
    report = full_check(folder, ledger, branch.db_url)
    problems = {(f.check, f.subject) for f in report.problems}
    assert ("drift:rls", "public.ops_runs") in problems
    assert ("drift:publication", "supabase_realtime: public.file_uploads") in problems
    # The advisor lint names the policy left on a table without RLS.
    assert ("lint:policy_exists_rls_disabled", "public.ops_runs") in problems


def test_security_lints_catch_an_exposed_table(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    run_sql(branch.db_url, "CREATE TABLE public.leaky (id int primary key, password text)")
    run_sql(branch.db_url, "GRANT SELECT ON public.leaky TO anon")
    report = full_check(folder, ledger, branch.db_url)
    lints = {f.check for f in report.problems if f.subject == "public.leaky"}
    assert {"lint:rls_disabled_in_public", "lint:sensitive_columns_exposed"} <= lints


def test_editing_an_applied_file_shows_it_as_changed(
    branch: BranchTarget,  # noqa: F811
    folder: Path,
) -> None:
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    path = folder / "20250601000200_ops_runs.sql"
    # Comments and layout do not count as a change...
    path.write_text("-- reviewed\n" + path.read_text().replace("\n\n", "\n\n\n"))
    assert migration_status(folder, ledger).ok
    # ...a changed statement does.
    path.write_text(path.read_text().replace("runbook text not null", "runbook text"))
    status = migration_status(folder, ledger)
    [changed] = status.by_state(State.CHANGED)
    assert changed.version == "20250601000200" and not status.ok
    assert not full_check(folder, ledger, branch.db_url).ok
    assert apply_migrations(folder, ledger).planned == ()  # never re-applied


def test_a_failing_migration_leaves_nothing(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    (folder / "20250601000600_broken.sql").write_text(
        "create table public.half_done (id int);\n"
        "insert into public.half_done values (1);\n"
        "insert into public.no_such_table values (1);\n"
    )
    with pytest.raises(MigrationError) as exc:
        apply_migrations(folder, ledger)
    assert "20250601000600_broken.sql failed at statement 3" in str(exc.value)
    assert run_sql(branch.db_url, "SELECT to_regclass('public.half_done')") == [(None,)]
    assert ledger_versions(branch.db_url) == KIT_VERSIONS  # the earlier ones stay applied
    [pending] = migration_status(folder, ledger).by_state(State.PENDING)
    assert pending.version == "20250601000600"


def test_rows_written_by_the_mcp_server_are_recognised(
    branch: BranchTarget,  # noqa: F811
    folder: Path,
) -> None:
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    sql = "create table public.notes (id bigint primary key, body text);\n"
    # What the dashboard or the MCP server's apply_migration does: the server picks the version.
    remote = branch.client.apply_migration(sql, "add_notes")
    assert remote.version not in KIT_VERSIONS

    (folder / "20250601000700_add_notes.sql").write_text("-- the same SQL, kept in git\n" + sql)
    status = migration_status(folder, ledger)
    [entry] = [e for e in status.entries if e.name == "add_notes"]
    assert entry.state is State.APPLIED_ELSEWHERE and remote.version in entry.note
    assert status.ok
    assert apply_migrations(folder, ledger).planned == ()

    # A remote row with no file at all is "missing locally", and up refuses to continue.
    branch.client.apply_migration("create table public.other (id int);", "dashboard_edit")
    status = migration_status(folder, ledger)
    assert [e.name for e in status.by_state(State.MISSING_LOCAL)] == ["dashboard_edit"]
    with pytest.raises(MigrationError, match="no local file"):
        apply_migrations(folder, ledger)


def test_out_of_order_needs_include_all(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = DirectLedger(branch.db_url)
    apply_migrations(folder, ledger)
    (folder / "20240101000000_early.sql").write_text("create table public.early (id int);")
    with pytest.raises(MigrationError, match="include_all"):
        apply_migrations(folder, ledger)
    applied = apply_migrations(folder, ledger, include_all=True)
    assert applied.applied == ("20240101000000",)


def test_through_the_management_api(branch: BranchTarget, folder: Path) -> None:  # noqa: F811
    ledger = ManagementLedger(branch.client)
    assert {e.state for e in migration_status(folder, ledger).entries} == {State.PENDING}
    result = apply_migrations(folder, ledger)
    assert list(result.applied) == KIT_VERSIONS
    # The same ledger, read directly: file versions kept, statements stored.
    direct = DirectLedger(branch.db_url)
    assert {e.state for e in migration_status(folder, direct).entries} == {State.APPLIED}
    assert full_check(folder, ledger, branch.db_url).ok
    listed = branch.client.list_migrations()
    assert [m.version for m in listed] == KIT_VERSIONS

    (folder / "20250601000600_broken.sql").write_text(
        "create table public.half_done (id int);\nselect 1/0;\n"
    )
    with pytest.raises(MigrationError, match=r"20250601000600_broken\.sql"):
        apply_migrations(folder, ledger)
    assert run_sql(branch.db_url, "SELECT to_regclass('public.half_done')") == [(None,)]
    assert ledger_versions(branch.db_url) == KIT_VERSIONS


def test_cli_status_up_check(
    branch: BranchTarget,  # noqa: F811
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SUPABASE_ACCESS_TOKEN", "SUPABASE_PROJECT_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPABASE_DB_URL", branch.db_url)
    monkeypatch.chdir(folder.parent)  # no stray .env
    assert cli(["migrate", "status", "--dir", str(folder)]) == 0
    assert "6 pending" in capsys.readouterr().out
    assert cli(["migrate", "up", "--dry-run", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN" in out and "20250601000300_file_uploads.sql" in out
    assert ledger_versions_or_none(branch.db_url) is None
    assert cli(["migrate", "up", "--dir", str(folder)]) == 0
    assert "6 migration(s) applied" in capsys.readouterr().out
    assert cli(["migrate", "check", "--dir", str(folder)]) == 0
    assert cli(["migrate", "up", "--dir", str(folder)]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    run_sql(branch.db_url, "DROP INDEX public.ops_runs_status_idx")
    assert cli(["migrate", "check", "--dir", str(folder), "--problems-only"]) == 1
    assert "ops_runs_status_idx" in capsys.readouterr().out


def ledger_versions_or_none(url: str) -> list[str] | None:
    exists = run_sql(url, "SELECT to_regclass('supabase_migrations.schema_migrations')")
    return None if exists == [(None,)] else ledger_versions(url)
