"""What the PostgREST subset reads from the catalog (its "schema cache").

PostgREST caches the catalog and reloads it on ``NOTIFY pgrst``; Supabase reloads
it after every DDL. The local subset reads what one request needs, fresh, in
the request's own transaction (one round trip), so a table created a moment ago
is served at once.

Exposed schemas come, as on a real PostgREST with in-database configuration,
from ``pgrst.db_schemas`` set on the ``authenticator`` role
(``ALTER ROLE authenticator SET pgrst.db_schemas = 'public, other'``), else the
Supabase CLI's default ``public, graphql_public``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from hybridkit.local.rest.compose import Relation

__all__ = [
    "DEFAULT_SCHEMAS",
    "SINGLE_UNNAMED_TYPES",
    "Argument",
    "Function",
    "RequestContext",
    "find_functions",
    "find_relation",
    "function_names",
    "request_context",
]

DEFAULT_SCHEMAS = ("public", "graphql_public")

_CONTEXT_SQL = """
SELECT
  (SELECT substr(cfg, length('pgrst.db_schemas=') + 1)
     FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
    WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = 'authenticator')
      AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND cfg LIKE 'pgrst.db\\_schemas=%%'
    ORDER BY s.setdatabase DESC LIMIT 1) AS schemas,
  (SELECT substr(cfg, length('statement_timeout=') + 1)
     FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
    WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
      AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND cfg LIKE 'statement\\_timeout=%%'
    ORDER BY s.setdatabase DESC LIMIT 1) AS statement_timeout
"""

_RELATION_SQL = """
SELECT c.relkind::text AS kind,
  coalesce((SELECT json_agg(json_build_object(
              'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
              'default', CASE WHEN a.attgenerated = '' THEN coalesce(
                (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                  WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum),
                CASE WHEN a.attidentity = 'd' THEN format('nextval(%%L::regclass)',
                  pg_get_serial_sequence(c.oid::regclass::text, a.attname)) END) END)
            ORDER BY a.attnum)
     FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::json) AS columns,
  coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
     FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS pk,
  coalesce((SELECT array_agg(DISTINCT p.proname::text)
     FROM pg_proc p JOIN pg_type rt ON rt.oid = p.prorettype
    WHERE p.pronamespace = c.relnamespace AND p.pronargs = 1 AND p.prokind = 'f'
      AND p.proargtypes[0] = c.reltype AND rt.typrelid = 0), '{}') AS computed
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
"""

_FUNCTIONS_SQL = """
SELECT p.oid::int8 AS oid, p.proretset AS returns_set, p.pronargdefaults AS defaults,
  p.provolatile::text AS volatility,
  rt.typtype::text AS return_kind, rt.typname::text AS return_type,
  rt.typrelid::int8 AS return_relid,
  coalesce(p.proargnames, '{}') AS arg_names,
  coalesce(p.proargmodes::text[], '{}') AS arg_modes,
  coalesce((SELECT json_agg(json_build_object('schema', tn.nspname, 'name', ty.typname,
                                              'display', format_type(u.t, NULL))
                   ORDER BY u.ord)
     FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS u(t, ord)
     JOIN pg_type ty ON ty.oid = u.t JOIN pg_namespace tn ON tn.oid = ty.typnamespace),
     '[]'::json) AS arg_type_names,
  coalesce((SELECT json_agg(json_build_object(
              'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
            ORDER BY a.attnum)
     FROM pg_attribute a
    WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::json)
    AS return_columns,
  coalesce((SELECT array_agg(DISTINCT f.proname::text)
     FROM pg_proc f JOIN pg_type ft ON ft.oid = f.prorettype
    WHERE rt.typtype = 'c' AND f.pronamespace = rt.typnamespace AND f.pronargs = 1
      AND f.prokind = 'f' AND f.proargtypes[0] = rt.oid AND ft.typrelid = 0), '{}')
    AS computed
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type rt ON rt.oid = p.prorettype
WHERE n.nspname = %(schema)s AND p.proname = %(name)s AND p.prokind IN ('f')
ORDER BY p.oid
"""

_FUNCTION_NAMES_SQL = """
SELECT DISTINCT p.proname::text AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.prokind = 'f'
"""
# A function whose only parameter is unnamed is callable when the body can be that
# parameter (PostgREST's "single unnamed parameter"); other unnamed parameters are not.
# The type -> the Content-Type whose body it takes.
SINGLE_UNNAMED_TYPES = {
    "json": "application/json",
    "jsonb": "application/json",
    "text": "text/plain",
    "xml": "text/xml",
    "bytea": "application/octet-stream",
}


@dataclass(frozen=True)
class RequestContext:
    """Per-request settings read from the catalog."""

    exposed_schemas: tuple[str, ...]
    statement_timeout: str | None


@dataclass(frozen=True)
class Argument:
    """One input argument of a function."""

    name: str
    type_schema: str
    type_name: str
    has_default: bool
    variadic: bool = False
    type_display: str = ""


@dataclass(frozen=True)
class Function:
    """A function callable through ``/rpc``.

    Attributes:
        args: the input arguments (IN and INOUT, and VARIADIC), in order.
        returns_set: ``SETOF`` or ``TABLE``.
        return_kind: ``pg_type.typtype`` of the result (``b`` base, ``c`` composite,
            ``p`` pseudo such as ``void``/``record``, ``d`` domain, ``e`` enum...).
        return_type: the result type's name (``void``, ``int4``...).
        columns: the result's columns when it is a row type or has OUT/TABLE columns.
        volatility: ``i``, ``s`` or ``v``.
        computed: the computed fields of a row-type result (functions of that type).
    """

    schema: str
    name: str
    args: tuple[Argument, ...]
    returns_set: bool
    return_kind: str
    return_type: str
    columns: tuple[tuple[str, str], ...]
    volatility: str
    computed: tuple[str, ...] = ()

    @property
    def returns_rows(self) -> bool:
        """Whether the result is a row type (a table row, ``TABLE(...)``, OUT columns)."""
        return bool(self.columns)

    @property
    def callable(self) -> bool:
        """Whether PostgREST can call it: named arguments, or one unnamed body argument."""
        if all(a.name for a in self.args):
            return True
        return len(self.args) == 1 and self.args[0].type_name in SINGLE_UNNAMED_TYPES

    @property
    def signature(self) -> str:
        """``schema.name(a => integer, b => text)``, as PGRST203 lists candidates."""
        args = ", ".join(f"{a.name} => {a.type_display}" for a in self.args)
        return f"{self.schema}.{self.name}({args})"

    @property
    def returns_void(self) -> bool:
        return self.return_type == "void" and not self.returns_set

    def relation(self) -> Relation:
        """The result as a relation, so select/filter/order apply to it.

        A result of a table's row type is named after the table, so embeds start there.
        """
        name = self.return_type if self.return_kind == "c" else self.name
        return Relation(self.schema, name, "F", dict(self.columns), computed=self.computed)


async def request_context(conn: AsyncConnection[DictRow], role: str) -> RequestContext:
    """Exposed schemas and the role's ``statement_timeout``."""
    row = await (await conn.execute(_CONTEXT_SQL, {"role": role})).fetchone()
    raw = (row or {}).get("schemas")
    schemas = tuple(s.strip() for s in raw.split(",") if s.strip()) if raw else DEFAULT_SCHEMAS
    timeout = (row or {}).get("statement_timeout")
    return RequestContext(schemas, str(timeout) if timeout else None)


async def find_relation(conn: AsyncConnection[DictRow], schema: str, name: str) -> Relation | None:
    """The table or view ``schema.name``, or ``None``."""
    row = await (await conn.execute(_RELATION_SQL, {"schema": schema, "name": name})).fetchone()
    if row is None:
        return None
    columns = {str(c["name"]): str(c["type"]) for c in row["columns"]}
    computed = tuple(str(n) for n in row["computed"] if n not in columns)
    defaults = {str(c["name"]): str(c["default"]) for c in row["columns"] if c["default"]}
    return Relation(
        schema, name, str(row["kind"]), columns, tuple(row["pk"]), computed, defaults=defaults
    )


async def find_functions(conn: AsyncConnection[DictRow], schema: str, name: str) -> list[Function]:
    """Every overload of ``schema.name`` that PostgREST can call."""
    rows = await (await conn.execute(_FUNCTIONS_SQL, {"schema": schema, "name": name})).fetchall()
    return [f for f in (_function(schema, name, row) for row in rows) if f.callable]


async def function_names(conn: AsyncConnection[DictRow], schema: str) -> list[str]:
    """The names of the functions of ``schema`` (for PGRST202's hint)."""
    rows = await (await conn.execute(_FUNCTION_NAMES_SQL, {"schema": schema})).fetchall()
    return sorted(str(row["name"]) for row in rows)


def _function(schema: str, name: str, row: dict[str, Any]) -> Function:
    names: list[str] = list(row["arg_names"])
    modes: list[str] = list(row["arg_modes"])
    type_names: list[dict[str, str]] = list(row["arg_type_names"])
    count = len(type_names)
    if not modes:
        modes = ["i"] * count
    names += [""] * (count - len(names))
    inputs = [i for i in range(count) if modes[i] in ("i", "b", "v")]
    defaults = int(row["defaults"])
    args: list[Argument] = []
    for position, index in enumerate(inputs):
        args.append(
            Argument(
                name=names[index],
                type_schema=type_names[index]["schema"],
                type_name=type_names[index]["name"],
                has_default=position >= len(inputs) - defaults,
                variadic=modes[index] == "v",
                type_display=type_names[index]["display"],
            )
        )
    outputs = [
        (names[i], type_names[i]["name"]) for i in range(count) if modes[i] in ("o", "b", "t")
    ]
    columns: list[tuple[str, str]]
    if row["return_kind"] == "c":
        columns = [(str(c["name"]), str(c["type"])) for c in row["return_columns"]]
    elif len(outputs) > 1 or (outputs and row["return_type"] == "record"):
        columns = outputs
    else:
        columns = []
    return Function(
        schema=schema,
        name=name,
        args=tuple(args),
        returns_set=bool(row["returns_set"]),
        return_kind=str(row["return_kind"]),
        return_type=str(row["return_type"]),
        columns=tuple(columns),
        volatility=str(row["volatility"]),
        computed=tuple(str(n) for n in row["computed"] if n not in dict(columns)),
    )
