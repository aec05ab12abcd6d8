"""``hybridkit branches diff|merge``: the drift engine between two live databases.

A branch of the session's local stack gets a migration (through the Management
API, so it is in the branch's ledger) and a change by hand; ``diff`` names both,
``merge`` is a dry run until ``--yes``, then merges the migration into the
parent, and what was done by hand still shows. The parent (the stack's main
database) is put back in ``finally``: later branches replay its ledger.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from mgmt_support import BranchTarget, branch, management  # noqa: F401

from hybridkit.cli import main as cli
from hybridkit.database.migrations import ManagementLedger, Migration
from hybridkit.management import ManagementClient


def test_branch_diff_and_merge(
    stack,  # type: ignore[no-untyped-def]
    branch: BranchTarget,  # noqa: F811
    management: ManagementClient,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if not stack.local or stack.db_url is None or not stack.access_token:
        pytest.skip("merges into the parent: local stack only")
    table = f"widgets_{uuid.uuid4().hex[:8]}"
    version = "20990301000000"
    sql = (
        f"create table public.{table} (id bigint primary key, name text not null);\n"
        f"create index {table}_name_idx on public.{table} (name);\n"
        f"alter table public.{table} enable row level security;\n"
    )
    ManagementLedger(branch.client).apply(
        Migration(version, table, tmp_path / f"{version}_{table}.sql", sql)
    )
    with psycopg.connect(branch.db_url, autocommit=True) as conn:
        conn.execute(f"revoke all on public.{table} from anon")  # by hand, not a migration
    for name, value in {
        "SUPABASE_ACCESS_TOKEN": stack.access_token,
        "SUPABASE_PROJECT_REF": management.project_ref,
        "SUPABASE_MANAGEMENT_URL": management.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    try:
        assert cli(["branches", "diff", branch.ref, "--format", "json"]) == 1
        diff = json.loads(capsys.readouterr().out)
        found = {(r["kind"], r["object"], r["change"]) for r in diff["rows"]}
        assert ("table", f"public.{table}", "added") in found
        assert ("index", f"public.{table}_name_idx", "added") in found
        assert ("grant", f"table public.{table} to authenticated", "added") in found
        assert ("grant", f"table public.{table} to anon", "added") not in found
        index_row = next(r for r in diff["rows"] if r["kind"] == "index")
        assert index_row["repair"].startswith(f"CREATE INDEX {table}_name_idx")

        assert cli(["branches", "merge", branch.ref]) == 0
        out = capsys.readouterr().out
        assert "DRY RUN" in out and f"{version}_{table}" in out
        assert _regclass(stack.db_url, table) is None  # the parent is unchanged

        assert cli(["branches", "merge", branch.ref, "--yes"]) == 1
        out = capsys.readouterr().out
        assert "merged 1 migration(s)" in out
        assert _regclass(stack.db_url, table) == f"{table}"
        # The migration is merged; the hand-made revoke is what remains.
        rest = out.split("still different")[1]
        assert f"table public.{table} to anon  dropped" in rest
        assert f"{table}_name_idx" not in rest
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f"drop table if exists public.{table}")
            conn.execute(
                "DELETE FROM supabase_migrations.schema_migrations WHERE version = %s", [version]
            )


def _regclass(url: str, table: str) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s)::text", [f"public.{table}"]).fetchone()
    return None if row is None else row[0]
