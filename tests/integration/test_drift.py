"""Drift against the migrations themselves: each kind of object, on a migrated database.

One branch of the session's local stack (a fresh database with the stack's
baseline) gets the kit's migrations plus a fixture migration with the kinds the
kit does not use (enum, domain, composite type, sequence, view, materialized
view, procedure, identity and generated columns, column grants, an extension).
Each case introduces one drift, asserts that the check fails and names it,
then repairs it — with the check's own repair statement where it is one, by
hand for extras (their DROPs are comments) — and asserts the check is clean
again. So every case also proves its repair hint.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mgmt_support import management  # noqa: F401

from hybridkit.cli import main as cli
from hybridkit.database.migrations import DirectLedger, ManagementLedger, apply_migrations
from hybridkit.database.schema_diff import SchemaDiff
from hybridkit.database.shadow import migration_drift
from hybridkit.errors import MigrationError
from hybridkit.management import ManagementClient

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
FIXTURE = """
create extension if not exists citext with schema extensions;
create type public.drift_level as enum ('low', 'high');
create domain public.drift_positive as integer check (value > 0);
create type public.drift_pair as (a integer, b text);
create sequence public.drift_ticket_seq increment by 1 start with 100;
create table public.drift_tickets (
  id bigint generated always as identity primary key,
  level public.drift_level not null default 'low',
  title text,
  shout text generated always as (upper(title)) stored,
  weight public.drift_positive
);
alter table public.drift_tickets enable row level security;
revoke all on table public.drift_tickets from anon, authenticated;
grant select (title) on public.drift_tickets to authenticated;
create view public.drift_recent_runs with (security_invoker = true) as
  select id, runbook from public.ops_runs where status = 'running';
create materialized view public.drift_run_counts as
  select status, count(*) as n from public.ops_runs group by status;
create procedure public.drift_proc() language sql as $$ select 1 $$;
"""


@dataclass(frozen=True)
class Migrated:
    """The migrated branch database and the folder its migrations came from."""

    db_url: str
    folder: Path
    ledger: DirectLedger


@pytest.fixture(scope="module")
def migrated(
    management: ManagementClient,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Migrated]:
    folder = tmp_path_factory.mktemp("drift") / "migrations"
    shutil.copytree(REPO_MIGRATIONS, folder)
    (folder / "20250601000900_drift_fixture.sql").write_text(FIXTURE)
    created = management.create_branch(f"drift-{uuid.uuid4().hex[:10]}")
    try:
        url = management.get_branch(created.id).db_url().get_secret_value()
        ledger = DirectLedger(url)
        apply_migrations(folder, ledger)
        yield Migrated(url, folder, ledger)
    finally:
        management.delete_branch(created.id)


def run_sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode())


def drift(m: Migrated) -> SchemaDiff:
    return migration_drift(m.folder, m.ledger, target_url=m.db_url)


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    kind: str
    object: str
    change: str
    undo: str = ""  # when empty, the row's own repair statement undoes it


CASES = [
    Case(
        "index-dropped",
        "DROP INDEX public.file_uploads_bucket_path_idx",
        "index",
        "public.file_uploads_bucket_path_idx",
        "missing",
    ),
    Case(
        "index-changed",
        "DROP INDEX public.ops_runs_status_idx;"
        " CREATE INDEX ops_runs_status_idx ON public.ops_runs (status, created_at)",
        "index",
        "public.ops_runs_status_idx",
        "changed",
    ),
    Case(
        "index-extra",
        "CREATE INDEX ops_runs_runbook_idx ON public.ops_runs (runbook)",
        "index",
        "public.ops_runs_runbook_idx",
        "extra",
        "DROP INDEX public.ops_runs_runbook_idx",
    ),
    Case(
        "column-type",
        "ALTER TABLE public.file_uploads ALTER COLUMN attempts TYPE bigint",
        "column",
        "public.file_uploads.attempts",
        "changed",
    ),
    Case(
        "column-default",
        "ALTER TABLE public.file_uploads ALTER COLUMN status SET DEFAULT 'uploading'",
        "column",
        "public.file_uploads.status",
        "changed",
    ),
    Case(
        "column-nullability",
        "ALTER TABLE public.ops_runs ALTER COLUMN runbook DROP NOT NULL",
        "column",
        "public.ops_runs.runbook",
        "changed",
    ),
    Case(
        "column-identity",
        "ALTER TABLE public.drift_tickets ALTER COLUMN id SET GENERATED BY DEFAULT",
        "column",
        "public.drift_tickets.id",
        "changed",
    ),
    Case(
        "column-generated",
        "ALTER TABLE public.drift_tickets ALTER COLUMN shout DROP EXPRESSION",
        "column",
        "public.drift_tickets.shout",
        "changed",
        "ALTER TABLE public.drift_tickets DROP COLUMN shout;"
        " ALTER TABLE public.drift_tickets ADD COLUMN shout text"
        " GENERATED ALWAYS AS (upper(title)) STORED",
    ),
    Case(
        "column-extra",
        "ALTER TABLE public.file_uploads ADD COLUMN note text",
        "column",
        "public.file_uploads.note",
        "extra",
        "ALTER TABLE public.file_uploads DROP COLUMN note",
    ),
    Case(
        # The whole table: its repair script (table, columns, constraints, indexes,
        # trigger, RLS, policy, grants, publication) rebuilds it exactly.
        "table-dropped",
        "DROP TABLE public.file_uploads",
        "table",
        "public.file_uploads",
        "missing",
    ),
    Case(
        "table-extra",
        "CREATE TABLE public.scratch (id int)",
        "table",
        "public.scratch",
        "extra",
        "DROP TABLE public.scratch",
    ),
    Case(
        "check-constraint",
        "ALTER TABLE public.file_uploads DROP CONSTRAINT file_uploads_attempts_check;"
        " ALTER TABLE public.file_uploads ADD CONSTRAINT file_uploads_attempts_check"
        " CHECK (attempts >= -1)",
        "constraint",
        "public.file_uploads.file_uploads_attempts_check",
        "changed",
    ),
    Case(
        "foreign-key",
        "ALTER TABLE public.file_uploads DROP CONSTRAINT file_uploads_run_id_fkey",
        "constraint",
        "public.file_uploads.file_uploads_run_id_fkey",
        "missing",
    ),
    Case(
        "policy-dropped",
        'DROP POLICY "hybridkit service role manages ops_runs" ON public.ops_runs',
        "policy",
        'public.ops_runs: "hybridkit service role manages ops_runs"',
        "missing",
    ),
    Case(
        "storage-policy-changed",
        'ALTER POLICY "hybridkit service role manages objects" ON storage.objects'
        " USING (bucket_id = 'x')",
        "policy",
        'storage.objects: "hybridkit service role manages objects"',
        "changed",
    ),
    Case(
        "policy-extra",
        'CREATE POLICY "anyone reads objects" ON storage.objects FOR SELECT TO anon USING (true)',
        "policy",
        'storage.objects: "anyone reads objects"',
        "extra",
        'DROP POLICY "anyone reads objects" ON storage.objects',
    ),
    Case(
        "function-body",
        "CREATE OR REPLACE FUNCTION public.hybridkit_touch_updated_at() RETURNS trigger"
        " LANGUAGE plpgsql SET search_path = '' AS $$ begin return new; end; $$",
        "function",
        "public.hybridkit_touch_updated_at()",
        "changed",
    ),
    Case(
        "function-search-path",
        "ALTER FUNCTION public.hybridkit_touch_updated_at() RESET search_path",
        "function",
        "public.hybridkit_touch_updated_at()",
        "changed",
        "ALTER FUNCTION public.hybridkit_touch_updated_at() SET search_path = ''",
    ),
    Case(
        "function-security-definer",
        "ALTER FUNCTION public.hybridkit_touch_updated_at() SECURITY DEFINER",
        "function",
        "public.hybridkit_touch_updated_at()",
        "changed",
        "ALTER FUNCTION public.hybridkit_touch_updated_at() SECURITY INVOKER",
    ),
    Case(
        "procedure-dropped",
        "DROP PROCEDURE public.drift_proc()",
        "function",
        "public.drift_proc()",
        "missing",
    ),
    Case(
        "grant-extra",
        "GRANT SELECT ON public.ops_runs TO anon",
        "grant",
        "table public.ops_runs to anon",
        "extra",
    ),
    Case(
        "grant-revoked",
        "REVOKE DELETE ON public.file_uploads FROM service_role",
        "grant",
        "table public.file_uploads to service_role",
        "changed",
    ),
    Case(
        "function-grant",
        "GRANT EXECUTE ON FUNCTION public.hybridkit_touch_updated_at() TO anon",
        "grant",
        "function public.hybridkit_touch_updated_at() to anon",
        "extra",
    ),
    Case(
        "column-grant",
        "REVOKE SELECT (title) ON public.drift_tickets FROM authenticated",
        "grant",
        "column public.drift_tickets(title) to authenticated",
        "missing",
    ),
    Case(
        "schema-grant",
        "REVOKE USAGE ON SCHEMA public FROM anon",
        "grant",
        "schema public to anon",
        "missing",
    ),
    Case(
        "sequence-grant",
        "REVOKE ALL ON SEQUENCE public.drift_ticket_seq FROM anon",
        "grant",
        "sequence public.drift_ticket_seq to anon",
        "missing",
    ),
    Case(
        "default-privileges",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon",
        "default privilege",
        "for postgres in public on tables to anon",
        "missing",
    ),
    Case(
        "rls-disabled",
        "ALTER TABLE public.ops_runs DISABLE ROW LEVEL SECURITY",
        "rls",
        "public.ops_runs",
        "changed",
    ),
    Case(
        "rls-forced",
        "ALTER TABLE public.file_uploads FORCE ROW LEVEL SECURITY",
        "rls",
        "public.file_uploads",
        "changed",
    ),
    Case(
        "publication-dropped",
        "ALTER PUBLICATION supabase_realtime DROP TABLE public.file_uploads",
        "publication",
        "supabase_realtime: public.file_uploads",
        "missing",
    ),
    Case(
        "publication-extra",
        "ALTER PUBLICATION supabase_realtime ADD TABLE public.ops_runs",
        "publication",
        "supabase_realtime: public.ops_runs",
        "extra",
        "ALTER PUBLICATION supabase_realtime DROP TABLE public.ops_runs",
    ),
    Case(
        "trigger-disabled",
        "ALTER TABLE public.ops_runs DISABLE TRIGGER ops_runs_touch_updated_at",
        "trigger",
        "public.ops_runs.ops_runs_touch_updated_at",
        "changed",
    ),
    Case(
        "trigger-dropped",
        "DROP TRIGGER file_uploads_touch_updated_at ON public.file_uploads",
        "trigger",
        "public.file_uploads.file_uploads_touch_updated_at",
        "missing",
    ),
    Case(
        "enum-value",
        "ALTER TYPE public.drift_level ADD VALUE 'critical'",
        "type",
        "public.drift_level",
        "changed",
        # PostgreSQL cannot drop an enum value: recreate the type under the column.
        "ALTER TABLE public.drift_tickets ALTER COLUMN level DROP DEFAULT;"
        " ALTER TYPE public.drift_level RENAME TO drift_level_old;"
        " CREATE TYPE public.drift_level AS ENUM ('low', 'high');"
        " ALTER TABLE public.drift_tickets ALTER COLUMN level TYPE public.drift_level"
        " USING level::text::public.drift_level;"
        " ALTER TABLE public.drift_tickets ALTER COLUMN level SET DEFAULT 'low';"
        " DROP TYPE public.drift_level_old",
    ),
    Case(
        "domain-default",
        "ALTER DOMAIN public.drift_positive SET DEFAULT 1",
        "type",
        "public.drift_positive",
        "changed",
        "ALTER DOMAIN public.drift_positive DROP DEFAULT",
    ),
    Case(
        "composite-type",
        "ALTER TYPE public.drift_pair ADD ATTRIBUTE c integer",
        "type",
        "public.drift_pair",
        "changed",
        "ALTER TYPE public.drift_pair DROP ATTRIBUTE c",
    ),
    Case(
        "sequence",
        "ALTER SEQUENCE public.drift_ticket_seq INCREMENT BY 5",
        "sequence",
        "public.drift_ticket_seq",
        "changed",
    ),
    Case(
        "view",
        "CREATE OR REPLACE VIEW public.drift_recent_runs WITH (security_invoker = true) AS"
        " SELECT id, runbook FROM public.ops_runs WHERE status = 'failed'",
        "view",
        "public.drift_recent_runs",
        "changed",
    ),
    Case(
        "materialized-view",
        "DROP MATERIALIZED VIEW public.drift_run_counts",
        "view",
        "public.drift_run_counts",
        "missing",
    ),
    Case(
        "table-owner",
        "ALTER TABLE public.ops_runs OWNER TO service_role",
        "table",
        "public.ops_runs",
        "changed",
    ),
    Case(
        "replica-identity",
        "ALTER TABLE public.file_uploads REPLICA IDENTITY FULL",
        "table",
        "public.file_uploads",
        "changed",
    ),
    Case(
        "publication-settings",
        "ALTER PUBLICATION supabase_realtime SET (publish = 'insert')",
        "publication settings",
        "supabase_realtime",
        "changed",
    ),
    Case(
        "function-extra",
        "CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE sql AS $$ select 1 $$",
        "function",
        "public.sneaky()",
        "extra",
        "DROP FUNCTION public.sneaky()",
    ),
    Case(
        "extension",
        "DROP EXTENSION citext",
        "extension",
        "citext",
        "missing",
    ),
    Case(
        "extension-schema",
        "ALTER EXTENSION citext SET SCHEMA public",
        "extension",
        "citext",
        "changed",
    ),
]


def test_a_clean_migrate_up_passes(migrated: Migrated) -> None:
    result = drift(migrated)
    assert result.ok, result.table()
    assert {"public", "storage"} <= set(result.schemas)
    assert result.compared > 100


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_drift_fails_the_check_and_is_named(migrated: Migrated, case: Case) -> None:
    run_sql(migrated.db_url, case.sql)
    repaired = False
    try:
        result = drift(migrated)
        found = {(r.kind, r.object, r.change) for r in result.rows}
        assert (case.kind, case.object, case.change) in found, result.table()
        row = next(r for r in result.rows if (r.kind, r.object) == (case.kind, case.object))
        assert row.repair
        if row.change == "extra" and row.kind != "grant":
            assert row.repair.startswith("-- "), "a DROP comes as a comment"
        run_sql(migrated.db_url, case.undo or result.repair_script())
        repaired = True
        after = drift(migrated)
        assert after.ok, f"still drifting after the repair:\n{after.table()}"
    finally:
        if not repaired and case.undo:
            run_sql(migrated.db_url, case.undo)


def test_cosmetic_differences_do_not_report(migrated: Migrated, tmp_path: Path) -> None:
    # The same migrations reformatted: other whitespace, case and comments, the casts
    # the server adds left out, a function body re-indented.
    folder = tmp_path / "migrations"
    shutil.copytree(migrated.folder, folder)
    ops = folder / "20250601000200_ops_runs.sql"
    text = ops.read_text()
    text = text.replace(
        "parameters jsonb not null default '{}'::jsonb", "PARAMETERS JSONB NOT NULL DEFAULT '{}'"
    )
    text = text.replace(
        "create index if not exists ops_runs_status_idx on public.ops_runs (status);",
        "-- by status\nCREATE INDEX IF NOT EXISTS ops_runs_status_idx\n"
        "    ON public.ops_runs\n    USING btree ( status );",
    )
    text = text.replace(
        "  new.updated_at := now();\n  return new;",
        "      new.updated_at := now();\n\n      return new;",
    )
    assert text != ops.read_text()
    ops.write_text(text)
    run_sql(
        migrated.db_url,
        "CREATE OR REPLACE FUNCTION public.hybridkit_touch_updated_at() RETURNS trigger"
        " LANGUAGE plpgsql SET search_path = '' AS $$\nbegin\n    new.updated_at := now();"
        "\n    return new;\nend;\n$$",
    )
    result = migration_drift(folder, migrated.ledger, target_url=migrated.db_url)
    assert result.ok, result.table()


def test_cli_exit_codes_and_json(
    migrated: Migrated,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SUPABASE_ACCESS_TOKEN", "SUPABASE_PROJECT_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPABASE_DB_URL", migrated.db_url)
    monkeypatch.chdir(migrated.folder.parent)
    args = ["migrate", "check", "--migrations", str(migrated.folder), "--no-lints"]
    assert cli([*args, "--format", "json"]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert clean["ok"] and clean["drift"]["rows"] == []
    run_sql(migrated.db_url, "DROP INDEX public.file_uploads_bucket_path_idx")
    try:
        assert cli([*args, "--format", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert not report["ok"]
        [row] = report["drift"]["rows"]
        assert row["object"] == "public.file_uploads_bucket_path_idx"
        assert row["repair"].startswith("CREATE INDEX file_uploads_bucket_path_idx")
        assert cli([*args, "--problems-only"]) == 1
        out = capsys.readouterr().out
        assert "drift:index" in out and "file_uploads_bucket_path_idx" in out
        assert "CREATE INDEX file_uploads_bucket_path_idx" in out
    finally:
        run_sql(
            migrated.db_url,
            "CREATE INDEX IF NOT EXISTS file_uploads_bucket_path_idx"
            " ON public.file_uploads (bucket, path)",
        )
    assert cli(args) == 0


def test_supabase_cli_layout(
    migrated: Migrated,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "project"
    (project / "supabase").mkdir(parents=True)
    shutil.copytree(migrated.folder, project / "supabase" / "migrations")
    (project / "supabase" / "migrations" / "checks.toml").unlink()
    for name in ("SUPABASE_ACCESS_TOKEN", "SUPABASE_PROJECT_REF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPABASE_DB_URL", migrated.db_url)
    monkeypatch.chdir(project)
    assert cli(["migrate", "check", "--migrations", str(project), "--no-lints"]) == 0
    assert "matches the migrations" in capsys.readouterr().out


def test_a_remote_target_gets_a_shadow_elsewhere(
    migrated: Migrated,
    management: ManagementClient,  # noqa: F811
) -> None:
    # Through the Management API (no DB URL): the shadow goes to a temporary cluster,
    # never the target, and only what the migrations define is compared.
    ref = conninfo_dbname(migrated.db_url)
    branches = [b for b in management.list_branches() if f"branch_{b.project_ref}" == ref]
    assert branches, "the module's branch"
    ledger = ManagementLedger(management.for_project(branches[0].project_ref))
    run_sql(migrated.db_url, "ALTER TABLE public.ops_runs DISABLE ROW LEVEL SECURITY")
    try:
        result = migration_drift(migrated.folder, ledger)
    finally:
        run_sql(migrated.db_url, "ALTER TABLE public.ops_runs ENABLE ROW LEVEL SECURITY")
    assert "separate server" in result.expected
    assert [(r.kind, r.object, r.change) for r in result.rows] == [
        ("rls", "public.ops_runs", "changed")
    ], result.table()


def conninfo_dbname(url: str) -> Any:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(url).get("dbname")


def test_the_facade_returns_the_rows_in_the_same_report(
    stack: Any, migrated: Migrated, tmp_path: Path
) -> None:
    from managerkit import settings_for

    from hybridkit.database.checks import MigrationReport
    from hybridkit.manager import HybridSupabaseManager

    settings = settings_for(stack.url, stack.service_role_key, db_url=migrated.db_url)
    with HybridSupabaseManager(settings, resume_dir=tmp_path / "resume") as hm:
        clean = hm.check_migrations(migrated.folder, lints=False)
        assert clean.success and clean.layer_used == "sql", clean.error
        assert clean.data.drift is not None and clean.data.drift.ok
        run_sql(
            migrated.db_url,
            'ALTER TABLE public.ops_runs ENABLE ALWAYS TRIGGER "ops_runs_touch_updated_at"',
        )
        try:
            result = hm.check_migrations(migrated.folder, lints=False)
        finally:
            run_sql(
                migrated.db_url,
                "ALTER TABLE public.ops_runs ENABLE TRIGGER ops_runs_touch_updated_at",
            )
    assert not result.success and isinstance(result.error, MigrationError)
    report = result.data
    assert isinstance(report, MigrationReport) and not report.ok
    assert [(f.check, f.subject) for f in report.problems] == [
        ("drift:trigger", "public.ops_runs.ops_runs_touch_updated_at")
    ]
    assert report.drift is not None
    assert report.drift.rows[0].repair == (
        "ALTER TABLE public.ops_runs ENABLE TRIGGER ops_runs_touch_updated_at;"
    )
    assert "ops_runs_touch_updated_at" in str(result.error)


def shadows(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'hybridkit\\_shadow\\_%'"
        ).fetchall()
    return sorted(r[0] for r in rows)


def test_a_migration_that_does_not_replay_fails_and_no_shadow_is_left(
    migrated: Migrated, tmp_path: Path
) -> None:
    # An abandoned shadow from a killed check (born in 2001) is swept by the next one.
    run_sql(migrated.db_url, 'CREATE DATABASE "hybridkit_shadow_1000000000_deadbeef"')
    folder = tmp_path / "migrations"
    shutil.copytree(migrated.folder, folder)
    (folder / "20250601000950_broken.sql").write_text("alter table public.nope add column x int;\n")
    # Pending, it is not part of what the database should look like yet...
    assert migration_drift(folder, migrated.ledger, target_url=migrated.db_url).ok
    # ... and compared with every file (a database migrated by hand, no ledger) it fails.
    with pytest.raises(MigrationError, match=r"20250601000950_broken\.sql.*nope"):
        migration_drift(folder, migrated.ledger, target_url=migrated.db_url, pending=True)
    assert shadows(migrated.db_url) == []


def test_pending_migrations_are_pending_not_drift(migrated: Migrated, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrated.folder, folder)
    (folder / "20250601000960_later.sql").write_text("create table public.later (id int);\n")
    diff = migration_drift(folder, migrated.ledger, target_url=migrated.db_url)
    assert diff.ok and "1 pending, not compared" in diff.expected
    every = migration_drift(folder, migrated.ledger, target_url=migrated.db_url, pending=True)
    assert [(r.kind, r.object, r.change) for r in every.rows if r.kind == "table"] == [
        ("table", "public.later", "missing")
    ]


def test_a_shadow_server_that_refuses_is_a_kit_error(migrated: Migrated) -> None:
    from psycopg.conninfo import make_conninfo

    from hybridkit.errors import HybridError

    # authenticator may log in but not create databases: no psycopg error leaks.
    refusing = make_conninfo(migrated.db_url, user="authenticator", password="postgres")
    with pytest.raises(HybridError, match="build the shadow database") as caught:
        migration_drift(migrated.folder, migrated.ledger, shadow_url=refusing)
    assert not isinstance(caught.value, psycopg.Error)
    assert "postgres@" not in str(caught.value) and ":postgres" not in str(caught.value)
