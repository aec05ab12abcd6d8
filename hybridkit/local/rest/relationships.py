"""Relationships between tables, read from foreign keys, and how an embed picks one.

This is the part of PostgREST's schema cache that resource embedding needs
(``SchemaCache.hs``: ``allM2OandO2ORels``, ``addInverseRels``, ``addM2MRels``)
and its ``findRel`` rules (``Plan.hs``). Every foreign key ``t -> ft`` gives a
many-to-one relationship from ``t`` and a one-to-many one back from ``ft``, or a
one-to-one relationship both ways when its columns are also a primary key or
unique constraint of ``t``. A table whose primary key holds the columns of two
foreign keys is a junction: it gives a many-to-many relationship between the
two tables it points to.

Only tables in the request's schema are related, as in PostgREST. A function of
one table's row type that returns rows of a table (``SETOF t`` or ``t``) is a
computed relationship, embedded by the function's name: to-one when it returns
one row (not ``SETOF``, or ``ROWS 1``), else to-many. A view over a single table
that shows a foreign key's columns under their names takes that table's
relationships (embedded by the view's name only); other views have none.

Example:
    >>> rel = Relationship("orders", "customers", "m2o", "orders_customer_id_fkey",
    ...                    (("customer_id", "id"),), False)
    >>> rel.describe()["relationship"]
    'orders_customer_id_fkey using orders(customer_id) and customers(id)'
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from hybridkit.local.rest.errors import ApiError

__all__ = [
    "Junction",
    "Relationship",
    "closest",
    "find_relationship",
    "load_relationships",
]

_CARDINALITY_ORDER = {"o2m": 0, "m2o": 1, "o2o": 2, "m2m": 3}  # PostgREST's Ord on Cardinality
_CARDINALITY_NAME = {
    "o2m": "one-to-many",
    "m2o": "many-to-one",
    "o2o": "one-to-one",
    "m2m": "many-to-many",
}

_FOREIGN_KEYS_SQL = """
SELECT c.conname::text AS name, t.relname::text AS table_name, f.relname::text AS foreign_table,
  (SELECT array_agg(a.attname::text ORDER BY k.ord)
     FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols,
  (SELECT array_agg(a.attname::text ORDER BY k.ord)
     FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS fcols,
  EXISTS (SELECT 1 FROM pg_constraint u
           WHERE u.conrelid = c.conrelid AND u.contype IN ('p', 'u')
             AND u.conkey @> c.conkey AND u.conkey <@ c.conkey) AS one_to_one,
  coalesce((SELECT array_agg(a.attname::text)
     FROM pg_constraint p
     JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = ANY(p.conkey)
    WHERE p.conrelid = c.conrelid AND p.contype = 'p'), '{}') AS table_pk
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_class f ON f.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE c.contype = 'f' AND c.conparentid = 0 AND tn.nspname = %(schema)s AND fn.nspname = %(schema)s
ORDER BY c.conrelid, c.conname
"""

_COMPUTED_SQL = """
SELECT p.proname::text AS name, pt.relname::text AS table_name, rt.relname::text AS foreign_table,
  (NOT p.proretset OR p.prorows = 1) AS to_one
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_class pt ON pt.reltype = p.proargtypes[0] AND pt.relnamespace = n.oid
JOIN pg_class rt ON rt.reltype = p.prorettype AND rt.relnamespace = n.oid
WHERE n.nspname = %(schema)s AND p.pronargs = 1 AND p.prokind = 'f'
ORDER BY p.proname, pt.relname
"""

_VIEWS_SQL = """
SELECT v.relname::text AS view_name, min(t.relname::text) AS base_table,
  (SELECT array_agg(a.attname::text) FROM pg_attribute a
    WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped) AS cols
FROM pg_class v
JOIN pg_namespace n ON n.oid = v.relnamespace
JOIN pg_rewrite r ON r.ev_class = v.oid
JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p') AND t.relnamespace = n.oid
WHERE n.nspname = %(schema)s AND v.relkind IN ('v', 'm')
GROUP BY v.oid, v.relname
HAVING count(DISTINCT t.oid) = 1
"""


@dataclass(frozen=True)
class Junction:
    """The junction table of a many-to-many relationship.

    Attributes:
        source: (origin column, junction column) pairs of ``constraint1``.
        target: (foreign column, junction column) pairs of ``constraint2``.
    """

    table: str
    constraint1: str
    constraint2: str
    source: tuple[tuple[str, str], ...]
    target: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Relationship:
    """A relationship from ``table`` (the origin) to ``foreign_table``.

    Attributes:
        cardinality: ``m2o``, ``o2m``, ``o2o`` or ``m2m``.
        constraint: the foreign key's name (for ``m2m``, the junction table's).
        columns: (origin column, foreign column) pairs; empty for ``m2m`` and computed ones.
        function: the function of a computed relationship (``constraint`` holds it too).
    """

    table: str
    foreign_table: str
    cardinality: str
    constraint: str
    columns: tuple[tuple[str, str], ...]
    is_self: bool
    junction: Junction | None = None
    function: str | None = None
    through_view: bool = False

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("m2o", "o2o")

    def sort_key(self) -> tuple[Any, ...]:
        junction = self.junction
        extra: tuple[Any, ...] = (
            (junction.table, junction.constraint1, junction.constraint2)
            if junction
            else (self.constraint, self.columns)
        )
        order = _CARDINALITY_ORDER[self.cardinality]
        return (self.table, self.foreign_table, self.is_self, order, *extra)

    def describe(self) -> dict[str, str]:
        """One entry of PGRST201's ``details``, worded as PostgREST words it."""
        if self.junction is not None:
            j = self.junction
            relationship = (
                f"{j.table} using {j.constraint1}{_cols(c for _, c in j.source)} "
                f"and {j.constraint2}{_cols(c for _, c in j.target)}"
            )
        else:
            relationship = (
                f"{self.constraint} using {self.table}{_cols(c for c, _ in self.columns)} "
                f"and {self.foreign_table}{_cols(c for _, c in self.columns)}"
            )
        return {
            "cardinality": _CARDINALITY_NAME[self.cardinality],
            "embedding": f"{self.table} with {self.foreign_table}",
            "relationship": relationship,
        }


def _cols(names: Any) -> str:
    return "(" + ", ".join(names) + ")"


async def load_relationships(conn: AsyncConnection[DictRow], schema: str) -> list[Relationship]:
    """Every relationship between tables of ``schema``, sorted as PostgREST sorts them."""
    rows = await (await conn.execute(_FOREIGN_KEYS_SQL, {"schema": schema})).fetchall()
    direct: list[Relationship] = []
    pks: dict[str, set[str]] = {}
    for row in rows:
        pairs = tuple(zip(row["cols"], row["fcols"], strict=True))
        table, foreign = str(row["table_name"]), str(row["foreign_table"])
        kind = "o2o" if row["one_to_one"] else "m2o"
        direct.append(Relationship(table, foreign, kind, str(row["name"]), pairs, table == foreign))
        pks[table] = set(row["table_pk"])
    inverse = [
        Relationship(
            r.foreign_table,
            r.table,
            "o2m" if r.cardinality == "m2o" else "o2o",
            r.constraint,
            tuple((b, a) for a, b in r.columns),
            r.is_self,
        )
        for r in direct
    ]
    many = [
        Relationship(
            r1.foreign_table,
            r2.foreign_table,
            "m2m",
            r1.table,
            (),
            r1.foreign_table == r2.foreign_table,
            Junction(
                r1.table,
                r1.constraint,
                r2.constraint,
                tuple((b, a) for a, b in r1.columns),
                tuple((b, a) for a, b in r2.columns),
            ),
        )
        for r1 in direct
        for r2 in direct
        if r1.table == r2.table
        and r1.constraint != r2.constraint
        and {a for a, _ in r1.columns + r2.columns} <= pks.get(r1.table, set())
    ]
    views = [
        _on_view(r, side, str(row["view_name"]))
        for row in await (await conn.execute(_VIEWS_SQL, {"schema": schema})).fetchall()
        for r in direct + inverse
        for side, columns in (
            ("table", [a for a, _ in r.columns]),
            ("foreign_table", [b for _, b in r.columns]),
        )
        if getattr(r, side) == row["base_table"] and set(columns) <= set(row["cols"] or ())
    ]
    computed = [
        Relationship(
            str(row["table_name"]),
            str(row["foreign_table"]),
            "m2o" if row["to_one"] else "o2m",
            str(row["name"]),
            (),
            row["table_name"] == row["foreign_table"],
            function=str(row["name"]),
        )
        for row in await (await conn.execute(_COMPUTED_SQL, {"schema": schema})).fetchall()
    ]
    return sorted(direct + inverse + many, key=Relationship.sort_key) + views + computed


def _on_view(rel: Relationship, side: str, view: str) -> Relationship:
    """``rel`` with ``view`` in place of its base table on ``side`` (table or foreign_table)."""
    if side == "table":
        return replace(rel, table=view, through_view=True, is_self=False)
    return replace(rel, foreign_table=view, through_view=True, is_self=False)


def find_relationship(
    relationships: Sequence[Relationship],
    schema: str,
    origin: str,
    target: str,
    hint: str | None,
) -> Relationship:
    """The one relationship ``origin?select=target!hint(...)`` means (PostgREST's ``findRel``).

    Raises:
        ApiError: PGRST200 when none fits, PGRST201 when several do.
    """
    found = [r for r in relationships if r.table == origin and _matches(r, target, hint)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ApiError.no_relationship(
            origin,
            target,
            schema,
            embed_hint=hint,
            suggestion=_suggestion(relationships, origin, target),
        )
    choices = [f"'{r.foreign_table}!{r.constraint}'" for r in found]
    raise ApiError.ambiguous_relationship(origin, target, [r.describe() for r in found], choices)


def _matches(rel: Relationship, target: str, hint: str | None) -> bool:
    if rel.function is not None:
        return target == rel.function and hint in (None, rel.foreign_table)
    if rel.through_view:
        return target == rel.foreign_table and hint in (None, rel.constraint)
    fk_col: str | None = None  # the origin's column of a single-column foreign key
    ref_col: str | None = None  # the foreign table's column
    if rel.junction is None and len(rel.columns) == 1:
        fk_col, ref_col = rel.columns[0]
    constraint = None if rel.junction else rel.constraint
    if rel.is_self:
        if hint is None:
            # /family?select=children:family(*) is one-to-many; /family?select=parent_id(*) is
            # many-to-one through the column.
            return (target == rel.foreign_table and rel.cardinality == "o2m") or (
                target == fk_col and rel.cardinality == "m2o"
            )
        return target == rel.foreign_table and rel.cardinality == "o2m" and hint == ref_col
    if hint is None:
        return target in (rel.foreign_table, constraint, fk_col)
    junction = rel.junction.table if rel.junction else None
    return target == rel.foreign_table and hint in (constraint, fk_col, ref_col, junction)


# --------------------------------------------------------------------------- hints


def _suggestion(relationships: Sequence[Relationship], origin: str, target: str) -> str | None:
    """PGRST200's hint: a close name for the target, or for the origin if it has no relationship."""
    children = [r.foreign_table for r in relationships if r.table == origin]
    if children:
        if target in children:
            return None  # the tables are related: the hint is what did not match
        best = closest(target, children)
        return f"Perhaps you meant '{best}' instead of '{target}'." if best else None
    best = closest(origin, [r.table for r in relationships])
    return f"Perhaps you meant '{best}' instead of '{origin}'." if best else None


def closest(word: str, candidates: Sequence[str], minimum: float = 0.33) -> str | None:
    """The closest candidate as a fuzzy set would rank it (n-gram cosine, then edit distance)."""
    names = list(dict.fromkeys(candidates))
    for size in (3, 2):
        grams = _grams(word, size)
        scored = [(_cosine(grams, _grams(name, size)), name) for name in names]
        scored = [(score, name) for score, name in scored if score >= minimum]
        if scored:
            ranked = sorted(
                ((_edit_similarity(word.lower(), n.lower()), n) for _, n in scored),
                key=lambda pair: -pair[0],
            )
            return ranked[0][1] if ranked[0][0] >= minimum else None
    return None


def _grams(text: str, size: int) -> Counter[str]:
    padded = "-" + "".join(c for c in text.lower() if c.isalnum() or c in " ,") + "-"
    padded += "-" * max(0, size - len(padded))
    return Counter(padded[i : i + size] for i in range(len(padded) - size + 1))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[gram] for gram, count in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _edit_similarity(a: str, b: str) -> float:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / max(len(a), len(b), 1)
