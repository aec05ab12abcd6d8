"""Hostile input through the REST API and the SQL layer: rejected or harmless.

SQL is sent where values, column names, table names, RPC argument names and
values, order clauses, casts, JSON keys, ``columns``/``on_conflict`` and schema
headers go. After every attempt the canary table must still be there with its
rows, and no table the attacks try to create may exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from hybridkit.config import Settings
from hybridkit.database import Database

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def canary(stack: Target) -> Iterator[str]:
    if stack.db_url is None:
        pytest.skip("needs the database URL to verify the database is intact")
    name = f"canary_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE public.{name} (id int PRIMARY KEY, name text UNIQUE, meta jsonb)"
        )
        conn.execute(
            f"INSERT INTO public.{name} VALUES (1, 'one', '{{\"k\": 1}}'), (2, 'two', '{{}}')"
        )
        conn.execute(
            f"CREATE FUNCTION public.{name}_echo(value text) RETURNS text "
            "LANGUAGE sql IMMUTABLE AS 'SELECT value'"
        )
        conn.execute(
            f"CREATE FUNCTION public.{name}_add(a int, b int) RETURNS int "
            "LANGUAGE sql IMMUTABLE AS 'SELECT a + b'"
        )
    try:
        yield name
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{name}")
            conn.execute(f"DROP FUNCTION IF EXISTS public.{name}_echo(text)")
            conn.execute(f"DROP FUNCTION IF EXISTS public.{name}_add(int, int)")


@pytest.fixture(scope="module")
def client(stack: Target) -> Client:
    return create_client(
        stack.url, stack.service_role_key, options=ClientOptions(postgrest_client_retry=False)
    )


def intact(stack: Target, canary: str) -> None:
    assert stack.db_url is not None
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT id, name FROM public.{canary} ORDER BY id").fetchall()
        pwned = conn.execute("SELECT to_regclass('public.pwned')").fetchone()
    assert rows == [(1, "one"), (2, "two")]
    assert pwned == (None,)


INJECTIONS = [
    "x'; DROP TABLE public.{t}; CREATE TABLE public.pwned (i int); --",
    "1) OR 1=1; CREATE TABLE public.pwned (i int); --",
    '" OR "1"="1',
    "$$; CREATE TABLE public.pwned (i int); $$",
    "\\'; CREATE TABLE public.pwned (i int); --",
    "one\x00two",
]


def attack(text: str, canary: str) -> str:
    return text.replace("{t}", canary)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_filter_values(stack: Target, client: Client, canary: str, payload: str) -> None:
    value = attack(payload, canary)
    table = client.table(canary)
    for query in (
        lambda: table.select("*").eq("name", value),
        lambda: table.select("*").ilike("name", value),
        lambda: table.select("*").in_("name", [value, "one"]),
        lambda: table.select("*").or_(f'name.eq."{value}",id.eq.-1'),
        lambda: table.select("*").contains("meta", {"k": value}),
        lambda: table.select("*").eq("meta->>k", value),
    ):
        try:
            rows = query().execute().data
        except APIError as exc:
            assert exc.code not in (None, "")  # a clean PostgREST error, not a crash
        else:
            assert all(r["name"] in ("one",) for r in rows)
    intact(stack, canary)


@pytest.mark.parametrize(
    "column",
    [
        "name; DROP TABLE public.{t}",
        'name" FROM public.{t}; DROP TABLE public.{t}; --',
        "(SELECT 1)",
        "name,(select pg_sleep(0))",
        "*,pg_catalog.version()",
        "name::text; drop table x",
        "meta->>'k'); DROP TABLE public.{t}; --",
    ],
)
def test_column_names_and_casts(stack: Target, client: Client, canary: str, column: str) -> None:
    name = attack(column, canary)
    with pytest.raises(APIError) as selected:
        client.table(canary).select(name).execute()
    assert selected.value.code in ("42703", "PGRST100", "PGRST200")
    with pytest.raises(APIError):
        client.table(canary).select("*").eq(name, "1").execute()
    with pytest.raises(APIError):
        client.table(canary).insert({name: "x", "id": 9}).execute()
    with pytest.raises(APIError):
        client.table(canary).update({name: "x"}).eq("id", 1).execute()
    intact(stack, canary)


@pytest.mark.parametrize(
    "table",
    [
        "{t}; DROP TABLE public.{t}",
        '{t}" ; DROP TABLE public.{t}; --',
        "pg_catalog.pg_authid",
        "../{t}",
    ],
)
def test_table_names(stack: Target, client: Client, canary: str, table: str) -> None:
    with pytest.raises(APIError) as exc:
        client.table(attack(table, canary)).select("*").execute()
    # "../x" leaves /rest/v1 altogether: the gateway's 404 answers it.
    assert exc.value.code in ("PGRST205", "PGRST100") or "no Route matched" in str(exc.value)
    intact(stack, canary)


@pytest.mark.parametrize(
    "order",
    [
        "id; DROP TABLE public.{t}",
        "id.desc,(select 1)",
        "id.desc; drop table x",
        "(CASE WHEN (SELECT true) THEN id END)",
        "id.asc.nullslast.nullsfirst.sideways",
    ],
)
def test_order_clauses(stack: Target, canary: str, order: str) -> None:
    response = httpx.get(
        f"{stack.url}/rest/v1/{canary}",
        params={"select": "id", "order": attack(order, canary)},
        headers={"apikey": stack.service_role_key},
    )
    assert response.status_code == 400
    assert response.json()["code"] in ("PGRST100", "42703")
    intact(stack, canary)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_rpc_argument_names_and_values(
    stack: Target, client: Client, canary: str, payload: str
) -> None:
    value = attack(payload, canary)
    if "\x00" not in value:
        assert client.rpc(f"{canary}_echo", {"value": value}).execute().data == value
        assert client.rpc(f"{canary}_echo", {"value": value}, get=True).execute().data == value
    with pytest.raises(APIError) as bad_name:
        client.rpc(f"{canary}_echo", {value: "x"}).execute()
    assert bad_name.value.code == "PGRST202"
    with pytest.raises(APIError) as bad_int:
        client.rpc(f"{canary}_add", {"a": value, "b": 1}).execute()
    assert bad_int.value.code in ("22P02", "22P05", "22021")
    with pytest.raises(APIError):
        client.rpc(attack("x; DROP TABLE public.{t}", canary), {}).execute()
    intact(stack, canary)


def test_columns_on_conflict_and_schema_headers(stack: Target, canary: str) -> None:
    headers = {"apikey": stack.service_role_key, "Content-Type": "application/json"}
    base = f"{stack.url}/rest/v1/{canary}"
    for params in (
        {"columns": f'"id","name"); DROP TABLE public.{canary}; --'},
        {"on_conflict": f"id) DO NOTHING; DROP TABLE public.{canary}; --"},
        {"select": "id", "limit": "1; drop table x"},
        {"select": "id", "offset": "-1"},
        {"id": "eq.1", "or": "(id.eq.1) OR 1=1"},
    ):
        response = httpx.post(
            base,
            params=params,
            json={"id": 3, "name": "three"},
            headers={**headers, "Prefer": "resolution=merge-duplicates"},
        )
        assert response.status_code == 400, (params, response.text)
    bad_schema = httpx.get(base, headers={**headers, "Accept-Profile": "public; DROP TABLE x; --"})
    assert bad_schema.status_code == 406 and bad_schema.json()["code"] == "PGRST106"
    # A body that is not what PostgREST takes.
    for body in (b"[1, 2]", b"not json", b'{"id": "1); drop table x; --"}'):
        response = httpx.post(base, content=body, headers=headers)
        assert response.status_code == 400
    intact(stack, canary)


def test_sql_parameters_and_read_only(stack: Target, canary: str) -> None:
    settings = Settings.load(env={}, env_file=None, db_url=stack.db_url)
    db = Database(settings)
    for payload in INJECTIONS:
        value = attack(payload, canary).replace("\x00", "")
        result = db.sql("select %s::text as v", [value], read_only=True)
        assert result.rows == ({"v": value},)
    for statement in (
        f"DROP TABLE public.{canary}",
        f"select 1; DROP TABLE public.{canary}",
        f"commit; DROP TABLE public.{canary}",
        f"with gone as (delete from public.{canary} returning 1) select count(*) from gone",
        "create table public.pwned (i int)",
    ):
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; the table must stay
            db.sql(statement, read_only=True)
    intact(stack, canary)
