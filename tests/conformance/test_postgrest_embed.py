"""Resource embedding through supabase-py's postgrest client, against the stack's ``/rest/v1``.

A small shop schema (customers, orders with two foreign keys to customers,
items, products, tags through a junction table, a self-referencing people
table) exercises what users write with ``client.table(...).select(...)``:
many-to-one and one-to-many embeds, nesting, aliases, ``!inner``, foreign key
hints, filters/order/limit on embedded rows, and embeds in a write's
representation. Raw requests check PostgREST's PGRST200/PGRST201 bodies, and a
pair of tables under row-level security shows anon's policies applying to
embedded rows. Every table name carries a per-module suffix; the tables are
dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from psycopg import sql
from supabase import Client, ClientOptions, create_client

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SUFFIX = uuid.uuid4().hex[:10]
CUSTOMERS, ORDERS, ITEMS, PRODUCTS = (
    f"{n}_{SUFFIX}" for n in ("customers", "orders", "items", "products")
)
TAGS, ORDER_TAGS, PEOPLE = (f"{n}_{SUFFIX}" for n in ("tags", "order_tags", "people"))
VAULTS, DOCS = f"vaults_{SUFFIX}", f"docs_{SUFFIX}"

SHOP = """
CREATE TABLE {c} (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE {p} (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE {o} (id int PRIMARY KEY, customer_id int REFERENCES {c}(id),
                  shipper_id int REFERENCES {c}(id), note text);
CREATE TABLE {i} (id int PRIMARY KEY, order_id int NOT NULL REFERENCES {o}(id),
                  product_id int REFERENCES {p}(id), qty int NOT NULL);
CREATE TABLE {t} (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE {ot} (order_id int REFERENCES {o}(id), tag_id int REFERENCES {t}(id),
                   PRIMARY KEY (order_id, tag_id));
CREATE TABLE {pe} (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES {pe}(id));
INSERT INTO {c} VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO {p} VALUES (100, 'pen'), (101, 'ink');
INSERT INTO {o} VALUES (10, 1, 2, 'first'), (11, 1, NULL, 'second'), (12, 2, 1, 'third'),
                       (13, NULL, NULL, 'orphan');
INSERT INTO {i} VALUES (1, 10, 100, 2), (2, 10, 101, 1), (3, 12, 100, 5);
INSERT INTO {t} VALUES (1, 'red'), (2, 'blue');
INSERT INTO {ot} VALUES (10, 1), (10, 2), (12, 2);
INSERT INTO {pe} VALUES (1, 'root', NULL), (2, 'kid', 1), (3, 'kid2', 1);
"""

GUARDED = """
CREATE TABLE {v} (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE {d} (id int PRIMARY KEY, vault_id int REFERENCES {v}(id), title text NOT NULL,
                  secret boolean NOT NULL DEFAULT false);
ALTER TABLE {v} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {d} ENABLE ROW LEVEL SECURITY;
CREATE POLICY anon_reads ON {v} FOR SELECT TO anon USING (label <> 'hidden');
CREATE POLICY anon_reads ON {d} FOR SELECT TO anon USING (NOT secret);
INSERT INTO {v} VALUES (1, 'open'), (2, 'hidden');
INSERT INTO {d} VALUES (1, 1, 'a', false), (2, 1, 'b', true), (3, 2, 'c', false);
"""


def _client(stack: Target, key: str) -> Client:
    return create_client(stack.url, key, options=ClientOptions(postgrest_client_retry=False))


def _run(db: psycopg.Connection[Any], script: str, **tables: str) -> None:
    idents = {k: sql.Identifier("public", v) for k, v in tables.items()}
    db.execute(sql.SQL(script).format(**idents))


@pytest.fixture(scope="module")
def db(stack: Target) -> Iterator[psycopg.Connection[Any]]:
    if stack.db_url is None:
        pytest.skip("needs the target's database URL to create test tables")
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def shop(db: psycopg.Connection[Any]) -> Iterator[None]:
    tables = {
        "c": CUSTOMERS,
        "o": ORDERS,
        "i": ITEMS,
        "p": PRODUCTS,
        "t": TAGS,
        "ot": ORDER_TAGS,
        "pe": PEOPLE,
    }
    try:
        _run(db, SHOP, **tables)
        yield
    finally:
        for name in (ORDER_TAGS, ITEMS, ORDERS, TAGS, PRODUCTS, CUSTOMERS, PEOPLE):
            db.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def guarded(db: psycopg.Connection[Any]) -> Iterator[None]:
    try:
        _run(db, GUARDED, v=VAULTS, d=DOCS)
        yield
    finally:
        for name in (DOCS, VAULTS):
            db.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def service(stack: Target, shop: None) -> Client:
    return _client(stack, stack.service_role_key)


def _raw(stack: Target, table: str, select: str) -> httpx.Response:
    key = stack.service_role_key
    return httpx.get(
        f"{stack.url}/rest/v1/{table}",
        params={"select": select},
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
    )


# --------------------------------------------------------------------------- shapes


def test_many_to_one_is_an_object_or_null(service: Client) -> None:
    rows = (
        service.table(ORDERS)
        .select(f"id, customer:{CUSTOMERS}!customer_id(name)")
        .order("id")
        .execute()
    )
    assert rows.data == [
        {"id": 10, "customer": {"name": "ann"}},
        {"id": 11, "customer": {"name": "ann"}},
        {"id": 12, "customer": {"name": "bob"}},
        {"id": 13, "customer": None},
    ]
    one = (
        service.table(ORDERS)
        .select(f"note, {CUSTOMERS}!shipper_id(*)")
        .eq("id", 12)
        .single()
        .execute()
    )
    assert one.data == {"note": "third", CUSTOMERS: {"id": 1, "name": "ann"}}


def test_one_to_many_is_an_array_or_empty(service: Client) -> None:
    rows = (
        service.table(CUSTOMERS)
        .select(f"name, orders:{ORDERS}!customer_id(id, note)")
        .order("id")
        .order("id", foreign_table="orders")
        .execute()
    )
    assert rows.data == [
        {"name": "ann", "orders": [{"id": 10, "note": "first"}, {"id": 11, "note": "second"}]},
        {"name": "bob", "orders": [{"id": 12, "note": "third"}]},
        {"name": "cy", "orders": []},
    ]


def test_nested_embeds_with_aliases_and_casts(service: Client) -> None:
    row = (
        service.table(CUSTOMERS)
        .select(
            f"name, orders:{ORDERS}!customer_id("
            f"id, lines:{ITEMS}(n:qty::text, product:{PRODUCTS}(name)))"
        )
        .eq("id", 1)
        .order("id", foreign_table="orders")
        .order("id", foreign_table="orders.lines")
        .single()
        .execute()
    )
    assert row.data == {
        "name": "ann",
        "orders": [
            {
                "id": 10,
                "lines": [
                    {"n": "2", "product": {"name": "pen"}},
                    {"n": "1", "product": {"name": "ink"}},
                ],
            },
            {"id": 11, "lines": []},
        ],
    }


def test_star_and_table_name_as_key(service: Client) -> None:
    row = service.table(ORDERS).select(f"*, {ITEMS}(*)").eq("id", 12).single().execute()
    assert row.data == {
        "id": 12,
        "customer_id": 2,
        "shipper_id": 1,
        "note": "third",
        ITEMS: [{"id": 3, "order_id": 12, "product_id": 100, "qty": 5}],
    }


def test_foreign_key_hints(service: Client) -> None:
    by_constraint_and_column = (
        service.table(ORDERS)
        .select(
            f"id, buyer:{CUSTOMERS}!{ORDERS}_customer_id_fkey(name), "
            f"sender:{CUSTOMERS}!shipper_id(name)"
        )
        .eq("id", 12)
        .single()
        .execute()
    )
    assert by_constraint_and_column.data == {
        "id": 12,
        "buyer": {"name": "bob"},
        "sender": {"name": "ann"},
    }
    reverse = (
        service.table(CUSTOMERS)
        .select(f"name, shipped:{ORDERS}!shipper_id(id)")
        .order("id")
        .execute()
    )
    assert reverse.data == [
        {"name": "ann", "shipped": [{"id": 12}]},
        {"name": "bob", "shipped": [{"id": 10}]},
        {"name": "cy", "shipped": []},
    ]
    # The foreign key column itself may name the embed.
    by_column = service.table(ORDERS).select("id, shipper_id(name)").eq("id", 10).single().execute()
    assert by_column.data == {"id": 10, "shipper_id": {"name": "bob"}}


def test_many_to_many_and_self_reference(service: Client) -> None:
    tagged = (
        service.table(ORDERS)
        .select(f"id, {TAGS}(label)")
        .order("id")
        .order("id", foreign_table=TAGS)
        .execute()
    )
    assert [(r["id"], [t["label"] for t in r[TAGS]]) for r in tagged.data] == [
        (10, ["red", "blue"]),
        (11, []),
        (12, ["blue"]),
        (13, []),
    ]
    family = (
        service.table(PEOPLE)
        .select(f"name, parent:parent_id(name), children:{PEOPLE}(name)")
        .order("id")
        .order("id", foreign_table="children")
        .execute()
    )
    assert family.data == [
        {"name": "root", "parent": None, "children": [{"name": "kid"}, {"name": "kid2"}]},
        {"name": "kid", "parent": {"name": "root"}, "children": []},
        {"name": "kid2", "parent": {"name": "root"}, "children": []},
    ]


def test_spread_to_one(service: Client) -> None:
    rows = (
        service.table(ORDERS)
        .select(f"id, ...{CUSTOMERS}!customer_id(buyer:name)")
        .order("id")
        .execute()
    )
    assert rows.data == [
        {"id": 10, "buyer": "ann"},
        {"id": 11, "buyer": "ann"},
        {"id": 12, "buyer": "bob"},
        {"id": 13, "buyer": None},
    ]


def test_spread_to_many_gives_arrays(service: Client) -> None:
    # PostgREST 13: each column of a to-many spread is an array in the parent ([] when none).
    query = service.table(CUSTOMERS).select(f"name, ...{ORDERS}!customer_id(order_ids:id, note)")
    assert query.order("id").order("id", foreign_table=ORDERS).execute().data == [
        {"name": "ann", "order_ids": [10, 11], "note": ["first", "second"]},
        {"name": "bob", "order_ids": [12], "note": ["third"]},
        {"name": "cy", "order_ids": [], "note": []},
    ]
    inner = service.table(CUSTOMERS).select(f"name, ...{ORDERS}!customer_id!inner(id)")
    assert inner.order("id").execute().data == [
        {"name": "ann", "id": [10, 11]},
        {"name": "bob", "id": [12]},
    ]


# --------------------------------------------------------------------------- filters


def test_embedded_filter_filters_only_embedded_rows(service: Client) -> None:
    rows = (
        service.table(CUSTOMERS)
        .select(f"name, orders:{ORDERS}!customer_id(id)")
        .gt("orders.id", 10)
        .order("id")
        .execute()
    )
    assert rows.data == [
        {"name": "ann", "orders": [{"id": 11}]},
        {"name": "bob", "orders": [{"id": 12}]},
        {"name": "cy", "orders": []},
    ]


def test_inner_drops_parents_without_a_match(service: Client) -> None:
    rows = (
        service.table(CUSTOMERS)
        .select(f"name, orders:{ORDERS}!customer_id!inner(id)", count="exact")
        .gt("orders.id", 11)
        .execute()
    )
    assert rows.data == [{"name": "bob", "orders": [{"id": 12}]}]
    assert rows.count == 1
    anns = (
        service.table(ORDERS)
        .select(f"id, customer:{CUSTOMERS}!customer_id!inner(name)")
        .eq("customer.name", "ann")
        .order("id")
        .execute()
    )
    assert [r["id"] for r in anns.data] == [10, 11]
    # An empty embed filters without adding a key.
    only_filter = (
        service.table(ORDERS)
        .select(f"id, {CUSTOMERS}!customer_id!inner()")
        .eq(f"{CUSTOMERS}.name", "bob")
        .execute()
    )
    assert only_filter.data == [{"id": 12}]


def test_null_filters_on_embeds(service: Client) -> None:
    without_items = (
        service.table(ORDERS).select(f"id, {ITEMS}()").is_(ITEMS, "null").order("id").execute()
    )
    assert without_items.data == [{"id": 11}, {"id": 13}]
    with_customer = (
        service.table(ORDERS)
        .select(f"id, customer:{CUSTOMERS}!customer_id(name)")
        .not_.is_("customer", "null")
        .order("id")
        .execute()
    )
    assert [r["id"] for r in with_customer.data] == [10, 11, 12]


def test_embedded_order_and_limit(service: Client) -> None:
    rows = (
        service.table(ORDERS)
        .select(f"id, {ITEMS}(qty)")
        .order("qty", desc=True, foreign_table=ITEMS)
        .limit(1, foreign_table=ITEMS)
        .order("id")
        .execute()
    )
    assert rows.data == [
        {"id": 10, ITEMS: [{"qty": 2}]},
        {"id": 11, ITEMS: []},
        {"id": 12, ITEMS: [{"qty": 5}]},
        {"id": 13, ITEMS: []},
    ]


def test_embeds_in_a_write_representation(service: Client) -> None:
    try:
        inserted = (
            service.table(ORDERS)
            .insert({"id": 14, "customer_id": 3, "note": "new"})
            .select(f"id, customer:{CUSTOMERS}!customer_id(name), {ITEMS}(id)")
            .execute()
        )
        assert inserted.data == [{"id": 14, "customer": {"name": "cy"}, ITEMS: []}]
    finally:
        service.table(ORDERS).delete().eq("id", 14).execute()
    assert service.table(ORDERS).select("id").eq("id", 14).execute().data == []


# --------------------------------------------------------------------------- errors


def test_ambiguous_embed_is_pgrst201(stack: Target, service: Client) -> None:
    with pytest.raises(APIError) as exc:
        service.table(ORDERS).select(f"id, {CUSTOMERS}(name)").execute()
    assert exc.value.code == "PGRST201"

    response = _raw(stack, ORDERS, f"id,{CUSTOMERS}(name)")
    assert response.status_code == 300
    assert response.json() == {
        "code": "PGRST201",
        "message": f"Could not embed because more than one relationship was found for "
        f"'{ORDERS}' and '{CUSTOMERS}'",
        "details": [
            {
                "cardinality": "many-to-one",
                "embedding": f"{ORDERS} with {CUSTOMERS}",
                "relationship": f"{ORDERS}_customer_id_fkey using {ORDERS}(customer_id) "
                f"and {CUSTOMERS}(id)",
            },
            {
                "cardinality": "many-to-one",
                "embedding": f"{ORDERS} with {CUSTOMERS}",
                "relationship": f"{ORDERS}_shipper_id_fkey using {ORDERS}(shipper_id) "
                f"and {CUSTOMERS}(id)",
            },
        ],
        "hint": f"Try changing '{CUSTOMERS}' to one of the following: "
        f"'{CUSTOMERS}!{ORDERS}_customer_id_fkey', '{CUSTOMERS}!{ORDERS}_shipper_id_fkey'. "
        "Find the desired relationship in the 'details' key.",
    }


def test_no_relationship_is_pgrst200(stack: Target, service: Client) -> None:
    with pytest.raises(APIError) as typo:
        service.table(ORDERS).select(f"id, {ITEMS}z(*)").execute()
    assert typo.value.code == "PGRST200"
    assert typo.value.hint == f"Perhaps you meant '{ITEMS}' instead of '{ITEMS}z'."

    unrelated = _raw(stack, PRODUCTS, f"id,{TAGS}(*)")
    assert unrelated.status_code == 400
    assert unrelated.json()["message"] == (
        f"Could not find a relationship between '{PRODUCTS}' and '{TAGS}' in the schema cache"
    )

    bad_hint = _raw(stack, ORDERS, f"id,buyer:{CUSTOMERS}!nope_fkey(name)")
    assert bad_hint.status_code == 400
    assert bad_hint.json() == {
        "code": "PGRST200",
        "message": f"Could not find a relationship between '{ORDERS}' and '{CUSTOMERS}' "
        "in the schema cache",
        "details": f"Searched for a foreign key relationship between '{ORDERS}' and "
        f"'{CUSTOMERS}' using the hint 'nope_fkey' in the schema 'public', "
        "but no matches were found.",
        "hint": None,
    }


def test_option_for_a_resource_not_embedded_is_pgrst108(service: Client) -> None:
    with pytest.raises(APIError) as exc:
        service.table(ORDERS).select("id").eq(f"{ITEMS}.qty", 1).execute()
    assert exc.value.code == "PGRST108"
    assert exc.value.message == f"'{ITEMS}' is not an embedded resource in this request"


# --------------------------------------------------------------------------- RLS


def test_rls_applies_to_embedded_rows(stack: Target, guarded: None) -> None:
    anon = _client(stack, stack.anon_key)
    vaults = anon.table(VAULTS).select(f"label, {DOCS}(title)").execute()
    assert vaults.data == [{"label": "open", DOCS: [{"title": "a"}]}]

    docs = anon.table(DOCS).select(f"title, vault:{VAULTS}(label)").order("id").execute()
    assert docs.data == [
        {"title": "a", "vault": {"label": "open"}},
        {"title": "c", "vault": None},  # its vault is hidden from anon
    ]
    inner = anon.table(DOCS).select(f"title, vault:{VAULTS}!inner(label)").execute()
    assert inner.data == [{"title": "a", "vault": {"label": "open"}}]

    service = _client(stack, stack.service_role_key)
    everything = (
        service.table(VAULTS)
        .select(f"label, {DOCS}(title)")
        .order("id")
        .order("id", foreign_table=DOCS)
        .execute()
    )
    assert everything.data == [
        {"label": "open", DOCS: [{"title": "a"}, {"title": "b"}]},
        {"label": "hidden", DOCS: [{"title": "c"}]},
    ]
