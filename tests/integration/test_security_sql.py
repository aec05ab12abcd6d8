"""Read-only SQL refuses every side effect, on every path (issue 13).

Each bypass is tried through the direct connection (``Database.sql`` with the
stack's *superuser* URL), through the client's Management API path, and as a raw
HTTP request to the local Management API (which has no client-side parser: the
server's own walls must hold). After each attempt the side effect is looked for.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from hybridkit.config import Settings
from hybridkit.database import Database
from hybridkit.errors import HybridError

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def world(stack: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A table, a SECURITY DEFINER writer, a role-switching function and a victim session."""
    if not stack.local or stack.db_url is None:
        pytest.skip("needs the local stack's superuser URL")
    tag = uuid.uuid4().hex[:8]
    table = f"sec_{tag}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(f"create table public.{table} (x int)")
        conn.execute(
            f"create function public.{table}_writer() returns int language sql "
            f"security definer as $$ insert into public.{table} values (1) returning 1 $$"
        )
        conn.execute(
            f"create function public.{table}_su() returns text language sql "
            "as $$ select set_config('role', 'postgres', true) $$"
        )
    victim = psycopg.connect(stack.db_url, autocommit=True)
    folder = tmp_path_factory.mktemp("sec")
    try:
        yield {"table": table, "victim": victim, "folder": folder}
    finally:
        victim.close()
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f"drop function if exists public.{table}_writer()")
            conn.execute(f"drop function if exists public.{table}_su()")
            conn.execute(f"drop table if exists public.{table}")


def _bypasses(world: dict[str, Any]) -> list[str]:
    t = world["table"]
    pid = world["victim"].info.backend_pid
    folder: Path = world["folder"]
    return [
        f"copy (select 1) to program 'touch {folder}/program'",
        f"copy (select 1) to '{folder}/file'",
        f"select pg_terminate_backend({pid})",
        f"select pg_terminate_backend(pid) from pg_stat_activity where pid = {pid}",
        "select pg_reload_conf()",
        f"set transaction read write; select public.{t}_writer()",
        f"commit; begin read write; select public.{t}_writer()",
        f"select public.{t}_writer()",
        f"with w as (insert into public.{t} values (2) returning x) select * from w",
        f"do $$ begin perform public.{t}_writer(); end $$",
        f"select set_config('role', 'postgres', true), pg_terminate_backend({pid})",
        f"select public.{t}_su(), pg_terminate_backend({pid})",
        f"select public.{t}_su(), pg_read_file('/etc/hostname')",
        "set role postgres",
        "reset role",
        f"set session authorization postgres; select public.{t}_writer()",
        "select rolpassword from pg_authid",
        "select passwd from pg_shadow",
        f"select * into public.{t}_copy from public.{t}",
        f"select lo_export(lo_create(0), '{folder}/lo')",
    ]


def _no_side_effect(stack: Target, world: dict[str, Any]) -> None:
    folder: Path = world["folder"]
    assert not any(folder.iterdir()), f"a file was written: {list(folder.iterdir())}"
    assert world["victim"].execute("select 1").fetchone() == (1,), "the victim was killed"
    with psycopg.connect(stack.db_url or "", autocommit=True) as conn:
        count = conn.execute(f"select count(*) from public.{world['table']}").fetchone()
        assert count == (0,), "a row was written"
        copy = conn.execute("select to_regclass(%s)", [f"public.{world['table']}_copy"])
        assert copy.fetchone() == (None,), "SELECT INTO made a table"


def _db(stack: Target, **extra: Any) -> Database:
    values: dict[str, Any] = {"supabase_url": stack.url, "max_retries": 0, **extra}
    return Database(Settings.load(env={}, env_file=None, **values))


@pytest.mark.parametrize("index", range(20))
def test_direct_read_only_refuses(stack: Target, world: dict[str, Any], index: int) -> None:
    query = _bypasses(world)[index]
    with pytest.raises(HybridError):
        _db(stack, db_url=stack.db_url).sql(query, read_only=True)
    _no_side_effect(stack, world)


@pytest.mark.parametrize("index", range(20))
def test_management_client_read_only_refuses(
    stack: Target, world: dict[str, Any], index: int
) -> None:
    query = _bypasses(world)[index]
    db = _db(stack, access_token=stack.access_token, project_ref="local", management_url=stack.url)
    with pytest.raises(HybridError):
        db.sql(query, read_only=True, via="management")
    _no_side_effect(stack, world)


@pytest.mark.parametrize("index", range(20))
def test_management_server_read_only_holds(
    stack: Target, world: dict[str, Any], index: int
) -> None:
    """No client-side check here: the local Management API's own walls."""
    query = _bypasses(world)[index]
    response = httpx.post(
        f"{stack.url}/v1/projects/local/database/query",
        json={"query": query, "read_only": True},
        headers={"Authorization": f"Bearer {stack.access_token}"},
        timeout=30,
    )
    # "set role postgres" alone may succeed (and be rolled back); nothing may show.
    if response.status_code < 400:
        assert "SCRAM" not in response.text
    _no_side_effect(stack, world)


def test_read_only_still_reads(stack: Target, world: dict[str, Any]) -> None:
    query = f"select count(*) as n from public.{world['table']}"
    assert _db(stack, db_url=stack.db_url).sql(query, read_only=True).rows == ({"n": 0},)
    db = _db(stack, access_token=stack.access_token, project_ref="local", management_url=stack.url)
    assert db.sql(query, read_only=True, via="management").rows == ({"n": 0},)
    rows = _db(stack, db_url=stack.db_url).sql("select %s::int as v", [7], read_only=True).rows
    assert rows == ({"v": 7},)
    who = _db(stack, db_url=stack.db_url).sql("select current_user as u", read_only=True)
    assert who.rows == ({"u": "supabase_read_only_user"},)


def test_statement_timeout_is_set(stack: Target) -> None:
    rows = _db(stack, db_url=stack.db_url).sql("show statement_timeout", read_only=True).rows
    assert rows == ({"statement_timeout": "1min"},)


def test_write_stays_explicit(stack: Target, world: dict[str, Any]) -> None:
    db = _db(stack, db_url=stack.db_url)
    t = world["table"]
    try:
        db.sql(f"insert into public.{t} values (5)")
        assert db.sql(f"select count(*) as n from public.{t}", read_only=True).rows == ({"n": 1},)
    finally:
        db.sql(f"delete from public.{t}")


def test_read_only_role_is_like_supabase(stack: Target) -> None:
    with psycopg.connect(stack.db_url or "", autocommit=True) as conn:
        granted = {
            r[0]
            for r in conn.execute(
                "select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid "
                "join pg_roles u on u.oid = m.member where u.rolname = 'supabase_read_only_user'"
            )
        }
        config = conn.execute(
            "select rolconfig, rolsuper from pg_roles where rolname = 'supabase_read_only_user'"
        ).fetchone()
    assert config is not None
    assert not granted & {
        "pg_read_server_files",
        "pg_write_server_files",
        "pg_execute_server_program",
        "pg_signal_backend",
        "pg_write_all_data",
    }
    assert "default_transaction_read_only=on" in config[0]
    assert config[1] is False


def test_cli_read_only_refuses_copy_to_program(stack: Target, tmp_path: Path) -> None:
    marker = tmp_path / "x"
    env = {"PATH": "/usr/bin:/bin", "SUPABASE_DB_URL": stack.db_url or "", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "hybridkit", "sql", f"copy (select 1) to program 'id > {marker}'"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert "read-only" in done.stderr
    assert not marker.exists()


def test_fallbacks_when_the_read_only_login_is_not_possible(stack: Target) -> None:
    """A member login SETs ROLE to the read-only user; a superuser session is never used."""
    from psycopg.conninfo import make_conninfo

    from hybridkit.errors import ConfigError

    tag = uuid.uuid4().hex[:8]
    member, superuser = f"sec_member_{tag}", f"sec_su_{tag}"
    with psycopg.connect(stack.db_url or "", autocommit=True) as conn:
        conn.execute(
            f"create role {member} login password 'member-pw' in role supabase_read_only_user"
        )
        conn.execute(f"create role {superuser} login superuser password 'su-pw'")
    try:
        as_member = make_conninfo(stack.db_url or "", user=member, password="member-pw")
        db = _db(stack, db_url=as_member)
        who = db.sql("select current_user as u, session_user as s", read_only=True).rows
        assert who == ({"u": "supabase_read_only_user", "s": member},)
        with pytest.raises(HybridError):
            db.sql("select set_config('role', %s, true)", [member], read_only=True)
        as_su = make_conninfo(stack.db_url or "", user=superuser, password="su-pw")
        with pytest.raises(ConfigError, match="superuser"):
            _db(stack, db_url=as_su).sql("select 1", read_only=True)
        assert _db(stack, db_url=as_su).sql("select 1 as one").rows == ({"one": 1},)
    finally:
        with psycopg.connect(stack.db_url or "", autocommit=True) as conn:
            conn.execute(f"drop role if exists {member}")
            conn.execute(f"drop role if exists {superuser}")
