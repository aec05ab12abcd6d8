"""Statement splitting (as the Supabase CLI does), fingerprints and inlined parameters."""

from __future__ import annotations

import pytest

from hybridkit.database.sqltext import canonical, fingerprint, inline_params, split_statements


def test_split_keeps_quoted_semicolons_together() -> None:
    sql = """
    -- leading comment
    create table a (x text default ';');
    insert into "we;ird" values (E'it\\'s;'), ('a''b;c');
    do $$ begin perform 1; end $$;
    create function f() returns text language sql as $body$ select ';' $body$;
    /* block; /* nested; */ still comment; */ select 2;
    select 3
    """
    assert split_statements(sql) == [
        "-- leading comment\n    create table a (x text default ';')",
        "insert into \"we;ird\" values (E'it\\'s;'), ('a''b;c')",
        "do $$ begin perform 1; end $$",
        "create function f() returns text language sql as $body$ select ';' $body$",
        "/* block; /* nested; */ still comment; */ select 2",
        "select 3",
    ]


def test_split_begin_atomic_and_parentheses() -> None:
    sql = (
        "create function g() returns int language sql begin atomic "
        "select 1; select case when true then 2 end; end;"
        "create rule r as on insert to t do also "
        "(insert into u values (1); insert into v values (2));"
        "select 4;"
    )
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[0].endswith("end")
    assert statements[1].startswith("create rule")


def test_split_drops_empty_statements() -> None:
    assert split_statements(";;  ;\n") == []
    assert split_statements("select 1;;") == ["select 1"]


def test_fingerprint_ignores_comments_and_whitespace_only() -> None:
    original = "create table a (x int);\ninsert into a values (1);"
    reformatted = "-- a comment\ncreate  table a ( x int ) ;\n\n  insert into a values (1) ; -- end"
    assert fingerprint(original) == fingerprint(reformatted)
    # One statement holding everything (how the MCP server stores it) matches the split form.
    assert fingerprint([original]) == fingerprint(split_statements(original))
    assert fingerprint(original) != fingerprint(
        "create table a (x bigint); insert into a values (1);"
    )
    # String contents are significant, including their whitespace.
    assert fingerprint("select 'a  b'") != fingerprint("select 'a b'")


def test_canonical_trailing_line_comment_does_not_swallow_the_next_statement() -> None:
    assert canonical(["select 1 -- note", "select 2"]) == "select 1\nselect 2"


def test_inline_params_quotes_values() -> None:
    assert inline_params("select %s, %s", ["it's", None]) == "select 'it''s', NULL"
    assert inline_params("select '%s', 10%%, %s", [5]) == "select '%s', 10%, 5"
    hostile = "'); drop table x; --"
    assert inline_params("select %s", [hostile]) == "select '''); drop table x; --'"
    assert inline_params("select 1", None) == "select 1"
    with pytest.raises(ValueError):
        inline_params("select %s, %s", [1])
    with pytest.raises(ValueError):
        inline_params("select %d", [1])
