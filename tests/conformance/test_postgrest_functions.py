"""Functions in the local PostgREST: computed fields and relationships, aggregates, RPC choice.

A small library schema (authors, books, loans) with functions of a row
(``book_label(books)`` a computed field, ``author_books(authors)`` a to-many and
``book_author(books)`` a to-one computed relationship), overloaded and
single-unnamed-parameter functions, checked over real HTTP against the stack's
``/rest/v1`` — with supabase-py's postgrest client where it has the call, raw
requests where the headers matter. Every name carries a per-module suffix; the
objects are dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from postgrest import SyncPostgrestClient
from psycopg import sql

if TYPE_CHECKING:
    from conftest import Target

S = uuid.uuid4().hex[:8]
AUTHORS, BOOKS = f"authors_{S}", f"books_{S}"
LABEL, WRITTEN, WRITER = f"label_{S}", f"written_{S}", f"writer_{S}"
PICK, ECHO, SHOUT, LOOSE = f"pick_{S}", f"echo_{S}", f"shout_{S}", f"loose_{S}"
ALL_BOOKS, TITLE, LONG = f"all_books_{S}", f"title_{S}", f"long_{S}"
SEARCH_PATH = f"search_path_{S}"

SCHEMA = """
CREATE TABLE {a} (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE {b} (id int PRIMARY KEY, author_id int REFERENCES {a}(id), title text NOT NULL,
                  pages int NOT NULL, genre text NOT NULL);
INSERT INTO {a} VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO {b} VALUES (10, 1, 'alpha', 100, 'poem'), (11, 1, 'beta', 300, 'novel'),
                       (12, 2, 'gamma', 200, 'novel'), (13, 2, 'delta', 50, 'poem'),
                       (14, 2, 'eps', 10, 'poem');
CREATE FUNCTION {label}({b}) RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT upper($1.title) || '/' || $1.pages $$;
CREATE FUNCTION {written}({a}) RETURNS SETOF {b} LANGUAGE sql STABLE
  AS $$ SELECT * FROM {b} WHERE author_id = $1.id $$;
CREATE FUNCTION {writer}({b}) RETURNS SETOF {a} ROWS 1 LANGUAGE sql STABLE
  AS $$ SELECT * FROM {a} WHERE id = $1.author_id $$;
CREATE FUNCTION {pick}(a int) RETURNS text LANGUAGE sql AS $$ SELECT 'int' $$;
CREATE FUNCTION {pick}(a text) RETURNS text LANGUAGE sql AS $$ SELECT 'text' $$;
CREATE FUNCTION {pick}(b bigint) RETURNS text LANGUAGE sql AS $$ SELECT 'b:' || b $$;
CREATE FUNCTION {echo}(json) RETURNS json LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION {shout}(text) RETURNS text LANGUAGE sql AS $$ SELECT upper($1) $$;
CREATE FUNCTION {loose}(int) RETURNS int LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION {all_books}(min_pages int) RETURNS SETOF {b} LANGUAGE sql
  AS $$ SELECT * FROM {b} WHERE pages >= min_pages $$;
CREATE VIEW {long} AS SELECT * FROM {b} WHERE pages >= 100;
CREATE FUNCTION {search_path}() RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT current_setting('search_path') $$;
CREATE FUNCTION {title}(book_id int) RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT title FROM {b} WHERE id = book_id $$;
"""


@pytest.fixture(scope="module")
def library(stack: Target) -> Iterator[None]:
    if stack.db_url is None:
        pytest.skip("needs the target's database URL to create test objects")
    names = {
        "a": AUTHORS, "b": BOOKS, "label": LABEL, "written": WRITTEN, "writer": WRITER,
        "pick": PICK, "echo": ECHO, "shout": SHOUT, "loose": LOOSE, "all_books": ALL_BOOKS,
        "title": TITLE, "long": LONG, "search_path": SEARCH_PATH,
    }  # fmt: skip
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        try:
            db.execute(sql.SQL(SCHEMA).format(**{k: sql.Identifier(v) for k, v in names.items()}))
            yield
        finally:
            overloads = db.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname = ANY(%s)",
                [[PICK, ECHO, SHOUT, LOOSE, ALL_BOOKS, TITLE, SEARCH_PATH]],
            ).fetchall()
            for (signature,) in overloads:
                db.execute(sql.SQL("DROP FUNCTION IF EXISTS {} CASCADE").format(sql.SQL(signature)))
            db.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(LONG)))
            for table in (BOOKS, AUTHORS):
                db.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))


@pytest.fixture(scope="module")
def client(stack: Target, library: None) -> Iterator[SyncPostgrestClient]:
    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    with SyncPostgrestClient(f"{stack.url}/rest/v1", headers=headers) as postgrest:
        yield postgrest


def _request(stack: Target, method: str, path: str, **kwargs: Any) -> httpx.Response:
    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return httpx.request(method, f"{stack.url}/rest/v1/{path}", headers=headers, **kwargs)


# --------------------------------------------------------------------------- computed


def test_computed_field_in_select_filter_and_order(client: SyncPostgrestClient) -> None:
    rows = (
        client.table(BOOKS).select(f"id, {LABEL}").like(LABEL, "*A/*").order(LABEL).execute()
    ).data
    assert rows == [
        {"id": 10, LABEL: "ALPHA/100"},
        {"id": 11, LABEL: "BETA/300"},
        {"id": 13, LABEL: "DELTA/50"},
        {"id": 12, LABEL: "GAMMA/200"},
    ]


def test_star_leaves_computed_fields_out(client: SyncPostgrestClient) -> None:
    row = client.table(BOOKS).select("*").eq("id", 10).execute().data[0]
    assert LABEL not in row and set(row) == {"id", "author_id", "title", "pages", "genre"}


def test_computed_relationship_to_many_and_to_one(client: SyncPostgrestClient) -> None:
    authors = (
        client.table(AUTHORS).select(f"name, works:{WRITTEN}(title)").order("id").execute()
    ).data
    assert [(a["name"], sorted(b["title"] for b in a["works"])) for a in authors] == [
        ("ann", ["alpha", "beta"]),
        ("bob", ["delta", "eps", "gamma"]),
        ("cy", []),
    ]
    books = client.table(BOOKS).select(f"id, by:{WRITER}(name)").in_("id", [10, 12]).order("id")
    assert books.execute().data == [
        {"id": 10, "by": {"name": "ann"}},
        {"id": 12, "by": {"name": "bob"}},
    ]


def test_computed_relationship_inner_nesting_and_fields(client: SyncPostgrestClient) -> None:
    rows = (
        client.table(AUTHORS)
        .select(f"name, works:{WRITTEN}!inner(id, {LABEL}, {WRITER}(name))")
        .eq("works.genre", "novel")
        .order("id")
        .execute()
    ).data
    assert rows == [
        {"name": "ann", "works": [{"id": 11, LABEL: "BETA/300", WRITER: {"name": "ann"}}]},
        {"name": "bob", "works": [{"id": 12, LABEL: "GAMMA/200", WRITER: {"name": "bob"}}]},
    ]


def test_a_function_of_no_row_is_not_a_relationship(stack: Target, library: None) -> None:
    answer = _request(stack, "GET", AUTHORS, params={"select": f"id, x:{TITLE}(*)"})
    assert answer.status_code == 400 and answer.json()["code"] == "PGRST200"


def test_a_view_over_one_table_embeds_through_its_foreign_keys(client: SyncPostgrestClient) -> None:
    rows = client.table(LONG).select(f"title, {AUTHORS}(name)").order("id").execute().data
    assert rows == [
        {"title": "alpha", AUTHORS: {"name": "ann"}},
        {"title": "beta", AUTHORS: {"name": "ann"}},
        {"title": "gamma", AUTHORS: {"name": "bob"}},
    ]
    back = client.table(AUTHORS).select(f"name, {LONG}(title)").eq("id", 2).execute().data
    assert back == [{"name": "bob", LONG: [{"title": "gamma"}]}]


# --------------------------------------------------------------------------- aggregates


def test_aggregates_group_by_the_other_columns(client: SyncPostgrestClient) -> None:
    rows = (
        client.table(BOOKS)
        .select(
            "genre, count(), total:pages.sum(), pages.max(), low:pages.min(), mean:pages.avg()::int"
        )
        .order("genre")
        .execute()
    ).data
    assert rows == [
        {"genre": "novel", "count": 2, "total": 500, "max": 300, "low": 200, "mean": 250},
        {"genre": "poem", "count": 3, "total": 160, "max": 100, "low": 10, "mean": 53},
    ]


def test_aggregate_alone_and_with_a_cast(client: SyncPostgrestClient) -> None:
    assert client.table(BOOKS).select("count()").execute().data == [{"count": 5}]
    rows = client.table(BOOKS).select("n:id.count()::text").gt("pages", 99).execute().data
    assert rows == [{"n": "3"}]


def test_aggregates_inside_embeds(client: SyncPostgrestClient) -> None:
    rows = (
        client.table(AUTHORS)
        .select(f"name, {BOOKS}(count), pages:{BOOKS}(pages.sum())")
        .order("id")
        .execute()
    ).data
    assert rows == [
        {"name": "ann", BOOKS: [{"count": 2}], "pages": [{"sum": 400}]},
        {"name": "bob", BOOKS: [{"count": 3}], "pages": [{"sum": 260}]},
        {"name": "cy", BOOKS: [{"count": 0}], "pages": [{"sum": None}]},
    ]


def test_aggregates_group_by_a_spread_embed(client: SyncPostgrestClient) -> None:
    rows = client.table(BOOKS).select(f"count(), pages.sum(), ...{AUTHORS}(name)").execute().data
    assert sorted(rows, key=lambda r: r["name"]) == [
        {"count": 2, "sum": 400, "name": "ann"},
        {"count": 3, "sum": 260, "name": "bob"},
    ]


def test_aggregate_of_an_unknown_column_is_42703(stack: Target, library: None) -> None:
    answer = _request(stack, "GET", BOOKS, params={"select": "nope.sum()"})
    assert answer.status_code == 400
    assert answer.json()["message"] == f"column {BOOKS}.nope does not exist"


def test_an_unknown_column_in_an_embed_is_named_by_its_alias(stack: Target, library: None) -> None:
    # PostgreSQL names the embedded table by PostgREST's alias for it (name_1).
    answer = _request(stack, "GET", AUTHORS, params={"select": f"name,{BOOKS}(sum)"})
    assert answer.status_code == 400
    assert answer.json()["message"] == f"column {BOOKS}_1.sum does not exist"


# --------------------------------------------------------------------------- rpc


def test_overloads_resolve_by_argument_names(client: SyncPostgrestClient) -> None:
    assert client.rpc(PICK, {"b": 7}).execute().data == "b:7"


def test_ambiguous_overloads_are_pgrst203(stack: Target, library: None) -> None:
    answer = _request(stack, "POST", f"rpc/{PICK}", json={"a": 1})
    assert answer.status_code == 300
    body = answer.json()
    assert body["code"] == "PGRST203"
    assert body["message"] == (
        "Could not choose the best candidate function between: "
        f"public.{PICK}(a => integer), public.{PICK}(a => text)"
    )


def test_single_unnamed_parameter_takes_the_body(stack: Target, library: None) -> None:
    document = {"k": [1, 2], "s": "x"}
    assert _request(stack, "POST", f"rpc/{ECHO}", json=document).json() == document
    assert _request(stack, "POST", f"rpc/{ECHO}", json=[1, 2]).json() == [1, 2]
    text = _request(
        stack, "POST", f"rpc/{SHOUT}", content="quiet", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 200 and text.json() == "QUIET"


def test_unnamed_non_body_parameter_is_not_callable(stack: Target, library: None) -> None:
    answer = _request(stack, "POST", f"rpc/{LOOSE}", json={"": 1})
    assert answer.status_code == 404
    body = answer.json()
    assert body["code"] == "PGRST202"
    assert body["message"] == f"Could not find the function public.{LOOSE}() in the schema cache"


def test_a_computed_field_called_as_rpc_has_no_hint(stack: Target, library: None) -> None:
    # PostgREST (v13+) suggests another function's name only when it is very close (a fuzzy
    # score of 0.75): none is for the computed field, its own name is for a typo of it.
    body = _request(stack, "POST", f"rpc/{LABEL}").json()
    assert body["code"] == "PGRST202"
    assert body["message"] == (
        f"Could not find the function public.{LABEL} without parameters in the schema cache"
    )
    assert body["hint"] is None
    close = _request(stack, "POST", f"rpc/{LABEL}x").json()
    assert close["hint"] == f"Perhaps you meant to call the function public.{LABEL}"


def test_pgrst202_wording_and_hint(stack: Target, library: None) -> None:
    body = _request(stack, "POST", f"rpc/{TITLE}", json={"bookid": 1}).json()
    assert (
        body["message"] == f"Could not find the function public.{TITLE}(bookid) in the schema cache"
    )
    assert body["details"] == (
        f"Searched for the function public.{TITLE} with parameter bookid or with a single "
        "unnamed json/jsonb parameter, but no matches were found in the schema cache."
    )
    assert body["hint"] == f"Perhaps you meant to call the function public.{TITLE}(book_id)"


def test_rpc_results_embed_filter_and_aggregate(client: SyncPostgrestClient) -> None:
    rows = (
        client.rpc(ALL_BOOKS, {"min_pages": 100})
        .select(f"title, {AUTHORS}(name), {WRITER}(id)")
        .order("id")
        .execute()
    ).data
    assert rows == [
        {"title": "alpha", AUTHORS: {"name": "ann"}, WRITER: {"id": 1}},
        {"title": "beta", AUTHORS: {"name": "ann"}, WRITER: {"id": 1}},
        {"title": "gamma", AUTHORS: {"name": "bob"}, WRITER: {"id": 2}},
    ]
    grouped = client.rpc(ALL_BOOKS, {"min_pages": 0}).select("genre, count()").order("genre")
    assert grouped.execute().data == [{"genre": "novel", "count": 2}, {"genre": "poem", "count": 3}]


def test_rpc_results_of_a_row_type_have_its_computed_fields(client: SyncPostgrestClient) -> None:
    call = client.rpc(ALL_BOOKS, {"min_pages": 100}).select(f"title, {LABEL}")
    rows = call.like(LABEL, "*A/*").order(LABEL, desc=True).execute().data
    assert rows == [
        {"title": "gamma", LABEL: "GAMMA/200"},
        {"title": "beta", LABEL: "BETA/300"},
        {"title": "alpha", LABEL: "ALPHA/100"},
    ]


def test_count_on_a_scalar_rpc(stack: Target, library: None) -> None:
    answer = _request(
        stack, "POST", f"rpc/{TITLE}", json={"book_id": 10}, headers={"Prefer": "count=exact"}
    )
    assert answer.json() == "alpha"
    assert answer.headers["content-range"] == "0-0/1"


def test_max_affected_on_rpc(stack: Target, library: None) -> None:
    prefer = {"Prefer": "handling=strict, max-affected=2"}
    over = _request(stack, "POST", f"rpc/{ALL_BOOKS}", json={"min_pages": 100}, headers=prefer)
    assert over.status_code == 400 and over.json()["code"] == "PGRST124"
    under = _request(stack, "POST", f"rpc/{ALL_BOOKS}", json={"min_pages": 250}, headers=prefer)
    assert under.status_code == 200 and len(under.json()) == 1


# --------------------------------------------------------------------------- Prefer


def test_tx_rollback_answers_and_keeps_nothing(stack: Target, library: None) -> None:
    answer = _request(
        stack, "POST", AUTHORS, json={"id": 90, "name": "ghost"},
        headers={"Prefer": "return=representation, tx=rollback"},
    )  # fmt: skip
    assert answer.status_code == 201 and answer.json() == [{"id": 90, "name": "ghost"}]
    assert "tx=rollback" in answer.headers["preference-applied"]
    assert _request(stack, "GET", AUTHORS, params={"id": "eq.90"}).json() == []


def test_strict_handling_refuses_an_unknown_preference(stack: Target, library: None) -> None:
    answer = _request(stack, "GET", AUTHORS, headers={"Prefer": "handling=strict, colour=blue"})
    assert answer.status_code == 400 and answer.json()["code"] == "PGRST122"
    lenient = _request(stack, "GET", AUTHORS, headers={"Prefer": "colour=blue"})
    assert lenient.status_code == 200


def test_upsert_that_updates_is_200_and_one_that_inserts_is_201(
    stack: Target, library: None
) -> None:
    prefer = {"Prefer": "return=representation, resolution=merge-duplicates, tx=rollback"}
    updated = _request(stack, "POST", AUTHORS, json=[{"id": 3, "name": "cee"}], headers=prefer)
    assert updated.status_code == 200 and updated.json() == [{"id": 3, "name": "cee"}]
    mixed = _request(
        stack, "POST", AUTHORS, json=[{"id": 3, "name": "cee"}, {"id": 91, "name": "new"}],
        headers=prefer,
    )  # fmt: skip
    assert mixed.status_code == 201


def test_write_without_return_preference_has_no_body(stack: Target, library: None) -> None:
    answer = _request(
        stack, "POST", AUTHORS, params={"select": "id"}, json={"id": 92, "name": "quiet"},
        headers={"Prefer": "tx=rollback"},
    )  # fmt: skip
    assert answer.status_code == 201 and answer.content == b""


# --------------------------------------------------------------------------- explain


def test_explain_json_and_text_with_options(stack: Target, library: None) -> None:
    params = {"select": f"name, {BOOKS}!inner(title)", f"{BOOKS}.or": "(pages.eq.100,genre.eq.x)"}
    plan = _request(
        stack, "GET", AUTHORS, params=params,
        headers={"Accept": "application/vnd.pgrst.plan+json; options=analyze"},
    )  # fmt: skip
    assert plan.status_code == 200
    assert plan.headers["content-type"].startswith("application/vnd.pgrst.plan+json")
    assert plan.json()[0]["Plan"]["Node Type"] == "Aggregate"
    assert "Actual Rows" in plan.json()[0]["Plan"]
    text = _request(
        stack, "GET", AUTHORS, params=params,
        headers={"Accept": "application/vnd.pgrst.plan+text; options=analyze|verbose|buffers"},
    )  # fmt: skip
    # Aliases as PostgREST's: the table's name, and the embed's name with its number.
    assert (
        f"(({BOOKS}_1.author_id = {AUTHORS}.id) AND "
        f"(({BOOKS}_1.pages = 100) OR ({BOOKS}_1.genre = 'x'::text)))"
    ) in text.text, [line for line in text.text.splitlines() if "Filter" in line]


def test_plan_settings_show_the_request_search_path(stack: Target, library: None) -> None:
    plan = _request(
        stack, "GET", AUTHORS,
        headers={"Accept": "application/vnd.pgrst.plan+json; options=verbose|settings"},
    ).json()[0]  # fmt: skip
    assert plan["Settings"]["search_path"] == '"public", "public", "extensions"'
    # The cluster's own settings, as Supabase's (postgrest-js's explain snapshot pins them):
    # effective_cache_size 128MB among the changed settings, and VERBOSE's Query Identifier
    # (compute_query_id, which pg_stat_statements turns on there).
    assert plan["Settings"]["effective_cache_size"] == "128MB"
    assert isinstance(plan["Query Identifier"], int)


def test_functions_run_with_the_request_schema_first_in_the_search_path(
    client: SyncPostgrestClient,
) -> None:
    # PostgREST sets search_path per request: the schema asked for, then the extra path.
    assert client.rpc(SEARCH_PATH, {}).execute().data == '"public", "public", "extensions"'


def test_explain_rpc_and_refused_write(stack: Target, library: None) -> None:
    plan = _request(
        stack, "POST", f"rpc/{ALL_BOOKS}", json={"min_pages": 100},
        headers={"Accept": "application/vnd.pgrst.plan+json"},
    )  # fmt: skip
    assert plan.status_code == 200 and plan.json()[0]["Plan"]["Node Type"] == "Aggregate"
    # The local stack does not explain writes: 406, and nothing is written.
    write = _request(
        stack, "POST", AUTHORS, json={"id": 93, "name": "planned"},
        headers={"Accept": "application/vnd.pgrst.plan+text; options=analyze"},
    )  # fmt: skip
    assert write.status_code == 406 and write.json()["code"] == "PGRST107"
    assert _request(stack, "GET", AUTHORS, params={"id": "eq.93"}).json() == []


# --------------------------------------------------------------------------- counts and CSV


def test_planned_count_is_the_planners_and_estimated_is_exact_when_small(
    stack: Target, library: None
) -> None:
    planned = _request(stack, "HEAD", BOOKS, headers={"Prefer": "count=planned"})
    assert planned.status_code in (200, 206)
    total = int(planned.headers["content-range"].split("/")[1])
    assert total > 0  # an estimate: the planner's, not a count of the five rows
    estimated = _request(stack, "HEAD", BOOKS, headers={"Prefer": "count=estimated"})
    assert estimated.headers["content-range"] == "0-4/5"


def test_csv_quotes_commas_quotes_and_spaces(stack: Target, library: None) -> None:
    plain = _request(
        stack, "GET", BOOKS, params={"select": f"id,title,{LABEL}", "id": "eq.10"},
        headers={"Accept": "text/csv"},
    )  # fmt: skip
    assert plain.text == f"id,title,{LABEL}\n10,alpha,ALPHA/100"
    written = _request(
        stack, "POST", AUTHORS, params={"select": "id,name"},
        json=[{"id": 94, "name": 'say "hi", then go'}, {"id": 95, "name": "two words"}],
        headers={"Accept": "text/csv", "Prefer": "return=representation, tx=rollback"},
    )  # fmt: skip
    assert written.text == 'id,name\n94,"say ""hi"", then go"\n95,"two words"'
