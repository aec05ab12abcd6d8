"""Resource embedding (``select=id,customer:customers(name),items(*)``) as PostgREST does it.

Each embedded resource becomes a ``LATERAL`` subquery correlated with its parent
row through the foreign key the relationship stands for:

* to-one (many-to-one, one-to-one): ``row_to_json`` of the matching row, or
  ``null`` when there is none;
* to-many (one-to-many, many-to-many through a junction table): ``json_agg`` of
  the matching rows, ``coalesce``-d to ``[]``;
* ``!inner`` turns the ``LEFT JOIN LATERAL`` into an ``INNER JOIN LATERAL`` that
  drops parents without a match; ``rel=is.null`` / ``rel=not.is.null`` filter the
  parent on the same test;
* ``...rel(cols)`` (spread) puts the columns into the parent object (a to-many's as arrays);
* a computed relationship (a function of the parent row) is a lateral call of it.

Options for an embedded resource come from query keys with a path:
``items.qty=gt.1``, ``items.or=(...)``, ``items.order=id.desc``, ``items.limit=2``,
``items.offset=1``, ``a.b.col=eq.x`` for a nested one. They filter, order and
page the embedded rows only (with ``!inner``, an emptied embed drops its parent).

The subqueries run in the request's transaction, under the JWT's role, so
row-level security applies to embedded tables exactly as to the root table.
Identifiers come from the catalog (``Relation``/``Relationship``) and are quoted;
values are bound parameters, through :mod:`hybridkit.local.rest.compose`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

from hybridkit.local.rest.catalog import find_relation
from hybridkit.local.rest.compose import (
    Params,
    Relation,
    aggregates,
    page_sql,
    resolve_items,
    select_list_sql,
    where_sql,
)
from hybridkit.local.rest.errors import ApiError
from hybridkit.local.rest.parsing import (
    Condition,
    Embed,
    Filter,
    OrderTerm,
    non_negative_int,
    parse_condition,
    parse_logic,
    parse_order,
)
from hybridkit.local.rest.relationships import Relationship, find_relationship, load_relationships

__all__ = ["EmbedPlan", "EmbedSql", "embed_sql", "plan_embeds", "split_embed_options"]

_ROW = sql.Identifier("_pgrst_r")
_VALUE = sql.Identifier("_pgrst_v")
_LOGIC = ("or", "and", "not.or", "not.and")


@dataclass
class EmbedPlan:
    """One embedded resource, resolved against the catalog, with its own options."""

    embed: Embed
    rel: Relation
    relationship: Relationship
    index: int
    children: list[EmbedPlan] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None
    null_filter: bool | None = None  # True: keep parents without a match; False: with one

    @property
    def qualifier(self) -> sql.Identifier:
        # PostgREST's alias (``cities_1``), which an execution plan shows.
        return sql.Identifier(self.alias)

    @property
    def alias(self) -> str:
        return f"{self.rel.name}_{self.index}"

    @property
    def join_alias(self) -> sql.Identifier:
        return sql.Identifier(f"_pgrst_e{self.index}")

    @property
    def inner(self) -> bool:
        return self.embed.join == "inner"

    @property
    def empty(self) -> bool:
        """Nothing selected here or below: the embed only filters and adds no key."""
        return not self.embed.items and all(child.empty for child in self.children)

    def walk(self) -> Iterator[EmbedPlan]:
        yield self
        for child in self.children:
            yield from child.walk()


def split_embed_options(
    items: Sequence[tuple[str, str]], reserved: frozenset[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Query items for the root (filters, reserved) and for embedded resources (``rel.x``)."""
    root: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for key, value in items:
        if key in reserved or key in _LOGIC or key.startswith('"') or "." not in key:
            root.append((key, value))
        else:
            options.append((key, value))
    return root, options


async def plan_embeds(
    conn: AsyncConnection[DictRow],
    schema: str,
    root: Relation,
    embeds: Sequence[Embed],
    options: Sequence[tuple[str, str]],
    conditions: Sequence[Condition],
) -> tuple[list[EmbedPlan], list[Condition]]:
    """Resolve ``select``'s embeds, attach their options, and take ``rel=is.null`` filters.

    Returns the plans and the root's remaining conditions.

    Raises:
        ApiError: PGRST200/PGRST201 (no or several relationships), PGRST108 (an
            option for a resource that is not embedded), PGRST119, PGRST120.
    """
    if not embeds:
        if options:
            raise ApiError.of("not_embedded", resource=options[0][0].split(".", 1)[0])
        return [], list(conditions)
    relationships = await load_relationships(conn, schema)
    counter = itertools.count(1)

    async def build(parent: Relation, embed: Embed) -> EmbedPlan:
        relationship = find_relationship(
            relationships, schema, parent.name, embed.target, embed.hint
        )
        target = await find_relation(conn, schema, relationship.foreign_table)
        if target is None:  # dropped since the relationships were read
            raise ApiError.of("table_not_found", schema=schema, name=relationship.foreign_table)
        plan = EmbedPlan(embed, target, relationship, next(counter))
        for child in embed.embeds:
            plan.children.append(await build(target, child))
        return plan

    plans = [await build(root, embed) for embed in embeds]
    for key, value in options:
        _apply_option(plans, key, value)
    remaining = _take_null_filters(plans, conditions)
    for plan in plans:
        for node in plan.walk():
            node.conditions = _take_null_filters(node.children, node.conditions)
    return plans, remaining


def _apply_option(plans: Sequence[EmbedPlan], key: str, value: str) -> None:
    segments = key.split(".")
    last = segments[-1]
    if last in ("or", "and"):
        negate = len(segments) >= 3 and segments[-2] == "not"
        node = _find(plans, segments[:-2] if negate else segments[:-1])
        node.conditions.append(parse_logic(("not." if negate else "") + last, value))
    elif last == "order":
        _find(plans, segments[:-1]).order = parse_order(value)
    elif last == "limit":
        _find(plans, segments[:-1]).limit = non_negative_int("limit", {"limit": value})
    elif last == "offset":
        _find(plans, segments[:-1]).offset = non_negative_int("offset", {"offset": value})
    else:
        _find(plans, segments[:-1]).conditions.append(parse_condition(last, value))


def _find(plans: Sequence[EmbedPlan], path: Sequence[str]) -> EmbedPlan:
    """The embed a path names, by target or alias at each level (as PostgREST matches)."""
    nodes = plans
    found: EmbedPlan | None = None
    for name in path:
        found = next((p for p in nodes if name in (p.embed.target, p.embed.alias)), None)
        if found is None:
            raise ApiError.of("not_embedded", resource=name)
        nodes = found.children
    if found is None:
        raise ApiError.of("not_embedded", resource="")
    return found


def _take_null_filters(
    children: Sequence[EmbedPlan], conditions: Sequence[Condition]
) -> list[Condition]:
    """Move ``child=is.null`` / ``child=not.is.null`` from the conditions onto the child."""
    kept: list[Condition] = []
    for cond in conditions:
        if isinstance(cond, Filter) and not cond.field.path:
            child = next((c for c in children if c.embed.label == cond.field.column), None)
            if child is not None:
                if cond.op != "is" or cond.value not in ("null", "not_null") or child.embed.spread:
                    raise ApiError.of("bad_embed_filter", target=child.embed.target)
                child.null_filter = (cond.value == "null") != cond.negate
                continue
        kept.append(cond)
    return kept


# --------------------------------------------------------------------------- SQL


@dataclass(frozen=True)
class EmbedSql:
    """What embeds add to their parent's query: select items, joins, WHERE terms."""

    columns: list[sql.Composable]
    joins: sql.Composable
    filters: list[sql.Composable]
    groups: list[sql.Composable] = field(default_factory=list)  # for an aggregating parent


def embed_sql(
    plans: Sequence[EmbedPlan],
    parent: sql.Composable,
    params: Params,
    *,
    filtering_only: bool = False,
    grouped: bool = False,
) -> EmbedSql:
    """The lateral joins for ``plans`` under the parent row named ``parent``.

    With ``filtering_only`` (for counting) only embeds that can drop a parent row
    (``!inner`` or a null filter) are joined. When the parent aggregates (``grouped``), a
    spread's plain columns group it and its aggregates are aggregated again over the group.
    """
    columns: list[sql.Composable] = []
    joins: list[sql.Composable] = []
    filters: list[sql.Composable] = []
    groups: list[sql.Composable] = []
    for plan in plans:
        if filtering_only and not (plan.inner or plan.null_filter is not None):
            continue
        alias = plan.join_alias
        kind = sql.SQL("INNER" if plan.inner else "LEFT")
        subquery = _subquery(plan, parent, params)
        if plan.embed.spread and not plan.relationship.to_one:
            if grouped:
                raise ApiError.of(
                    "spread_not_to_one", origin=plan.relationship.table, target=plan.embed.target
                )
            joins.append(_spread_many_join(plan, kind, subquery, alias))
            if not plan.empty:
                columns.append(sql.SQL("{}.*").format(alias))
            continue
        if plan.embed.spread:
            joins.append(
                sql.SQL(" {} JOIN LATERAL ({}) AS {} ON TRUE").format(kind, subquery, alias)
            )
            if plan.empty:
                continue
            if grouped:
                hoisted, plain = _spread_columns(plan, alias)
                columns += hoisted
                groups += plain
            else:
                columns.append(sql.SQL("{}.*").format(alias))
            continue
        value = sql.SQL("{}.{}").format(alias, _VALUE)
        aggregate = sql.SQL("row_to_json" if plan.relationship.to_one else "json_agg")
        on = sql.SQL("{} IS NOT NULL").format(value) if plan.inner else sql.SQL("TRUE")
        joins.append(
            sql.SQL(" {} JOIN LATERAL (SELECT {}({}.*) AS {} FROM ({}) AS {}) AS {} ON {}").format(
                kind, aggregate, _ROW, _VALUE, subquery, _ROW, alias, on
            )
        )
        if not plan.empty:
            shown = value
            if not plan.relationship.to_one:
                shown = sql.SQL("coalesce({}, '[]')").format(value)
            columns.append(sql.SQL("{} AS {}").format(shown, sql.Identifier(plan.embed.label)))
        if plan.null_filter is not None:
            test = sql.SQL("IS NULL" if plan.null_filter else "IS NOT NULL")
            filters.append(sql.SQL("{} {}").format(value, test))
    return EmbedSql(columns, sql.Composed(joins), filters, groups)


# An aggregate of per-row aggregates: what the parent's group adds up.
_REAGGREGATE = {"count": "sum", "sum": "sum", "avg": "avg", "min": "min", "max": "max"}


def _spread_many_join(
    plan: EmbedPlan, kind: sql.Composable, subquery: sql.Composable, alias: sql.Composable
) -> sql.Composable:
    """A to-many spread (PostgREST 13): each of its columns becomes an array in the parent.

    With ``!inner`` a parent without rows has no aggregate row (``HAVING``), so it drops out.
    """
    arrays: list[sql.Composable] = [
        sql.SQL("coalesce(json_agg({}.{}), '[]') AS {}").format(
            _ROW, sql.Identifier(name), sql.Identifier(name)
        )
        for name in _output_names(plan)
    ]
    having = sql.SQL(" HAVING count(*) > 0") if plan.inner else sql.SQL("")
    return sql.SQL(" {} JOIN LATERAL (SELECT {} FROM ({}) AS {}{}) AS {} ON TRUE").format(
        kind,
        sql.SQL(", ").join(arrays or [sql.SQL("1 AS _pgrst_n")]),
        subquery,
        _ROW,
        having,
        alias,
    )


def _output_names(plan: EmbedPlan) -> list[str]:
    """The names of the columns an embed's subquery selects (its items, then its embeds)."""
    names: list[str] = []
    for item in resolve_items(plan.embed.items, plan.rel):
        if item.star:
            names += list(plan.rel.columns)
        elif item.aggregate is not None:
            names.append(item.alias or item.aggregate)
        else:
            assert item.field is not None
            names.append(item.alias or item.field.default_alias)
    for child in plan.children:
        if child.empty:
            continue
        names += _output_names(child) if child.embed.spread else [child.embed.label]
    return names


def _spread_columns(
    plan: EmbedPlan, alias: sql.Composable
) -> tuple[list[sql.Composable], list[sql.Composable]]:
    """A spread's columns in an aggregating parent, and the plain ones to group by."""
    columns: list[sql.Composable] = []
    plain: list[sql.Composable] = []
    for item in resolve_items(plan.embed.items, plan.rel):
        if item.star:
            names = list(plan.rel.columns)
        elif item.aggregate is not None:
            name = item.alias or item.aggregate
            value = sql.SQL("{}.{}").format(alias, sql.Identifier(name))
            again = sql.SQL(_REAGGREGATE[item.aggregate])
            columns.append(sql.SQL("{}({}) AS {}").format(again, value, sql.Identifier(name)))
            continue
        else:
            assert item.field is not None
            names = [item.alias or item.field.default_alias]
        for name in names:
            value = sql.SQL("{}.{}").format(alias, sql.Identifier(name))
            columns.append(sql.SQL("{} AS {}").format(value, sql.Identifier(name)))
            plain.append(value)
    return columns, plain


def _subquery(plan: EmbedPlan, parent: sql.Composable, params: Params) -> sql.Composable:
    """The embedded rows of one parent row: joined on the foreign key, filtered, paged."""
    here = plan.qualifier
    rel = plan.relationship
    source: sql.Composable = sql.SQL("{} AS {}").format(plan.rel.ident, here)
    terms: list[sql.Composable] = []
    if rel.function is not None:
        # A computed relationship: the function of the parent row gives the rows.
        function = sql.Identifier(plan.rel.schema, rel.function)
        parent_type = sql.Identifier(plan.rel.schema, rel.table)
        source = sql.SQL("{}({}::{}) AS {}").format(function, parent, parent_type, here)
        terms.append(sql.SQL("TRUE"))
    elif rel.junction is not None:
        junction = sql.Identifier(f"_pgrst_j{plan.index}")
        on = sql.SQL(" AND ").join(
            _equals(here, fcol, junction, jcol) for fcol, jcol in rel.junction.target
        )
        source = sql.SQL("{} JOIN {} AS {} ON {}").format(
            source, sql.Identifier(plan.rel.schema, rel.junction.table), junction, on
        )
        terms += [_equals(junction, jcol, parent, ocol) for ocol, jcol in rel.junction.source]
    else:
        terms += [_equals(here, fcol, parent, ocol) for ocol, fcol in rel.columns]
    selected: list[sql.Composable] = []
    shown = replace(plan.rel, alias=plan.alias)  # errors name it as PostgreSQL's do
    if plan.embed.items:
        selected.append(select_list_sql(plan.embed.items, shown, here, params))
    grouped = aggregates(plan.embed.items, plan.rel)
    nested = embed_sql(plan.children, here, params, grouped=grouped)
    selected += nested.columns
    if plan.conditions:
        terms.append(where_sql(plan.conditions, shown, here, params))
    terms += nested.filters
    return sql.SQL("SELECT {} FROM {}{} WHERE {}{}").format(
        sql.SQL(", ").join(selected),
        source,
        nested.joins,
        sql.SQL(" AND ").join(terms),
        page_sql(
            params,
            plan.order,
            shown,
            here,
            plan.limit,
            plan.offset,
            plan.embed.items,
            nested.groups,
        ),
    )


def _equals(
    left: sql.Composable, left_col: str, right: sql.Composable, right_col: str
) -> sql.Composable:
    return sql.SQL("{}.{} = {}.{}").format(
        left, sql.Identifier(left_col), right, sql.Identifier(right_col)
    )
