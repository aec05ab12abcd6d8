"""The statements the PostgREST subset runs, composed from parsed requests.

Reads and representations are aggregated to JSON inside PostgreSQL
(``json_agg``), as PostgREST does, so values (timestamps, numerics, arrays,
JSON) come out exactly as PostgreSQL renders them. Payloads go in as one bound
JSON parameter and are expanded with ``json_populate_recordset`` against the
table's row type, so PostgreSQL converts each value to its column's type.

Example:
    >>> from hybridkit.local.rest.parsing import parse_select
    >>> rel = Relation("public", "items", "r", {"id": "bigint", "name": "text"}, ("id",))
    >>> stmt, params = read_sql(rel, parse_select("id"), [], (), limit=10, offset=20)
    >>> "LIMIT %(p1)s OFFSET %(p2)s" in stmt.as_string(None)
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from hybridkit.local.rest.catalog import Argument, Function
from hybridkit.local.rest.compose import (
    Params,
    Relation,
    aggregates,
    page_sql,
    select_list_sql,
    where_sql,
)
from hybridkit.local.rest.embed import EmbedPlan, embed_sql
from hybridkit.local.rest.errors import ApiError
from hybridkit.local.rest.parsing import Condition, OrderTerm, SelectItem

__all__ = [
    "RpcCall",
    "count_sql",
    "delete_sql",
    "insert_sql",
    "read_sql",
    "rpc_sql",
    "update_sql",
]

TARGET = sql.Identifier("_pgrst_target")
SOURCE = sql.Identifier("_pgrst_source")
BODY = sql.Identifier("_pgrst_body")
ARGS = sql.Identifier("_pgrst_args")
RESULT = sql.Identifier("_pgrst_f")
SCALAR = sql.Identifier("_pgrst_scalar")
_WRITTEN = sql.Identifier("_pgrst_written")
_AGG = sql.SQL(
    "SELECT coalesce(json_agg(_pgrst_t), '[]')::text AS body, count(*) AS n FROM ({}) _pgrst_t"
)


_page = page_sql


def read_sql(
    rel: Relation,
    items: Sequence[SelectItem],
    conditions: Sequence[Condition],
    order: Sequence[OrderTerm],
    *,
    limit: int | None,
    offset: int | None,
    embeds: Sequence[EmbedPlan] = (),
) -> tuple[sql.Composed, dict[str, Any]]:
    """``GET /table``: one JSON array and its row count."""
    params = Params()
    # Named as the table, as PostgREST names it (an execution plan shows it).
    alias = sql.Identifier(rel.name)
    source = sql.SQL("{} AS {}").format(rel.ident, alias)
    shape = _Shape(items, conditions, order, limit, offset, embeds)
    return _AGG.format(_rows(source, alias, rel, shape, params)), params.values


@dataclass(frozen=True)
class _Shape:
    """What a read selects: items, filters, order, page and embeds."""

    items: Sequence[SelectItem]
    conditions: Sequence[Condition] = ()
    order: Sequence[OrderTerm] = ()
    limit: int | None = None
    offset: int | None = None
    embeds: Sequence[EmbedPlan] = ()


def _rows(
    source: sql.Composable, qualifier: sql.Identifier, rel: Relation, shape: _Shape, params: Params
) -> sql.Composed:
    """The selected rows of ``source`` (a table, or a function call) with their embeds."""
    items, conditions, order, embeds = shape.items, shape.conditions, shape.order, shape.embeds
    columns = select_list_sql(items, rel, qualifier, params) if items else sql.SQL("")
    joins: sql.Composable = sql.SQL("")
    where = where_sql(conditions, rel, qualifier, params)
    groups: list[sql.Composable] = []
    if embeds:
        extra = embed_sql(embeds, qualifier, params, grouped=aggregates(items, rel))
        columns = sql.SQL(", ").join(([columns] if items else []) + extra.columns)
        joins = extra.joins
        where = sql.SQL(" AND ").join([where, *extra.filters])
        groups = extra.groups
    return sql.SQL("SELECT {} FROM {}{} WHERE {}{}").format(
        columns,
        source,
        joins,
        where,
        _page(params, order, rel, qualifier, shape.limit, shape.offset, items, groups),
    )


def count_sql(
    rel: Relation, conditions: Sequence[Condition], embeds: Sequence[EmbedPlan] = ()
) -> tuple[sql.Composed, dict[str, Any]]:
    """``Prefer: count=exact``: every row the filters match, ignoring limit and offset.

    Embeds that can drop a row (``!inner``, ``rel=is.null``) take part.
    """
    params = Params()
    alias = sql.Identifier(rel.name)
    source = sql.SQL("{} AS {}").format(rel.ident, alias)
    return _count(source, alias, rel, conditions, embeds, params), params.values


def _count(
    source: sql.Composable,
    qualifier: sql.Identifier,
    rel: Relation,
    conditions: Sequence[Condition],
    embeds: Sequence[EmbedPlan],
    params: Params,
) -> sql.Composed:
    extra = embed_sql(embeds, qualifier, params, filtering_only=True)
    where = sql.SQL(" AND ").join([where_sql(conditions, rel, qualifier, params), *extra.filters])
    return sql.SQL("SELECT count(*) AS total FROM {}{} WHERE {}").format(source, extra.joins, where)


def _write(
    statement: sql.Composable,
    params: Params,
    rel: Relation,
    returning: Returning | None,
    *,
    upsert: bool = False,
) -> tuple[sql.Composed, dict[str, Any]]:
    """A write as it runs, answering ``body`` (or NULL), ``n`` and ``inserted``.

    ``inserted`` counts the rows an upsert inserted rather than updated (``xmax = 0``),
    since PostgREST answers 200 to an upsert that only updated; other writes leave it NULL.
    """
    inserted: sql.Composable
    if upsert:
        mutation = sql.SQL(
            "WITH {w} AS ({} RETURNING {t} AS _pgrst_row, ({t}.xmax = 0) AS _pgrst_new), "
            "{s} AS (SELECT ({w}._pgrst_row).* FROM {w})"
        ).format(statement, w=_WRITTEN, t=TARGET, s=SOURCE)
        inserted = sql.SQL("(SELECT count(*) FILTER (WHERE _pgrst_new) FROM {})").format(_WRITTEN)
    else:
        mutation = sql.SQL("WITH {} AS ({} RETURNING {}.*)").format(SOURCE, statement, TARGET)
        inserted = sql.SQL("NULL::int8")
    if returning is None:
        stmt = sql.SQL("{} SELECT NULL AS body, count(*) AS n, {} AS inserted FROM {}")
        return stmt.format(mutation, inserted, SOURCE), params.values
    shape = _Shape(returning.items, order=returning.order, embeds=returning.embeds)
    inner = _rows(SOURCE, SOURCE, rel, shape, params)
    stmt = sql.SQL(
        "{} SELECT coalesce(json_agg(_pgrst_t), '[]')::text AS body, count(*) AS n, "
        "{} AS inserted FROM ({}) _pgrst_t"
    )
    return stmt.format(mutation, inserted, inner), params.values


@dataclass(frozen=True)
class Returning:
    """What a mutation gives back: ``None`` for ``return=minimal``, else select and order.

    ``embeds`` are the resolved embedded resources of ``select`` (see
    :func:`hybridkit.local.rest.embed.plan_embeds`).
    """

    items: Sequence[SelectItem]
    order: Sequence[OrderTerm] = ()
    embeds: Sequence[EmbedPlan] = ()


def _given_or_default(
    rel: Relation, record: sql.Composable, column: str, row: Mapping[str, Any]
) -> sql.Composable:
    """One value of a ``missing=default`` row: the object's, else the column's DEFAULT.

    As PostgREST, which puts each object over an object of the defaults, the default is
    evaluated for every row, given or not: a sequence advances for a row that brings its id.
    """
    if column not in row:
        return sql.SQL("DEFAULT")
    given = sql.SQL("({}).{}").format(record, sql.Identifier(column))
    default = rel.defaults.get(column)
    if default is None:
        return given
    # The default's text is the catalog's own (pg_get_expr), not the request's.
    return sql.SQL("CASE WHEN ({}) IS NULL THEN {} ELSE {} END").format(
        sql.SQL(default), given, given
    )


def insert_sql(
    rel: Relation,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    resolution: str | None,
    on_conflict: Sequence[str],
    returning: Returning | None,
    missing_default: bool = False,
) -> tuple[sql.Composed, dict[str, Any]]:
    """``POST /table``: insert, or upsert with ``ON CONFLICT``."""
    for column in list(columns) + list(on_conflict):
        if column not in rel.columns:
            raise ApiError.of("column_not_found", column=column, table=rel.name)
    params = Params()
    if not columns:
        if len(rows) != 1:
            raise ApiError.invalid_body("All object keys must match")
        body: sql.Composable = sql.SQL("DEFAULT VALUES")
        column_list: sql.Composable = sql.SQL("")
    elif missing_default:
        # Prefer: missing=default — a key an object lacks takes the column's DEFAULT.
        column_list = sql.SQL(" ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        tuples: list[sql.Composable] = []
        for row in rows:
            record = sql.SQL("json_populate_record(NULL::{}, {}::json)").format(
                rel.ident, params.bind(json.dumps(row))
            )
            values = [_given_or_default(rel, record, c, row) for c in columns]
            tuples.append(sql.SQL("({})").format(sql.SQL(", ").join(values)))
        body = sql.SQL("VALUES {}").format(sql.SQL(", ").join(tuples))
    else:
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        column_list = sql.SQL(" ({})").format(names)
        payload = params.bind(json.dumps(list(rows)))
        body = sql.SQL("SELECT {} FROM json_populate_recordset(NULL::{}, {}::json) AS {}").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(BODY, sql.Identifier(c)) for c in columns),
            rel.ident,
            payload,
            BODY,
        )
    conflict: sql.Composable = sql.SQL("")
    conflict_updates = False
    if resolution is not None:
        target = list(on_conflict) or list(rel.pk)
        target_sql: sql.Composable = sql.SQL("")
        if target:
            target_sql = sql.SQL(" ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in target)
            )
        if resolution == "ignore-duplicates" or not columns:
            conflict = sql.SQL(" ON CONFLICT{} DO NOTHING").format(target_sql)
        else:
            if not target:
                raise ApiError(
                    400,
                    "42P10",
                    "there is no unique or exclusion constraint matching the ON CONFLICT "
                    "specification",
                    hint="give on_conflict=<columns>, or add a primary key",
                )
            updates = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in columns
            )
            conflict = sql.SQL(" ON CONFLICT{} DO UPDATE SET {}").format(target_sql, updates)
            conflict_updates = True
    insert = sql.SQL("INSERT INTO {} AS {}{} {}{}").format(
        rel.ident, TARGET, column_list, body, conflict
    )
    upsert = resolution == "merge-duplicates" and conflict_updates
    return _write(insert, params, rel, returning, upsert=upsert)


def update_sql(
    rel: Relation,
    patch: Mapping[str, Any],
    columns: Sequence[str],
    conditions: Sequence[Condition],
    *,
    returning: Returning | None,
) -> tuple[sql.Composed, dict[str, Any]]:
    """``PATCH /table?filters``: set the payload's columns on the matching rows."""
    for column in columns:
        if column not in rel.columns:
            raise ApiError.of("column_not_found", column=column, table=rel.name)
    params = Params()
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}.{}").format(sql.Identifier(c), BODY, sql.Identifier(c)) for c in columns
    )
    payload = params.bind(json.dumps(dict(patch)))
    update = sql.SQL(
        "UPDATE {} AS {} SET {} FROM json_populate_record(NULL::{}, {}::json) AS {} WHERE {}"
    ).format(
        rel.ident,
        TARGET,
        assignments,
        rel.ident,
        payload,
        BODY,
        where_sql(conditions, rel, TARGET, params),
    )
    return _write(update, params, rel, returning)


def delete_sql(
    rel: Relation,
    conditions: Sequence[Condition],
    *,
    returning: Returning | None,
) -> tuple[sql.Composed, dict[str, Any]]:
    """``DELETE /table?filters``."""
    params = Params()
    delete = sql.SQL("DELETE FROM {} AS {} WHERE {}").format(
        rel.ident, TARGET, where_sql(conditions, rel, TARGET, params)
    )
    return _write(delete, params, rel, returning)


@dataclass(frozen=True)
class RpcCall:
    """How to call a function: its arguments as JSON (POST) or as text (GET).

    ``use_single`` passes the whole body as the function's one parameter: the JSON
    document (``single_json``) or, for a text/xml/bytea parameter, the raw body (``raw``).
    """

    function: Function
    json_args: Mapping[str, Any] | None = None  # POST body, named
    text_args: Mapping[str, str] | None = None  # GET query string, named
    single_json: Any = None
    use_single: bool = False
    raw: str | bytes | None = None


def _argument(arg: Argument, value: sql.Composable) -> sql.Composable:
    """``[VARIADIC] name => value``, or the value alone for an unnamed parameter."""
    variadic = sql.SQL("VARIADIC ") if arg.variadic else sql.SQL("")
    if not arg.name:
        return sql.SQL("{}{}").format(variadic, value)
    return sql.SQL("{}{} => {}").format(variadic, sql.Identifier(arg.name), value)


def _call(call: RpcCall, params: Params) -> tuple[sql.Composable, sql.Composable]:
    """The function call expression, and the FROM items it needs (may be empty)."""
    fn = call.function
    name = sql.Identifier(fn.schema, fn.name)
    if call.use_single:
        arg = fn.args[0]
        cast = sql.Identifier(arg.type_schema, arg.type_name)
        if call.raw is not None:
            value = sql.SQL("{}::{}").format(params.bind(call.raw), cast)
        else:
            value = sql.SQL("{}::json::{}").format(params.bind(json.dumps(call.single_json)), cast)
        return sql.SQL("{}({})").format(name, value), sql.SQL("")
    by_name = {a.name: a for a in fn.args}
    pieces: list[sql.Composable] = []
    sources: sql.Composable = sql.SQL("")
    if call.json_args:
        # json_to_record converts each value with the parameter's own type; its columns
        # are numbered, so an unnamed ("") parameter works too.
        used = [by_name[key] for key in call.json_args]
        columns = [sql.Identifier(f"a{i}") for i in range(len(used))]
        definitions = sql.SQL(", ").join(
            sql.SQL("{} {}").format(column, sql.Identifier(a.type_schema, a.type_name))
            for column, a in zip(columns, used, strict=True)
        )
        document = {f"a{i}": call.json_args[a.name] for i, a in enumerate(used)}
        sources = sql.SQL("json_to_record({}::json) AS {}({}), ").format(
            params.bind(json.dumps(document)), ARGS, definitions
        )
        pieces = [
            _argument(a, sql.SQL("{}.{}").format(ARGS, column))
            for column, a in zip(columns, used, strict=True)
        ]
    elif call.text_args:
        for key, text in call.text_args.items():
            a = by_name[key]
            value = sql.SQL("{}::{}").format(
                params.bind(text), sql.Identifier(a.type_schema, a.type_name)
            )
            pieces.append(_argument(a, value))
    return sql.SQL("{}({})").format(name, sql.SQL(", ").join(pieces)), sources


def rpc_sql(
    call: RpcCall,
    items: Sequence[SelectItem],
    conditions: Sequence[Condition],
    order: Sequence[OrderTerm],
    *,
    limit: int | None,
    offset: int | None,
    count: bool = False,
    embeds: Sequence[EmbedPlan] = (),
) -> tuple[sql.Composed, dict[str, Any]]:
    """``/rpc/fn``: a scalar as JSON, or rows aggregated like a table read (with embeds).

    With ``count`` the statement returns ``total`` (every row the filters match).
    """
    fn = call.function
    params = Params()
    expr, sources = _call(call, params)
    if not fn.returns_set and not fn.returns_rows:
        if fn.returns_void:
            void = sql.SQL("SELECT {} FROM {}(SELECT 1) _pgrst_one")
            return void.format(expr, sources), params.values
        scalar = sql.SQL("SELECT to_json({})::text AS body, 1 AS n FROM {}(SELECT 1) _pgrst_one")
        return scalar.format(expr, sources), params.values
    if not fn.returns_rows:
        # SETOF a scalar: a JSON array of the values.
        if conditions or order or any(not i.star for i in items):
            raise ApiError.parse(
                "filters, order and select need a function that returns rows",
                f"{fn.schema}.{fn.name} returns a set of {fn.return_type}",
            )
        page = _page(params, (), fn.relation(), RESULT, limit, offset)
        if count:
            return sql.SQL("SELECT count(*) AS total FROM {}{} AS {}({})").format(
                sources, expr, RESULT, SCALAR
            ), params.values
        inner = sql.SQL("SELECT {}.{} AS v FROM {}{} AS {}({}){}").format(
            RESULT, SCALAR, sources, expr, RESULT, SCALAR, page
        )
        aggregate = sql.SQL(
            "SELECT coalesce(json_agg(_pgrst_t.v), '[]')::text AS body, count(*) AS n "
            "FROM ({}) _pgrst_t"
        )
        return aggregate.format(inner), params.values
    rel = fn.relation()
    source = sql.SQL("{}{} AS {}").format(sources, expr, RESULT)
    if count:
        return _count(source, RESULT, rel, conditions, embeds, params), params.values
    shape = _Shape(items, conditions, order, limit, offset, embeds)
    return _AGG.format(_rows(source, RESULT, rel, shape, params)), params.values
