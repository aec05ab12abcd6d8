"""The local PostgREST subset's request parsing and SQL composition, without a database.

The point of these tests: identifiers always come out quoted, values always come
out as placeholders, and request text that is not a known keyword never reaches
the SQL string.
"""

from __future__ import annotations

import pytest

from hybridkit.local.rest.compose import Params, Relation, order_sql, select_list_sql, where_sql
from hybridkit.local.rest.errors import ApiError, pg_status
from hybridkit.local.rest.parsing import (
    Field,
    Filter,
    Logic,
    PathStep,
    parse_condition,
    parse_field,
    parse_in_list,
    parse_logic,
    parse_order,
    parse_prefer,
    parse_range,
    parse_select,
    split_top_level,
)
from hybridkit.local.rest.statements import (
    Returning,
    delete_sql,
    insert_sql,
    read_sql,
    update_sql,
)

REL = Relation(
    "public",
    "items",
    "r",
    {"id": "bigint", "name": "text", "meta": "jsonb", "tags": "text[]", "my col": "text"},
    ("id",),
)


def text(composable: object) -> str:
    return composable.as_string(None)  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------- parsing


def test_split_top_level_respects_quotes_and_parens() -> None:
    assert split_top_level('a,b(c,d),"e,\\"f",{g,h}') == ["a", "b(c,d)", '"e,\\"f"', "{g,h}"]
    with pytest.raises(ApiError):
        split_top_level("a,(b")


def test_fields_and_json_paths() -> None:
    assert parse_field("name") == Field("name")
    assert parse_field('"my col"') == Field("my col")
    assert parse_field("meta->a->>0") == Field("meta", (PathStep("->", "a"), PathStep("->>", 0)))
    with pytest.raises(ApiError):
        parse_field("meta->")


def test_select_items() -> None:
    items = parse_select("id,label:name::text,meta->>color,*")
    assert [i.alias for i in items] == [None, "label", None, None]
    assert items[1].cast == "text"
    assert items[3].field is None
    with pytest.raises(ApiError) as embedded:
        parse_select("id,owner(email)")
    assert embedded.value.code == "PGRST200"


def test_conditions() -> None:
    assert parse_condition("age", "gte.18") == Filter(Field("age"), "gte", "18")
    assert parse_condition("n", "not.is.null") == Filter(Field("n"), "is", "null", negate=True)
    assert parse_condition("id", 'in.(1,"a,b",null)').value == ("1", "a,b", None)
    assert parse_condition("t", "fts(english).cat").modifier == "english"
    assert parse_condition("t", "like(any).{a*,*b}").value == ("a*", "*b")
    with pytest.raises(ApiError) as bad:
        parse_condition("id", "zz.1")
    assert bad.value.code == "PGRST100"
    with pytest.raises(ApiError):
        parse_condition("id", "is.1; drop table x")


def test_in_list_quoting() -> None:
    assert parse_in_list('("a\\"b","null",null)') == ('a"b', "null", None)
    assert parse_in_list("()") == ()


def test_logic_trees() -> None:
    tree = parse_logic("or", '(a.eq.1,and(b.gt.2,c.not.is.null),d.in.(1,2),e.eq."x,y")')
    assert isinstance(tree, Logic) and tree.op == "or"
    assert isinstance(tree.children[1], Logic) and tree.children[1].op == "and"
    assert tree.children[2] == Filter(Field("d"), "in", ("1", "2"))
    assert tree.children[3] == Filter(Field("e"), "eq", "x,y")
    assert parse_logic("not.and", "(a.eq.1)").negate
    with pytest.raises(ApiError):
        parse_logic("or", "a.eq.1")


def test_order_terms() -> None:
    terms = parse_order("created_at.desc.nullslast,name,meta->>k.asc")
    assert [(t.field.column, t.descending, t.nulls) for t in terms] == [
        ("created_at", True, "last"),
        ("name", False, None),
        ("meta", False, None),
    ]
    with pytest.raises(ApiError):
        parse_order("id.sideways")


def test_prefer_and_range() -> None:
    prefer = parse_prefer(["return=minimal, count=exact", "resolution=merge-duplicates"])
    assert (prefer.return_, prefer.count, prefer.resolution) == (
        "minimal",
        "exact",
        "merge-duplicates",
    )
    assert parse_prefer(["return=whatever"]).return_ is None
    assert parse_range("0-9") == (0, 10)
    assert parse_range("5-") == (5, None)
    assert parse_range("bytes=1-2") is None
    with pytest.raises(ApiError) as bad:
        parse_range("9-1")
    assert bad.value.status == 416


# --------------------------------------------------------------------------- composition


def test_where_binds_every_value() -> None:
    params = Params()
    conditions = [
        parse_condition("name", "eq.x'); drop table items; --"),
        parse_condition("meta->>color", "ilike.*red*"),
        parse_logic("or", "(id.in.(1,2),tags.not.cs.{a})"),
    ]
    sql = text(where_sql(conditions, REL, REL.ident, params))
    assert "drop table" not in sql
    assert '"public"."items"."name" = %(p1)s' in sql
    assert '("public"."items"."meta" ->> %(p2)s::text) ILIKE %(p3)s' in sql
    assert "NOT (" in sql and "@>" in sql
    assert params.values["p1"] == "x'); drop table items; --"
    assert params.values["p3"] == "%red%"


def test_unknown_columns_are_refused_before_sql() -> None:
    for bad in ('name"; drop table items; --', "nope"):
        with pytest.raises(ApiError) as exc:
            where_sql([Filter(Field(bad), "eq", "1")], REL, REL.ident, Params())
        assert exc.value.code == "42703"


def test_select_list_and_casts() -> None:
    params = Params()
    sql = text(select_list_sql(parse_select('label:name::text,"my col"'), REL, REL.ident, params))
    assert sql == (
        'CAST("public"."items"."name" AS text) AS "label", "public"."items"."my col" AS "my col"'
    )
    with pytest.raises(ApiError):
        select_list_sql(parse_select("name::text) from pg_shadow --"), REL, REL.ident, Params())


def test_order_sql() -> None:
    sql = text(order_sql(parse_order("id.desc.nullsfirst"), REL, REL.ident, Params()))
    assert sql == '"public"."items"."id" DESC NULLS FIRST'


def test_read_statement_shape() -> None:
    stmt, params = read_sql(
        REL, parse_select("id"), [parse_condition("id", "gt.1")], (), limit=5, offset=10
    )
    sql = text(stmt)
    assert sql.startswith("SELECT coalesce(json_agg(_pgrst_t), '[]')::text AS body")
    assert 'FROM "public"."items" AS "items" WHERE "items"."id" > %(p1)s' in sql
    assert params == {"p1": "1", "p2": 5, "p3": 10}


def test_insert_upsert_update_delete_shapes() -> None:
    stmt, params = insert_sql(
        REL,
        [{"id": 1, "name": "a"}],
        ["id", "name"],
        resolution="merge-duplicates",
        on_conflict=[],
        returning=Returning(parse_select(None)),
    )
    sql = text(stmt)
    assert 'json_populate_recordset(NULL::"public"."items", %(p1)s::json)' in sql
    assert 'ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id", "name" = EXCLUDED."name"' in sql
    assert params["p1"] == '[{"id": 1, "name": "a"}]'

    stmt, _ = insert_sql(
        REL, [{"name": "a"}], ["name"], resolution="ignore-duplicates", on_conflict=["name"],
        returning=None,
    )  # fmt: skip
    assert 'ON CONFLICT ("name") DO NOTHING RETURNING' in text(stmt)
    assert "_pgrst_new" not in text(stmt)  # only an upsert that updates counts insertions
    stmt, _ = insert_sql(
        REL, [{"id": 1, "name": "a"}], ["id", "name"], resolution="merge-duplicates",
        on_conflict=[], returning=None,
    )  # fmt: skip
    assert '("_pgrst_target".xmax = 0) AS _pgrst_new' in text(stmt)

    with pytest.raises(ApiError) as unknown:
        insert_sql(REL, [{"x": 1}], ["x"], resolution=None, on_conflict=[], returning=None)
    assert unknown.value.code == "PGRST204"

    stmt, _ = update_sql(
        REL, {"name": "b"}, ["name"], [parse_condition("id", "eq.1")], returning=None
    )
    assert 'AS (UPDATE "public"."items" AS "_pgrst_target" SET "name" = ' in text(stmt)
    stmt, _ = delete_sql(REL, [parse_condition("id", "eq.1")], returning=None)
    assert (
        '(DELETE FROM "public"."items" AS "_pgrst_target" WHERE "_pgrst_target"."id" = %(p1)s '
        'RETURNING "_pgrst_target".*)'
    ) in text(stmt)


def test_missing_default_uses_default_keyword() -> None:
    stmt, _ = insert_sql(
        REL,
        [{"id": 1, "name": "a"}, {"id": 2}],
        ["id", "name"],
        resolution=None,
        on_conflict=[],
        returning=None,
        missing_default=True,
    )
    assert "DEFAULT)" in text(stmt)


def test_status_mapping() -> None:
    assert pg_status("42501", anonymous=True) == 401
    assert pg_status("42501", anonymous=False) == 403
    assert pg_status("23505", anonymous=False) == 409
    assert pg_status("25006", anonymous=False) == 405
    assert pg_status("08006", anonymous=False) == 503
    assert pg_status("22P02", anonymous=False) == 400
