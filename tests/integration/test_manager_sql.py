"""The manager's SQL and migration calls against the stack: results, layers and counts.

SQL runs on the main database (on a table of its own); the migration calls work on
a branch (a fresh database) with a migrations folder of their own, so they neither
see nor disturb the kit's migrations or other tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from managerkit import settings_for
from mgmt_support import BranchTarget, branch, management  # noqa: F401

from hybridkit.database import SqlResult
from hybridkit.database.checks import MigrationReport
from hybridkit.database.migrations import ApplyResult, MigrationStatus, State
from hybridkit.errors import InvalidInputError, MigrationError
from hybridkit.manager import HybridSupabaseManager

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def access(stack: Target) -> dict[str, str]:
    """Settings for the target's Management API (skips when its token is unknown)."""
    token = os.environ.get("HYBRIDKIT_TEST_ACCESS_TOKEN") or stack.access_token
    if not token:
        pytest.skip("needs the target's Management API access token")
    return {
        "access_token": token,
        "project_ref": os.environ.get("HYBRIDKIT_TEST_PROJECT_REF", "local"),
        "management_url": os.environ.get("HYBRIDKIT_TEST_MANAGEMENT_URL", stack.url),
    }


def facade(stack: Target, tmp_path: Path, **overrides: Any) -> HybridSupabaseManager:
    settings = settings_for(stack.url, stack.service_role_key, **overrides)
    return HybridSupabaseManager(settings, resume_dir=tmp_path / "resume")


@pytest.fixture
def direct(stack: Target, tmp_path: Path) -> Iterator[HybridSupabaseManager]:
    """A manager with SUPABASE_DB_URL only."""
    if stack.db_url is None:
        pytest.skip("needs the database URL")
    with facade(stack, tmp_path, db_url=stack.db_url) as hm:
        yield hm


@pytest.fixture
def table(stack: Target) -> Iterator[str]:
    if stack.db_url is None:
        pytest.skip("needs the database URL")
    name = f"notes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{name} (id int PRIMARY KEY, body text)")
    try:
        yield name
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{name}")


def test_sql_over_the_direct_connection_is_read_only_by_default(
    direct: HybridSupabaseManager, table: str
) -> None:
    result = direct.sql(f"select count(*) as n, %s::int as asked from public.{table}", [7])
    assert result.success, result.error
    assert result.layer_used == "sql"
    data = result.data
    assert isinstance(data, SqlResult) and data.via == "sql" and data.read_only
    assert data.rows == ({"n": 0, "asked": 7},)
    assert result.metadata["attempts"] == 1 and result.metadata["retries"] == 0
    assert result.metadata["duration"] > 0 and result.metadata["read_only"] is True
    assert direct.stats()["sql"]["calls"] == 1


def test_a_write_in_read_only_mode_is_a_failed_result(
    direct: HybridSupabaseManager, table: str, stack: Target
) -> None:
    refused = direct.sql(f"insert into public.{table} (id, body) values (1, 'x')")
    assert not refused.success and refused.data is None
    assert isinstance(refused.error, InvalidInputError), refused.error
    assert "read-only" in str(refused.error)
    assert refused.layer_used == "sql" and refused.metadata["error_type"] == "InvalidInputError"
    # Refused by the read-only check before anything is sent: no attempt at all.
    assert refused.metadata["attempts"] == 0

    written = direct.sql(
        f"insert into public.{table} (id, body) values (%s, %s)", [1, "x"], read_only=False
    )
    assert written.success, written.error
    assert written.data.rowcount == 1 and not written.data.read_only
    assert direct.sql(f"select body from public.{table}").data.rows == ({"body": "x"},)
    assert direct.stats()["sql"]["failures"] == 1


def test_sql_through_the_management_api(stack: Target, tmp_path: Path, table: str) -> None:
    with facade(stack, tmp_path, **access(stack)) as hm:  # no SUPABASE_DB_URL
        result = hm.sql(f"select count(*)::int as n from public.{table}")
        assert result.success, result.error
        assert result.layer_used == "management" and result.data.via == "management"
        assert result.data.rows == ({"n": 0},)
        assert result.metadata["attempts"] == 1

        refused = hm.sql(f"insert into public.{table} (id) values (2)")
        assert isinstance(refused.error, InvalidInputError), refused.error
        assert refused.layer_used == "management"

    assert stack.db_url is not None
    with facade(stack, tmp_path, db_url=stack.db_url, **access(stack)) as both:
        assert both.sql("select 1 as one").layer_used == "sql"
        chosen = both.sql("select 1 as one", via="management")
        assert chosen.success and chosen.layer_used == "management"


# ----------------------------------------------------------------------------- migrations


def write_migrations(folder: Path, table: str) -> None:
    folder.mkdir()
    (folder / "20990101000000_notes.sql").write_text(
        f"create table public.{table} (id bigint primary key, body text);\n"
        f"alter table public.{table} enable row level security;\n"
    )
    (folder / "20990101000100_notes_body_idx.sql").write_text(
        f"create index {table}_body_idx on public.{table} (body);\n"
    )
    (folder / "checks.toml").write_text(
        f'[[indexes]]\ntable = "public.{table}"\nname = "{table}_body_idx"\n\n'
        f'[rls]\ntables = ["public.{table}"]\n'
    )


@pytest.mark.parametrize("path", ["sql", "management"])
def test_migration_status_apply_and_check_on_a_fresh_database(
    stack: Target,
    branch: BranchTarget,  # noqa: F811
    tmp_path: Path,
    path: str,
) -> None:
    table = f"notes_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "migrations"
    write_migrations(folder, table)
    if path == "sql":
        target: dict[str, Any] = {"db_url": branch.db_url}
    else:
        target = {**access(stack), "project_ref": branch.ref}
    with facade(stack, tmp_path, **target) as hm:
        status = hm.migration_status(folder)
        assert status.success, status.error
        assert status.layer_used == path and isinstance(status.data, MigrationStatus)
        assert {e.state for e in status.data.entries} == {State.PENDING}
        assert status.metadata["attempts"] >= 1

        before = hm.check_migrations(folder)
        assert not before.success and before.layer_used == path
        assert isinstance(before.error, MigrationError)
        report = before.data
        assert isinstance(report, MigrationReport) and not report.ok  # the report is kept
        assert f"{table}_body_idx" in str(before.error)

        plan = hm.apply_migrations(folder)  # a dry run unless told otherwise
        assert plan.success and plan.layer_used == path and plan.metadata["dry_run"] is True
        assert isinstance(plan.data, ApplyResult) and plan.data.dry_run
        assert [m.version for m in plan.data.planned] == ["20990101000000", "20990101000100"]
        assert f"create index {table}_body_idx" in plan.data.sql
        assert hm.sql(f"select to_regclass('public.{table}') as t").data.rows == ({"t": None},)

        done = hm.apply_migrations(folder, dry_run=False)
        assert done.success, done.error
        assert done.layer_used == path and done.data.applied == ("20990101000000", "20990101000100")

        after = hm.migration_status(folder)
        assert {e.state for e in after.data.entries} == {State.APPLIED}
        checked = hm.check_migrations(folder, lints=False)
        assert checked.success, checked.data.table()
        assert checked.layer_used == path and checked.metadata["attempts"] >= 1
        again = hm.apply_migrations(folder, dry_run=False)
        assert again.success and again.data.planned == ()

        # A migration that fails is a failed result; the ones before it stay applied.
        (folder / "20990101000200_broken.sql").write_text(
            "insert into public.no_such_table values (1);\n"
        )
        broken = hm.apply_migrations(folder, dry_run=False)
        assert not broken.success and isinstance(broken.error, MigrationError)
        assert "20990101000200_broken.sql" in str(broken.error)
        pending = hm.migration_status(folder).data.by_state(State.PENDING)
        assert [e.version for e in pending] == ["20990101000200"]
        assert hm.stats()["apply_migrations"]["failures"] == 1
