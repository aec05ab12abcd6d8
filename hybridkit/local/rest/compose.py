"""SQL composition for the PostgREST subset.

Every identifier goes through :class:`psycopg.sql.Identifier` after it was found
in the catalog, every value is a bound parameter (a named placeholder), and
every keyword comes from a fixed table here. No text from the request is ever
pasted into SQL.

Values are bound untyped (psycopg sends a Python ``str`` with the ``unknown``
type), so PostgreSQL casts them to the column's type exactly as it does with
PostgREST's untyped literals: ``eq.5`` on a ``bigint``, ``cs.[1,2)`` on a range
and a date string on a ``timestamptz`` all work.

Example:
    >>> rel = Relation("public", "items", "r", {"id": "bigint", "name": "text"}, ("id",))
    >>> params = Params()
    >>> where = where_sql([parse_condition("id", "gt.5")], rel, rel.ident, params)
    >>> where.as_string(None), params.values
    ('"public"."items"."id" > %(p1)s', {'p1': '5'})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from hybridkit.local.rest.errors import ApiError
from hybridkit.local.rest.parsing import (
    Condition,
    Field,
    Filter,
    Logic,
    OrderTerm,
    SelectItem,
    parse_condition,
)

__all__ = [
    "CASTS",
    "Params",
    "Relation",
    "aggregates",
    "field_sql",
    "grouping_sql",
    "order_sql",
    "page_sql",
    "resolve_items",
    "select_list_sql",
    "where_sql",
]

_BINARY = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
    "isdistinct": "IS DISTINCT FROM",
}
_IS = {
    "null": "IS NULL",
    "not_null": "IS NOT NULL",
    "true": "IS TRUE",
    "false": "IS FALSE",
    "unknown": "IS UNKNOWN",
}
_FTS = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
# Casts allowed in ``select=col::type``: a fixed list, so no type name from the
# request reaches SQL.
CASTS = {
    "text": "text",
    "varchar": "varchar",
    "char": "char",
    "int": "integer",
    "integer": "integer",
    "int2": "smallint",
    "smallint": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "numeric": "numeric",
    "decimal": "numeric",
    "real": "real",
    "float4": "real",
    "float": "double precision",
    "float8": "double precision",
    "double precision": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "json": "json",
    "jsonb": "jsonb",
    "uuid": "uuid",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "interval": "interval",
}


@dataclass(frozen=True)
class Relation:
    """A table, view or set-returning function result, as found in the catalog.

    Attributes:
        schema: its schema.
        name: its name.
        kind: ``pg_class.relkind`` (``r``, ``v``, ``m``, ``f``, ``p``), or ``F`` for a
            function's result set.
        columns: column name -> ``format_type`` text, in table order.
        pk: the primary key's columns.
        computed: its computed fields, functions of its row type in its schema
            (``select=full_name`` calls ``schema.full_name(row)``).
        defaults: column -> its DEFAULT expression (``pg_get_expr``), for ``missing=default``.
        alias: the name the query gives it, when not its own (an embed's ``messages_1``):
            PostgreSQL's errors name it so, and PostgREST's come from PostgreSQL.
    """

    schema: str
    name: str
    kind: str
    columns: Mapping[str, str]
    pk: tuple[str, ...] = ()
    computed: tuple[str, ...] = ()
    alias: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def label(self) -> str:
        return self.name

    def require(self, column: str) -> None:
        if column not in self.columns and column not in self.computed:
            raise ApiError.of("undefined_column", column=column, table=self.alias or self.name)


class Params:
    """Named bound parameters (``%(p1)s``), so composition order never matters."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> sql.Placeholder:
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return sql.Placeholder(name)


def field_sql(
    field: Field, rel: Relation, qualifier: sql.Composable, params: Params
) -> sql.Composable:
    """``qualifier.column`` followed by its JSON steps (keys bound, indexes as integers)."""
    rel.require(field.column)
    expr: sql.Composable
    if field.column in rel.columns:
        expr = sql.SQL("{}.{}").format(qualifier, sql.Identifier(field.column))
    else:
        # A computed field: the function of the row, as PostgREST calls it. The cast
        # names the row type for a write's representation, whose rows are records.
        function = sql.Identifier(rel.schema, field.column)
        expr = sql.SQL("{}({}::{})").format(function, qualifier, rel.ident)
    for step in field.path:
        arrow = sql.SQL("->>") if step.arrow == "->>" else sql.SQL("->")
        if isinstance(step.key, int):
            key: sql.Composable = sql.SQL("{}::integer").format(params.bind(step.key))
        else:
            key = sql.SQL("{}::text").format(params.bind(step.key))
        expr = sql.SQL("({} {} {})").format(expr, arrow, key)
    return expr


def _filter_sql(
    cond: Filter, rel: Relation, qualifier: sql.Composable, params: Params
) -> sql.Composable:
    target = field_sql(cond.field, rel, qualifier, params)
    op = cond.op
    value = cond.value
    result: sql.Composable
    if op == "is":
        assert isinstance(value, str)
        result = sql.SQL("{} {}").format(target, sql.SQL(_IS[value]))
    elif op == "in":
        assert isinstance(value, tuple)
        if not value:
            result = sql.SQL("FALSE")
        else:
            items = sql.SQL(", ").join(params.bind(v) for v in value)
            result = sql.SQL("{} IN ({})").format(target, items)
    elif op in _FTS:
        assert isinstance(value, str)
        function = sql.SQL(_FTS[op])
        if cond.modifier:
            query = sql.SQL("{}({}::regconfig, {})").format(
                function, params.bind(cond.modifier), params.bind(value)
            )
        else:
            query = sql.SQL("{}({})").format(function, params.bind(value))
        result = sql.SQL("{} @@ {}").format(target, query)
    else:
        operator = sql.SQL(_BINARY[op])
        if cond.modifier in ("any", "all"):
            assert isinstance(value, tuple)
            if op in ("like", "ilike"):
                value = tuple(None if v is None else v.replace("*", "%") for v in value)
            items = sql.SQL(", ").join(params.bind(v) for v in value)
            quantifier = sql.SQL("ANY" if cond.modifier == "any" else "ALL")
            result = sql.SQL("{} {} {}(ARRAY[{}])").format(target, operator, quantifier, items)
        else:
            assert isinstance(value, str)
            if op in ("like", "ilike"):
                value = value.replace("*", "%")
            result = sql.SQL("{} {} {}").format(target, operator, params.bind(value))
    if cond.negate:
        return sql.SQL("NOT ({})").format(result)
    return result


def condition_sql(
    cond: Condition, rel: Relation, qualifier: sql.Composable, params: Params
) -> sql.Composable:
    """One filter or one logic group."""
    if isinstance(cond, Filter):
        return _filter_sql(cond, rel, qualifier, params)
    joiner = sql.SQL(" AND " if cond.op == "and" else " OR ")
    if not cond.children:
        inner: sql.Composable = sql.SQL("TRUE" if cond.op == "and" else "FALSE")
    else:
        inner = joiner.join(
            sql.SQL("({})").format(condition_sql(child, rel, qualifier, params))
            for child in cond.children
        )
    if cond.negate:
        return sql.SQL("NOT ({})").format(inner)
    return sql.SQL("({})").format(inner) if isinstance(cond, Logic) else inner


def where_sql(
    conditions: Sequence[Condition],
    rel: Relation,
    qualifier: sql.Composable,
    params: Params,
) -> sql.Composable:
    """All conditions ANDed (``TRUE`` when there are none)."""
    if not conditions:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(condition_sql(c, rel, qualifier, params) for c in conditions)


def _cast(expr: sql.Composable, cast: str | None) -> sql.Composable:
    if cast is None:
        return expr
    name = CASTS.get(cast.lower())
    if name is None:
        raise ApiError.parse(
            f'"failed to parse select parameter (::{cast})"',
            f"the local stack casts only to {', '.join(sorted(CASTS))}",
        )
    return sql.SQL("CAST({} AS {})").format(expr, sql.SQL(name))


def resolve_items(items: Sequence[SelectItem], rel: Relation) -> list[SelectItem]:
    """Items as they run: a bare ``count`` of a relation without such a column is ``count()``."""
    resolved: list[SelectItem] = []
    for item in items:
        if (
            item.field is not None
            and item.aggregate is None
            and item.field == Field("count")
            and "count" not in rel.columns
            and "count" not in rel.computed
        ):
            item = SelectItem(None, item.alias, item.cast, "count")
        resolved.append(item)
    return resolved


def _aggregated(
    item: SelectItem, rel: Relation, qualifier: sql.Composable, params: Params
) -> sql.Composable:
    assert item.aggregate is not None
    if item.field is None:
        if item.aggregate != "count":
            raise ApiError.parse(
                f'"failed to parse select parameter ({item.aggregate}())"',
                f"{item.aggregate}() needs a column: col.{item.aggregate}()",
            )
        return sql.SQL("count(*)")
    value = _cast(field_sql(item.field, rel, qualifier, params), item.field_cast)
    return sql.SQL("{}({})").format(sql.SQL(item.aggregate), value)


def select_list_sql(
    items: Sequence[SelectItem],
    rel: Relation,
    qualifier: sql.Composable,
    params: Params,
) -> sql.Composable:
    """The select list: ``qualifier.*``, ``expr AS "alias"`` or ``agg(expr) AS "alias"`` items.

    With an aggregate, ``*`` is spelled out so that :func:`grouping_sql` can name
    every other item by its position.
    """
    items = resolve_items(items, rel)
    grouped = any(item.aggregate for item in items)
    parts: list[sql.Composable] = []
    for item in items:
        if item.star:
            if grouped:
                parts += [
                    sql.SQL("{}.{}").format(qualifier, sql.Identifier(c)) for c in rel.columns
                ]
            else:
                parts.append(sql.SQL("{}.*").format(qualifier))
            continue
        if item.aggregate is not None:
            expr = _aggregated(item, rel, qualifier, params)
            alias = item.alias or item.aggregate
        else:
            assert item.field is not None
            expr = field_sql(item.field, rel, qualifier, params)
            alias = item.alias or item.field.default_alias
        parts.append(sql.SQL("{} AS {}").format(_cast(expr, item.cast), sql.Identifier(alias)))
    return sql.SQL(", ").join(parts)


def aggregates(items: Sequence[SelectItem], rel: Relation) -> bool:
    """Whether the select list aggregates (so its other items group)."""
    return any(item.aggregate for item in resolve_items(items, rel))


def grouping_sql(
    items: Sequence[SelectItem], rel: Relation, extra: Sequence[sql.Composable] = ()
) -> sql.Composable:
    """`` GROUP BY`` the positions of the items that are not aggregates, when some are.

    ``extra`` are more expressions to group by (a spread embed's plain columns).
    """
    items = resolve_items(items, rel)
    if not any(item.aggregate for item in items):
        return sql.SQL("")
    positions: list[int] = []
    position = 0
    for item in items:
        width = len(rel.columns) if item.star else 1
        if item.aggregate is None:
            positions += range(position + 1, position + width + 1)
        position += width
    terms: list[sql.Composable] = [sql.Literal(p) for p in positions]
    terms += extra
    if not terms:
        return sql.SQL("")
    return sql.SQL(" GROUP BY {}").format(sql.SQL(", ").join(terms))


def order_sql(
    terms: Sequence[OrderTerm],
    rel: Relation,
    qualifier: sql.Composable,
    params: Params,
) -> sql.Composable:
    """``ORDER BY`` items (empty when there are no terms)."""
    parts: list[sql.Composable] = []
    for term in terms:
        expr = field_sql(term.field, rel, qualifier, params)
        direction = sql.SQL(" DESC" if term.descending else " ASC")
        nulls = sql.SQL("")
        if term.nulls == "first":
            nulls = sql.SQL(" NULLS FIRST")
        elif term.nulls == "last":
            nulls = sql.SQL(" NULLS LAST")
        parts.append(sql.Composed([expr, direction, nulls]))
    return sql.SQL(", ").join(parts)


def page_sql(
    params: Params,
    order: Sequence[OrderTerm],
    rel: Relation,
    qualifier: sql.Composable,
    limit: int | None,
    offset: int | None,
    items: Sequence[SelectItem] = (),
    groups: Sequence[sql.Composable] = (),
) -> sql.Composable:
    """`` GROUP BY ... ORDER BY ... LIMIT ... OFFSET ...`` (each part only when asked for).

    ``items`` is the select list, grouped by its plain items (and ``groups``) when it
    aggregates.
    """
    parts: list[sql.Composable] = [grouping_sql(items, rel, groups)]
    if order:
        parts.append(sql.SQL(" ORDER BY {}").format(order_sql(order, rel, qualifier, params)))
    if limit is not None:
        parts.append(sql.SQL(" LIMIT {}").format(params.bind(limit)))
    if offset:
        parts.append(sql.SQL(" OFFSET {}").format(params.bind(offset)))
    return sql.Composed(parts)


def filters_from_query(
    items: Sequence[tuple[str, str]], reserved: frozenset[str]
) -> list[Condition]:
    """The filters among query items: every key that is not a reserved parameter."""
    from hybridkit.local.rest.parsing import parse_logic

    conditions: list[Condition] = []
    for key, value in items:
        if key in reserved:
            continue
        if key in ("or", "and", "not.or", "not.and"):
            conditions.append(parse_logic(key, value))
        elif "." in key and not key.startswith('"'):
            # ``rel.col``, ``rel.order``, ``rel.limit``: options for an embedded resource,
            # which callers of this function (``/rpc``) do not have.
            raise ApiError.of("not_embedded", resource=key.split(".", 1)[0])
        else:
            conditions.append(parse_condition(key, value))
    return conditions
