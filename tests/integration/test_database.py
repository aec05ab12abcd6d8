"""hybridkit.database against the stack: REST helpers, RPC, and SQL whose read-only is real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import psycopg
import pytest

from hybridkit.config import Settings
from hybridkit.database import Database
from hybridkit.errors import ConflictError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def db(stack: Target) -> Database:
    settings = Settings.load(
        env={},
        env_file=None,
        supabase_url=stack.url,
        service_role_key=stack.service_role_key,
        db_url=stack.db_url,
    )
    return Database(settings)


@pytest.fixture
def table(stack: Target) -> Iterator[str]:
    if stack.db_url is None:
        pytest.skip("needs the database URL")
    name = f"jobs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE public.{name} (id serial PRIMARY KEY, path text UNIQUE, "
            "status text NOT NULL DEFAULT 'pending', size int)"
        )
        conn.execute(
            f"CREATE FUNCTION public.{name}_count(wanted text) RETURNS bigint LANGUAGE sql "
            f"STABLE AS $$ SELECT count(*) FROM public.{name} WHERE status = wanted $$"
        )
    try:
        yield name
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{name} CASCADE")
            conn.execute(f"DROP FUNCTION IF EXISTS public.{name}_count(text)")


def test_table_helpers_and_rpc(db: Database, table: str) -> None:
    inserted = db.insert(table, [{"path": "a", "size": 1}, {"path": "b", "size": 2}])
    assert [r["path"] for r in inserted] == ["a", "b"]
    db.upsert(table, {"path": "b", "size": 20, "status": "done"}, on_conflict="path")
    assert db.select(table, "path,size", filters={"status": "done"}) == [{"path": "b", "size": 20}]
    assert db.select(table, "path", filters={"size": ("gte", 2)}) == [{"path": "b"}]
    assert db.select(table, "path", filters={"path": ["a", "zz"]}) == [{"path": "a"}]
    assert db.select(table, "path", order="size", descending=True, limit=1) == [{"path": "b"}]
    assert db.execute_rpc(f"{table}_count", {"wanted": "done"}) == 1
    assert db.execute_rpc(f"{table}_count", {"wanted": "pending"}, get=True) == 1
    updated = db.update(table, {"status": "failed"}, filters={"path": "a"})
    assert updated[0]["status"] == "failed"
    assert [r["path"] for r in db.delete(table, filters={"status": "failed"})] == ["a"]
    with pytest.raises(InvalidInputError):
        db.delete(table, filters={})
    with pytest.raises(ConflictError):
        db.insert(table, {"path": "b"})
    with pytest.raises(NotFoundError):
        db.select(f"{table}_missing")


def test_sql_read_only_is_enforced_by_postgres(db: Database, table: str) -> None:
    assert db.sql(f"select count(*) as n from public.{table}", read_only=True).rows == ({"n": 0},)
    for statement in (
        f"insert into public.{table} (path) values ('x')",
        f"commit; insert into public.{table} (path) values ('x')",
        f"select 1; insert into public.{table} (path) values ('x')",
        f"select nextval('public.{table}_id_seq')",
        f"with w as (insert into public.{table} (path) values ('x') returning 1) select * from w",
    ):
        with pytest.raises(InvalidInputError):
            db.sql(statement, read_only=True)
    assert db.sql(f"select count(*) as n from public.{table}", read_only=True).rows == ({"n": 0},)

    written = db.sql(
        f"insert into public.{table} (path) values (%s), (%s)", ["x", "y"], read_only=False
    )
    assert written.rowcount == 2 and written.via == "sql"
    result = db.sql(f"select path from public.{table} where path like 'x%%' and path = %s", ["x"])
    assert result.rows == ({"path": "x"},)
    assert "(1 row)" in result.table()
