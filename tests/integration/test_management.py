"""hybridkit's Management API client against the stack's ``/v1``, for real.

Database query (read-only really read-only), the migration ledger with
server-assigned versions and Idempotency-Key, storage settings, advisors and
branches (create, get, connect, reset, merge, push, delete). Writes to the main
project are undone in ``finally``; everything else happens on branches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from mgmt_support import BranchTarget, branch, management  # noqa: F401

from hybridkit.config import Settings
from hybridkit.database import Database
from hybridkit.errors import AuthError, InvalidInputError, NotFoundError
from hybridkit.management import ManagementClient

if TYPE_CHECKING:
    from conftest import Target


def run_sql(url: str, statement: str) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


# --------------------------------------------------------------------------- query


def test_query_returns_the_last_statements_rows(management: ManagementClient) -> None:  # noqa: F811
    rows = management.query("select 1 as a; select 2 as b, 'x' as c, 1.5::numeric as d")
    assert rows == [{"b": 2, "c": "x", "d": 1.5}]
    assert management.query("select now() as t", read_only=True)[0]["t"]


def test_read_only_cannot_write(management: ManagementClient) -> None:  # noqa: F811
    table = f"ro_{uuid.uuid4().hex[:8]}"
    for attempt in (
        f"create table public.{table} (id int)",
        f"commit; create table public.{table} (id int)",
        f"set default_transaction_read_only = off; create table public.{table} (id int)",
        "update storage.buckets set public = true",
    ):
        with pytest.raises(InvalidInputError):
            management.query(attempt, read_only=True)
    assert management.query(f"select to_regclass('public.{table}') as t")[0]["t"] is None


def test_sql_through_management_only(stack: Target, management: ManagementClient) -> None:  # noqa: F811
    settings = Settings.load(env={}, env_file=None)
    db = Database(settings, management=management)
    result = db.sql("select %s::text as v, %s::int as n", ["it's; drop table x", 7], read_only=True)
    assert result.via == "management" and result.rows == ({"v": "it's; drop table x", "n": 7},)
    with pytest.raises(InvalidInputError):
        db.sql("create table public.never (id int)", read_only=True)


def test_bad_token_and_unknown_project(stack: Target, management: ManagementClient) -> None:  # noqa: F811
    wrong = ManagementClient(
        access_token="sbp_wrong", project_ref="local", base_url=management.base_url
    )
    with pytest.raises(AuthError):
        wrong.query("select 1")
    with pytest.raises(NotFoundError):
        management.for_project("nosuchproject").query("select 1")


# --------------------------------------------------------------------------- migrations


@pytest.fixture
def main_migration(management: ManagementClient, stack: Target) -> Iterator[str]:  # noqa: F811
    """A unique name for a migration on the main project; its row and table removed after."""
    if stack.db_url is None:
        pytest.skip("needs the database URL to clean up")
    name = f"mgmt_{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        run_sql(stack.db_url, f"DROP TABLE IF EXISTS public.{name}")
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(
                "DELETE FROM supabase_migrations.schema_migrations WHERE name = %s", [name]
            )


def test_apply_list_get_and_idempotency(
    management: ManagementClient,  # noqa: F811
    main_migration: str,
) -> None:
    sql = f"create table public.{main_migration} (id int primary key);"
    key = str(uuid.uuid4())
    first = management.apply_migration(
        sql, main_migration, rollback="drop table x", idempotency_key=key
    )
    again = management.apply_migration(sql, main_migration, idempotency_key=key)
    assert again.version == first.version and len(first.version) == 14
    listed = [m for m in management.list_migrations() if m.name == main_migration]
    assert [m.version for m in listed] == [first.version]
    detail = management.get_migration(first.version)
    assert detail.statements == (sql,) and detail.rollback == ("drop table x",)


def test_failed_apply_leaves_no_row(management: ManagementClient, main_migration: str) -> None:  # noqa: F811
    sql = f"create table public.{main_migration} (id int); insert into nowhere values (1);"
    with pytest.raises(InvalidInputError) as exc:
        management.apply_migration(sql, main_migration)
    assert "nowhere" in str(exc.value)
    assert not [m for m in management.list_migrations() if m.name == main_migration]
    assert management.query(f"select to_regclass('public.{main_migration}') as t")[0]["t"] is None


# ----------------------------------------------------------------- storage config, advisors


def test_storage_config(management: ManagementClient) -> None:  # noqa: F811
    before = management.get_storage_config()
    assert isinstance(before["fileSizeLimit"], int) and "features" in before
    try:
        after = management.update_storage_config({"fileSizeLimit": 10 * 1024 * 1024})
        assert after["fileSizeLimit"] == 10 * 1024 * 1024
        assert after["features"] == before["features"]
        assert management.get_storage_config()["fileSizeLimit"] == 10 * 1024 * 1024
        with pytest.raises(InvalidInputError):
            management.update_storage_config({"fileSizeLimit": -1})
    finally:
        management.update_storage_config({"fileSizeLimit": before["fileSizeLimit"]})


def test_advisors_on_a_branch(branch: BranchTarget) -> None:  # noqa: F811
    run_sql(branch.db_url, "CREATE TABLE public.open_table (id int)")
    run_sql(branch.db_url, "GRANT SELECT ON public.open_table TO anon")
    security = branch.client.advisors("security")
    assert any(
        lint.name == "rls_disabled_in_public" and lint.metadata.get("name") == "open_table"
        for lint in security
    )
    performance = branch.client.advisors("performance")
    assert any(lint.name == "no_primary_key" for lint in performance)


# --------------------------------------------------------------------------- branches


def test_branch_lifecycle(
    management: ManagementClient,  # noqa: F811
    branch: BranchTarget,  # noqa: F811
    stack: Target,
) -> None:
    listed = management.list_branches()
    assert any(b.is_default for b in listed)
    mine = [b for b in listed if b.id == branch.id]
    assert mine and mine[0].status == "MIGRATIONS_PASSED"
    assert "db_pass=Secret('********')" in repr(branch.detail)

    # A fresh Supabase database: the baseline, no data of the parent.
    assert run_sql(branch.db_url, "select to_regprocedure('auth.uid()') is not null") == [(True,)]
    assert run_sql(branch.db_url, "select to_regclass('storage.objects') is not null") == [(True,)]

    # Work on the branch: a migration and some data; reset keeps the migration, drops data.
    table = f"feature_{uuid.uuid4().hex[:8]}"
    applied = branch.client.apply_migration(f"create table public.{table} (id int);", table)
    run_sql(branch.db_url, f"insert into public.{table} values (1)")
    management.reset_branch(branch.id)
    assert run_sql(branch.db_url, f"select count(*) from public.{table}") == [(0,)]
    management.reset_branch(branch.id, migration_version="0")
    assert run_sql(branch.db_url, f"select to_regclass('public.{table}')") == [(None,)]
    assert [m.version for m in branch.client.list_migrations()] == []

    # Merge a branch migration into the main project (undone afterwards).
    again = branch.client.apply_migration(f"create table public.{table} (id int);", table)
    assert again.version >= applied.version
    try:
        result = management.merge_branch(branch.id)
        assert result["applied"] == [again.version]
        assert table in {m.name for m in management.list_migrations()}
        assert management.query(f"select to_regclass('public.{table}') as t")[0]["t"] == table
    finally:
        assert stack.db_url is not None
        run_sql(stack.db_url, f"drop table if exists public.{table}")
        run_sql(
            stack.db_url,
            f"delete from supabase_migrations.schema_migrations where name = '{table}'",
        )


def test_unknown_branch(management: ManagementClient) -> None:  # noqa: F811
    with pytest.raises(NotFoundError):
        management.get_branch(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        management.delete_branch("nosuchbranchref")
