"""Catalog snapshots of a PostgreSQL database and the differences between two of them.

:func:`snapshot` reads, in one read-only statement, what a schema is made of:
tables; columns (type, nullability, default, identity, generated); constraints
(``pg_get_constraintdef``); indexes (``pg_get_indexdef``); views and materialized
views; functions and procedures (``pg_get_functiondef``, volatility, security
definer, ``search_path``); triggers (and whether they are enabled); RLS enabled
and forced; policies; grants on schemas, tables, columns, sequences and
functions; default privileges for ``anon``/``authenticated``/``service_role``;
publication membership; extensions; sequences; enums, composite types and
domains. Objects that belong to an extension are left out.

:func:`diff_catalogs` compares an expected catalog (the shadow database the
migrations built) with a live one and returns one :class:`DriftRow` per
difference, each with the statement that would repair it. With a ``baseline``
(the shadow before the migrations ran) only what the migrations define is
expected, so a platform's own objects that the local baseline does not mirror
exactly never report; ``strict`` also compares the baseline's objects (right
when both databases grew from the same baseline, as on the local stack).

Definitions come from the server's own deparsers (``pg_get_*``) under the same
``search_path`` on both sides, with whitespace collapsed, so reformatting,
comments in a migration file and casts the server adds never report.

Example:
    >>> rows = diff_catalogs(snapshot(shadow_query), snapshot(live_query))  # doctest: +SKIP
    >>> [r.object for r in rows]  # doctest: +SKIP
    ['public.file_uploads_bucket_path_idx']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hybridkit._tables import text_table

__all__ = [
    "CATALOG_SQL",
    "KINDS",
    "Catalog",
    "DriftRow",
    "SchemaDiff",
    "diff_catalogs",
    "snapshot",
]

Query = Callable[[str], list[dict[str, Any]]]

# Kinds in the order a repair script must run them (schemas before tables before columns...).
KINDS = (
    "schema",
    "extension",
    "type",
    "sequence",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "function",
    "trigger",
    "rls",
    "policy",
    "grant",
    "default privilege",
    "publication settings",
    "publication",
)
# Schemas that are never the migrations' business: the ledger and PostgreSQL's own.
IGNORED_SCHEMAS = frozenset({"supabase_migrations", "pg_catalog", "information_schema", "pg_toast"})
_NORMALISED = frozenset({"def", "using", "check", "default", "generated"})

_REL = """
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relowner, c.relacl, c.relrowsecurity,
         c.relforcerowsecurity, c.reloptions, c.relreplident, n.nspname,
         quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname
    FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
)"""

_GRANTEE = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END"
_PRIVS = (
    "array_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END "
    "ORDER BY a.privilege_type)"
)

CATALOG_SQL = f"""
WITH ns AS (
  SELECT oid, nspname, nspowner, nspacl FROM pg_namespace
   WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
     AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
),
{_REL},
fn AS (
  SELECT p.*, n.nspname,
         quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS qname
    FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
   WHERE p.prokind IN ('f', 'p')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                        AND d.objid = p.oid AND d.deptype = 'e')
),
grants AS (
  SELECT 'schema' AS objtype, quote_ident(n.nspname) AS obj, n.nspname AS s, NULL::text AS t,
         {_GRANTEE} AS grantee, {_PRIVS} AS privs
    FROM ns n, aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a
   WHERE a.grantee <> n.nspowner GROUP BY 1, 2, 3, 4, 5
  UNION ALL
  SELECT CASE WHEN r.relkind = 'S' THEN 'sequence' ELSE 'table' END, r.qname, r.nspname, r.qname,
         {_GRANTEE}, {_PRIVS}
    FROM rel r,
         aclexplode(coalesce(r.relacl, acldefault((CASE WHEN r.relkind = 'S' THEN 's'
                                                       ELSE 'r' END)::"char", r.relowner))) a
   WHERE a.grantee <> r.relowner GROUP BY 1, 2, 3, 4, 5
  UNION ALL
  SELECT 'column', r.qname || '(' || quote_ident(att.attname) || ')', r.nspname, r.qname,
         {_GRANTEE}, {_PRIVS}
    FROM rel r JOIN pg_attribute att ON att.attrelid = r.oid AND att.attnum > 0
         AND NOT att.attisdropped AND att.attacl IS NOT NULL,
         aclexplode(att.attacl) a
   WHERE a.grantee <> r.relowner GROUP BY 1, 2, 3, 4, 5
  UNION ALL
  SELECT CASE WHEN f.prokind = 'p' THEN 'procedure' ELSE 'function' END, f.qname, f.nspname,
         NULL, {_GRANTEE}, {_PRIVS}
    FROM fn f, aclexplode(coalesce(f.proacl, acldefault('f'::"char", f.proowner))) a
   WHERE a.grantee <> f.proowner GROUP BY 1, 2, 3, 4, 5
)
SELECT json_build_object(
  'search_path', current_setting('search_path'),
  'schema', (SELECT coalesce(json_agg(json_build_object(
      'k', quote_ident(nspname), 's', nspname, 'v', json_build_object())), '[]') FROM ns),
  'table', (SELECT coalesce(json_agg(json_build_object(
      'k', qname, 's', nspname, 't', qname,
      'v', json_build_object('kind', relkind, 'owner', pg_get_userbyid(relowner),
                             'options', reloptions,
                             'replica identity', CASE relreplident WHEN 'd' THEN 'default'
                               WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full' ELSE 'index' END))),
      '[]')
      FROM rel WHERE relkind IN ('r', 'p', 'f')),
  'column', (SELECT coalesce(json_agg(json_build_object(
      'k', r.qname || '.' || quote_ident(a.attname), 's', r.nspname, 't', r.qname,
      'n', quote_ident(a.attname),
      'v', json_build_object(
        'type', format_type(a.atttypid, a.atttypmod),
        'not null', a.attnotnull,
        'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
        'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
        'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
        'collation', CASE WHEN a.attcollation <> t.typcollation THEN
                       (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END))),
      '[]')
      FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0
           AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE r.relkind IN ('r', 'p', 'f')),
  'constraint', (SELECT coalesce(json_agg(json_build_object(
      'k', r.qname || '.' || quote_ident(c.conname), 's', r.nspname, 't', r.qname,
      'n', quote_ident(c.conname),
      'v', json_build_object('def', pg_get_constraintdef(c.oid)))), '[]')
      FROM pg_constraint c JOIN rel r ON r.oid = c.conrelid WHERE c.contype <> 'n'),
  'index', (SELECT coalesce(json_agg(json_build_object(
      'k', quote_ident(r.nspname) || '.' || quote_ident(ic.relname), 's', r.nspname,
      't', r.qname, 'v', json_build_object('def', pg_get_indexdef(i.indexrelid)))), '[]')
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN rel r ON r.oid = i.indrelid
     WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                          AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))),
  'view', (SELECT coalesce(json_agg(json_build_object(
      'k', qname, 's', nspname, 't', qname,
      'v', json_build_object('kind', CASE relkind WHEN 'm' THEN 'materialized view'
                                                  ELSE 'view' END,
                             'def', pg_get_viewdef(oid), 'options', reloptions,
                             'owner', pg_get_userbyid(relowner)))), '[]')
      FROM rel WHERE relkind IN ('v', 'm')),
  'function', (SELECT coalesce(json_agg(json_build_object(
      'k', qname, 's', nspname,
      'v', json_build_object(
        'def', pg_get_functiondef(oid),
        'volatility', CASE provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable'
                                       ELSE 'volatile' END,
        'security definer', prosecdef,
        'config', proconfig,
        'owner', pg_get_userbyid(proowner)))), '[]') FROM fn),
  'trigger', (SELECT coalesce(json_agg(json_build_object(
      'k', r.qname || '.' || quote_ident(g.tgname), 's', r.nspname, 't', r.qname,
      'n', quote_ident(g.tgname),
      'v', json_build_object('def', pg_get_triggerdef(g.oid),
                             'enabled', CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                          WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always'
                                          ELSE 'origin' END))), '[]')
      FROM pg_trigger g JOIN rel r ON r.oid = g.tgrelid WHERE NOT g.tgisinternal),
  'rls', (SELECT coalesce(json_agg(json_build_object(
      'k', qname, 's', nspname, 't', qname,
      'v', json_build_object('enabled', relrowsecurity, 'forced', relforcerowsecurity))), '[]')
      FROM rel WHERE relkind IN ('r', 'p')),
  'policy', (SELECT coalesce(json_agg(json_build_object(
      'k', r.qname || ': ' || quote_ident(p.polname), 's', r.nspname, 't', r.qname,
      'n', quote_ident(p.polname),
      'v', json_build_object(
        'cmd', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
        'permissive', p.polpermissive,
        'roles', (SELECT array_agg(CASE WHEN x = 0 THEN 'public' ELSE pg_get_userbyid(x) END
                                   ORDER BY 1) FROM unnest(p.polroles) x),
        'using', pg_get_expr(p.polqual, p.polrelid),
        'check', pg_get_expr(p.polwithcheck, p.polrelid)))), '[]')
      FROM pg_policy p JOIN rel r ON r.oid = p.polrelid),
  'grant', (SELECT coalesce(json_agg(json_build_object(
      'k', objtype || ' ' || obj || ' to ' || grantee, 's', s, 't', t,
      'n', objtype || ' ' || obj, 'g', grantee,
      'v', json_build_object('privileges', privs))), '[]') FROM grants),
  'default privilege', (SELECT coalesce(json_agg(json_build_object(
      'k', 'for ' || pg_get_userbyid(d.defaclrole) || coalesce(' in ' || n.nspname, '')
           || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                         WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END
           || ' to ' || pg_get_userbyid(a.grantee),
      's', n.nspname, 'n', pg_get_userbyid(d.defaclrole), 'g', pg_get_userbyid(a.grantee),
      'o', CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES'
                WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
      'v', json_build_object('privileges', (
             SELECT array_agg(x.privilege_type ORDER BY x.privilege_type)
               FROM aclexplode(d.defaclacl) x WHERE x.grantee = a.grantee)))), '[]')
      FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
           LATERAL (SELECT DISTINCT grantee FROM aclexplode(d.defaclacl)) a
     WHERE pg_get_userbyid(a.grantee) IN ('anon', 'authenticated', 'service_role')),
  'publication', (SELECT coalesce(json_agg(json_build_object(
      'k', p.pubname || ': ' || r.qname, 's', r.nspname, 't', r.qname, 'n', p.pubname,
      'v', json_build_object())), '[]')
      FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
      JOIN rel r ON r.oid = pr.prrelid),
  'publication settings', (SELECT coalesce(json_agg(json_build_object(
      'k', p.pubname,
      'v', json_build_object(
        'all tables', p.puballtables,
        'publish', concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END,
                             CASE WHEN p.pubupdate THEN 'update' END,
                             CASE WHEN p.pubdelete THEN 'delete' END,
                             CASE WHEN p.pubtruncate THEN 'truncate' END)))), '[]')
      FROM pg_publication p),
  'extension', (SELECT coalesce(json_agg(json_build_object(
      'k', e.extname, 'v', json_build_object('schema', n.nspname))), '[]')
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname <> 'plpgsql'),
  'sequence', (SELECT coalesce(json_agg(json_build_object(
      'k', r.qname, 's', r.nspname, 't', r.qname,
      'v', json_build_object('type', format_type(q.seqtypid, NULL), 'start', q.seqstart,
                             'increment', q.seqincrement, 'min', q.seqmin, 'max', q.seqmax,
                             'cycle', q.seqcycle, 'cache', q.seqcache))), '[]')
      FROM pg_sequence q JOIN rel r ON r.oid = q.seqrelid),
  'type', (SELECT coalesce(json_agg(json_build_object(
      'k', quote_ident(n.nspname) || '.' || quote_ident(t.typname), 's', n.nspname,
      'v', CASE t.typtype
        WHEN 'e' THEN json_build_object('enum', (SELECT array_agg(e.enumlabel
                        ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
        WHEN 'd' THEN json_build_object('domain', format_type(t.typbasetype, t.typtypmod),
                        'not null', t.typnotnull, 'default', t.typdefault,
                        'check', (SELECT array_agg(pg_get_constraintdef(c.oid) ORDER BY c.conname)
                                    FROM pg_constraint c WHERE c.contypid = t.oid))
        ELSE json_build_object('composite', (SELECT array_agg(quote_ident(a.attname) || ' '
                        || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                         AND NOT a.attisdropped)) END)), '[]')
      FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
     WHERE (t.typtype IN ('e', 'd')
            OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e'))
) AS catalog
"""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Entry:
    """One catalog object: its key, schema, table, name and normalised description."""

    key: str
    schema: str | None
    table: str | None
    value: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """A snapshot: ``objects[kind][key]`` for every kind in :data:`KINDS`."""

    objects: Mapping[str, Mapping[str, Entry]]
    search_path: str = ""

    def kind(self, kind: str) -> Mapping[str, Entry]:
        return self.objects.get(kind, {})

    def __len__(self) -> int:
        return sum(len(v) for v in self.objects.values())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        objects: dict[str, dict[str, Entry]] = {}
        for kind in KINDS:
            entries: dict[str, Entry] = {}
            for item in data.get(kind) or ():
                schema = item.get("s")
                if schema in IGNORED_SCHEMAS:
                    continue
                extra = {k: item[k] for k in ("n", "g", "o") if k in item}
                extra["raw"] = item.get("v") or {}
                entries[item["k"]] = Entry(
                    item["k"], schema, item.get("t"), _normalise(item.get("v") or {}), extra
                )
            objects[kind] = entries
        return cls(objects, str(data.get("search_path") or ""))


def _normalise(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        if name in _NORMALISED and isinstance(item, str):
            item = _squash(item)
        out[name] = item
    return out


def _squash(text: str) -> str:
    """Whitespace is cosmetic: collapse it (also around parentheses and commas)."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([(),;])\s*", r"\1", text)
    return text.rstrip(";")


def snapshot(query: Query) -> Catalog:
    """Read a database's catalog through ``query`` (one read-only statement).

    The deparsers qualify names by the session's ``search_path``: compare two
    snapshots taken under the same one (:attr:`Catalog.search_path` says which).

    Args:
        query: runs one SQL statement and returns its rows as dicts (a ledger's
            ``query``, for instance).
    """
    rows = query(CATALOG_SQL)
    data = rows[0]["catalog"] if rows else {}
    if isinstance(data, str):
        data = json.loads(data)
    return Catalog.from_json(data)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class DriftRow:
    """One difference between what is expected and what is live.

    Attributes:
        kind: one of :data:`KINDS` (``index``, ``column``, ``policy``...).
        object: the object's qualified name (``public.file_uploads.size``).
        change: ``missing`` (expected, not live), ``extra`` (live, not expected)
            or ``changed``.
        expected: what the migrations say (the differing fields), or ``""``.
        live: what the database has, or ``""``.
        repair: the statement that would restore what is expected; a ``DROP``
            for an extra object comes as a comment.
    """

    kind: str
    object: str
    change: str
    expected: str
    live: str
    repair: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SchemaDiff:
    """The differences found, with where they come from.

    Attributes:
        rows: one per difference, in repair order.
        expected: what was expected (``shadow of <folder>``, or a database).
        live: the database compared (no secrets).
        schemas: the schemas compared.
        compared: how many objects were compared.
        seconds: how long the comparison took, shadow included.

    Example:
        >>> diff = SchemaDiff(())
        >>> diff.ok, diff.repair_script()
        (True, '')
    """

    rows: tuple[DriftRow, ...]
    expected: str = ""
    live: str = ""
    schemas: tuple[str, ...] = ()
    compared: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rows

    def repair_script(self) -> str:
        """Every repair statement, in an order that runs (extras' DROPs as comments)."""
        return "\n".join(r.repair for r in self.rows)

    def table(self, *, labels: tuple[str, str] = ("EXPECTED", "LIVE")) -> str:
        """A readable table; ``labels`` name the expected and live columns."""
        rows = [
            (r.kind, r.object, r.change, _clip(r.expected), _clip(r.live), _clip(r.repair, 160))
            for r in self.rows
        ]
        lines = text_table(("KIND", "OBJECT", "CHANGE", *labels, "REPAIR"), rows)
        verdict = "no drift" if self.ok else f"{len(self.rows)} difference(s)"
        lines.append(
            f"{verdict}: {self.live} against {self.expected} "
            f"({self.compared} objects in {', '.join(self.schemas) or 'no schema'}, "
            f"{self.seconds:.2f} s)"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "expected": self.expected,
            "live": self.live,
            "schemas": list(self.schemas),
            "compared": self.compared,
            "seconds": round(self.seconds, 3),
            "rows": [r.to_dict() for r in self.rows],
        }


def _clip(text: str, width: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- the diff


def touched_schemas(expected: Catalog, baseline: Catalog | None) -> set[str]:
    """``public`` and every schema in which the migrations changed something."""
    schemas = {"public"}
    for kind in KINDS:
        mine = expected.kind(kind)
        if baseline is None:
            schemas.update(e.schema for e in mine.values() if e.schema)
            continue
        base = baseline.kind(kind)
        for key in mine.keys() | base.keys():
            e, b = mine.get(key), base.get(key)
            if (e.value if e else None) != (b.value if b else None):
                entry = e or b
                assert entry is not None
                if entry.schema:
                    schemas.add(entry.schema)
    return schemas


def diff_catalogs(
    expected: Catalog,
    live: Catalog,
    *,
    baseline: Catalog | None = None,
    strict: bool = True,
    schemas: Iterable[str] | None = None,
) -> list[DriftRow]:
    """The differences between ``expected`` and ``live``, in repair order.

    Args:
        expected: what should be (the shadow database after the migrations).
        live: what is.
        baseline: the shadow before the migrations; with it, objects the
            migrations did not define are compared only when ``strict``.
        strict: compare the baseline's objects too, and report any extra object
            in the compared schemas (else only extras in ``public``, in schemas
            and on tables the migrations create, and policies and publication
            membership of tables the migrations touch; never default privileges,
            which a hosted project sets for its own roles).
        schemas: the schemas to compare (default: :func:`touched_schemas`).
    """
    scope = set(schemas) if schemas is not None else touched_schemas(expected, baseline)
    created_schemas = {"public"} | (
        set(expected.kind("schema")) - set(baseline.kind("schema"))
        if baseline is not None
        else set(expected.kind("schema"))
    )
    created_tables = set(expected.kind("table")) - (
        set(baseline.kind("table")) if baseline is not None else set()
    )
    touched_tables = _touched_tables(expected, baseline)
    rows: list[DriftRow] = []
    for kind in KINDS:
        mine, theirs = expected.kind(kind), live.kind(kind)
        base = baseline.kind(kind) if baseline is not None else {}
        for key in sorted(mine.keys() | theirs.keys()):
            e, lv, b = mine.get(key), theirs.get(key), base.get(key)
            entry = e or lv
            assert entry is not None
            if entry.schema is not None and entry.schema not in scope:
                continue
            if e is not None:
                defined = baseline is None or b is None or b.value != e.value
                if not (defined or strict):
                    continue
                if lv is None:
                    rows.append(_row(kind, e, None))
                elif lv.value != e.value:
                    rows.append(_row(kind, e, lv))
                continue
            assert lv is not None
            dropped_by_migrations = b is not None
            platform = kind == "default privilege"  # a hosted project has its own
            owned = (
                strict
                or dropped_by_migrations
                or (not platform and (lv.schema or "") in created_schemas)
                or (lv.table or "") in created_tables
                or (kind in ("policy", "publication") and (lv.table or "") in touched_tables)
            )
            if owned:
                rows.append(_row(kind, None, lv))
    return rows


def _touched_tables(expected: Catalog, baseline: Catalog | None) -> set[str]:
    tables: set[str] = set()
    for kind in KINDS:
        base = baseline.kind(kind) if baseline is not None else {}
        for key, e in expected.kind(kind).items():
            b = base.get(key)
            if e.table and (b is None or b.value != e.value):
                tables.add(e.table)
        for key, b in base.items():
            if b.table and key not in expected.kind(kind):
                tables.add(b.table)
    return tables


def _fields(entry: Entry, other: Entry | None) -> str:
    """The fields that differ (all, without ``other``), as the server printed them."""
    value, against = entry.value, (other.value if other is not None else None)
    names = [k for k in value if against is None or value.get(k) != against.get(k)]
    if against is not None:
        names += [k for k in against if k not in value]
    raw = entry.extra.get("raw") or value
    parts = []
    for name in names:
        item = raw.get(name, value.get(name))
        if isinstance(item, str):
            item = " ".join(item.split())
        if item in (None, False, "") and against is None:
            continue
        parts.append(f"{name}={_show(item)}")
    return "; ".join(parts) or "present"


def _show(item: Any) -> str:
    if isinstance(item, list):
        return ", ".join(str(i) for i in item) if item else "(none)"
    if item is None:
        return "(none)"
    return str(item)


def _row(kind: str, expected: Entry | None, live: Entry | None) -> DriftRow:
    entry = expected or live
    assert entry is not None
    if expected is None:
        change, repair = "extra", _drop(kind, entry)
        shown_e, shown_l = "", _fields(entry, None)
        if kind == "grant":
            repair = _grant_fix(entry, [], list(entry.value.get("privileges") or []))
        elif kind == "default privilege":
            repair = _default_fix(entry, [], list(entry.value.get("privileges") or []))
    elif live is None:
        change, repair = "missing", _create(kind, expected)
        shown_e, shown_l = _fields(expected, None), ""
    else:
        change, repair = "changed", _alter(kind, expected, live)
        shown_e, shown_l = _fields(expected, live), _fields(live, expected)
    return DriftRow(kind, entry.key, change, shown_e, shown_l, repair)


# --------------------------------------------------------------------------- repair hints


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _def(e: Entry) -> str:
    """The server's definition as it printed it (comparisons use the collapsed one)."""
    raw = e.extra.get("raw") or {}
    return str(raw.get("def") or e.value.get("def") or "").strip().rstrip(";")


def _create(kind: str, e: Entry) -> str:
    v, n = e.value, e.extra.get("n", "")
    if kind == "schema":
        return f"CREATE SCHEMA {e.key};"
    if kind == "extension":
        return f'CREATE EXTENSION IF NOT EXISTS "{e.key}" WITH SCHEMA {v.get("schema")};'
    if kind == "type":
        return _create_type(e)
    if kind == "sequence":
        return (
            f"CREATE SEQUENCE {e.key} AS {v['type']} INCREMENT BY {v['increment']} "
            f"MINVALUE {v['min']} MAXVALUE {v['max']} START WITH {v['start']} CACHE {v['cache']}"
            f"{' CYCLE' if v.get('cycle') else ''}; {_no_grants('SEQUENCE', e.key)}"
        )
    if kind == "table":
        return (
            f"CREATE TABLE {e.key} (); {_no_grants('TABLE', e.key)}"
            "  -- its columns, constraints, indexes and grants follow"
        )
    if kind == "publication settings":
        return (
            f"CREATE PUBLICATION {e.key}"
            f"{' FOR ALL TABLES' if v.get('all tables') else ''}"
            f" WITH (publish = {_lit(str(v.get('publish') or ''))});"
        )
    if kind == "column":
        return f"ALTER TABLE {e.table} ADD COLUMN {n} {_column_spec(v)};"
    if kind == "constraint":
        return f"ALTER TABLE {e.table} ADD CONSTRAINT {n} {_def(e)};"
    if kind == "function":
        word = "PROCEDURE" if _def(e).startswith("CREATE OR REPLACE PROCEDURE") else "FUNCTION"
        return f"{_def(e)};\n{_no_grants(word, e.key)}"
    if kind in ("index", "trigger"):
        statement = _def(e) + ";"
        if kind == "trigger" and v.get("enabled") == "disabled":
            statement += f" ALTER TABLE {e.table} DISABLE TRIGGER {n};"
        return statement
    if kind == "view":
        what = "MATERIALIZED VIEW" if v.get("kind") == "materialized view" else "VIEW"
        return f"CREATE {what} {e.key}{_with(v)} AS {_def(e)}; {_no_grants('TABLE', e.key)}"
    if kind == "rls":
        return _rls_fix(e, None)
    if kind == "policy":
        return _create_policy(e)
    if kind == "grant":
        return _grant_fix(e, list(v.get("privileges") or []), [])
    if kind == "default privilege":
        return _default_fix(e, list(v.get("privileges") or []), [])
    if kind == "publication":
        return f"ALTER PUBLICATION {n} ADD TABLE {e.table};"
    return f"-- restore {kind} {e.key}"


# How an extra object that belongs to a table is dropped: ``n`` its name, ``t`` the table.
_DROP_ON_TABLE = {
    "column": "ALTER TABLE {t} DROP COLUMN {n}",
    "constraint": "ALTER TABLE {t} DROP CONSTRAINT {n}",
    "trigger": "DROP TRIGGER {n} ON {t}",
    "policy": "DROP POLICY {n} ON {t}",
    "publication": "ALTER PUBLICATION {n} DROP TABLE {t}",
}


def _drop(kind: str, e: Entry) -> str:
    if kind in _DROP_ON_TABLE:
        return f"-- {_DROP_ON_TABLE[kind].format(n=e.extra.get('n', ''), t=e.table)};"
    if kind == "rls":
        return f"-- {e.key}: not created by the migrations"
    if kind == "view":
        what = "MATERIALIZED VIEW" if e.value.get("kind") == "materialized view" else "VIEW"
        return f"-- DROP {what} {e.key};"
    if kind == "function" and str(e.value.get("def", "")).startswith("CREATE OR REPLACE PROCEDURE"):
        return f"-- DROP PROCEDURE {e.key};"
    word = {"extension": "EXTENSION", "type": "TYPE", "publication settings": "PUBLICATION"}.get(
        kind, kind.upper()
    )
    name = f'"{e.key}"' if kind == "extension" else e.key
    return f"-- DROP {word} {name};"


def _alter(kind: str, e: Entry, lv: Entry) -> str:
    v, old, n = e.value, lv.value, e.extra.get("n", "")
    if kind == "column":
        parts: list[str] = []
        prefix = f"ALTER TABLE {e.table} ALTER COLUMN {n}"
        if v.get("type") != old.get("type") or v.get("collation") != old.get("collation"):
            collate = f" COLLATE {v['collation']}" if v.get("collation") else ""
            parts.append(f"{prefix} TYPE {v['type']}{collate};")
        if v.get("default") != old.get("default"):
            parts.append(
                f"{prefix} SET DEFAULT {v['default']};" if v.get("default") else
                f"{prefix} DROP DEFAULT;"
            )  # fmt: skip
        if v.get("not null") != old.get("not null"):
            parts.append(f"{prefix} {'SET' if v.get('not null') else 'DROP'} NOT NULL;")
        if v.get("identity") != old.get("identity"):
            parts.append(
                f"{prefix} ADD GENERATED {v['identity'].upper()} AS IDENTITY;"
                if v.get("identity") and not old.get("identity")
                else f"{prefix} DROP IDENTITY IF EXISTS;"
                if not v.get("identity")
                else f"{prefix} SET GENERATED {v['identity'].upper()};"
            )
        if v.get("generated") != old.get("generated"):
            parts.append(
                f"-- the generated expression differs: recreate {n} as "
                f"GENERATED ALWAYS AS ({v.get('generated')}) STORED"
            )
        return " ".join(parts)
    if kind == "constraint":
        return f"ALTER TABLE {e.table} DROP CONSTRAINT {n}; {_create(kind, e)}"
    if kind == "index":
        return f"DROP INDEX {e.key}; {_create(kind, e)}"
    if kind == "table":
        return _alter_table(e, lv)
    if kind == "function":
        word = "PROCEDURE" if _def(e).startswith("CREATE OR REPLACE PROCEDURE") else "FUNCTION"
        body = [] if _same_but(v, old, "owner") else [_def(e) + ";"]
        return " ".join(body + _owner(f"{word} {e.key}", v, old))
    if kind == "view":
        what = str(v.get("kind", "view")).upper()
        owner = _owner(f"{what} {e.key}", v, old)
        if _same_but(v, old, "owner"):
            return " ".join(owner)
        if v.get("kind") == "materialized view" or old.get("kind") != v.get("kind"):
            return " ".join(
                [
                    f"DROP {str(old.get('kind', 'view')).upper()} {e.key};",
                    f"CREATE {what} {e.key}{_with(v)} AS {_def(e)};",
                    *owner,
                ]
            )
        return " ".join([f"CREATE OR REPLACE VIEW {e.key}{_with(v)} AS {_def(e)};", *owner])
    if kind == "publication settings":
        if v.get("all tables") != old.get("all tables"):
            return f"-- {e.key}: FOR ALL TABLES differs; recreate it: {_create(kind, e)}"
        return f"ALTER PUBLICATION {e.key} SET (publish = {_lit(str(v.get('publish') or ''))});"
    if kind == "trigger":
        if v.get("def") == old.get("def"):
            mode = {"disabled": "DISABLE", "replica": "ENABLE REPLICA", "always": "ENABLE ALWAYS"}
            return f"ALTER TABLE {e.table} {mode.get(v['enabled'], 'ENABLE')} TRIGGER {n};"
        return f"DROP TRIGGER {n} ON {e.table}; {_create(kind, e)}"
    if kind == "rls":
        return _rls_fix(e, lv)
    if kind == "policy":
        return f"DROP POLICY {n} ON {e.table}; {_create_policy(e)}"
    if kind == "grant":
        return _grant_fix(e, list(v.get("privileges") or []), list(old.get("privileges") or []))
    if kind == "default privilege":
        want, have = set(v.get("privileges") or []), set(old.get("privileges") or [])
        return _default_fix(e, sorted(want - have), sorted(have - want))
    if kind == "extension":
        return f'ALTER EXTENSION "{e.key}" SET SCHEMA {v.get("schema")};'
    if kind == "sequence":
        return (
            f"ALTER SEQUENCE {e.key} AS {v['type']} INCREMENT BY {v['increment']} "
            f"MINVALUE {v['min']} MAXVALUE {v['max']} START WITH {v['start']} "
            f"CACHE {v['cache']} {'CYCLE' if v.get('cycle') else 'NO CYCLE'};"
        )
    if kind == "type" and "enum" in v and "enum" in old:
        missing = [x for x in v["enum"] or [] if x not in (old["enum"] or [])]
        if missing and all(x in v["enum"] for x in old["enum"] or []):
            return " ".join(
                f"ALTER TYPE {e.key} ADD VALUE IF NOT EXISTS {_lit(x)};" for x in missing
            )
        return f"-- the enum's values differ: recreate {e.key} as {_create_type(e)}"
    return f"-- recreate {kind} {e.key}: {_create(kind, e)}"


def _no_grants(word: str, name: str) -> str:
    # A re-created object gets the default privileges; the grant rows that follow
    # restore exactly what the migrations granted.
    return f"REVOKE ALL ON {word} {name} FROM PUBLIC, anon, authenticated, service_role;"


def _same_but(v: Mapping[str, Any], old: Mapping[str, Any], name: str) -> bool:
    return {k: x for k, x in v.items() if k != name} == {k: x for k, x in old.items() if k != name}


def _owner(what: str, v: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    if v.get("owner") and v.get("owner") != old.get("owner"):
        return [f"ALTER {what} OWNER TO {v['owner']};"]
    return []


def _alter_table(e: Entry, lv: Entry) -> str:
    v, old = e.value, lv.value
    parts = _owner(f"TABLE {e.key}", v, old)
    if v.get("replica identity") != old.get("replica identity"):
        identity = str(v.get("replica identity"))
        parts.append(
            f"ALTER TABLE {e.key} REPLICA IDENTITY {identity.upper()};"
            if identity != "index"
            else f"-- ALTER TABLE {e.key} REPLICA IDENTITY USING INDEX <the shadow's index>;"
        )
    if (v.get("options") or []) != (old.get("options") or []):
        gone = [o.split("=")[0] for o in old.get("options") or []]
        if gone:
            parts.append(f"ALTER TABLE {e.key} RESET ({', '.join(gone)});")
        if v.get("options"):
            parts.append(f"ALTER TABLE {e.key} SET ({', '.join(v['options'])});")
    if v.get("kind") != old.get("kind"):
        parts.append(f"-- {e.key}: a different kind of table (relkind {v.get('kind')})")
    return " ".join(parts)


def _with(v: Mapping[str, Any]) -> str:
    options = v.get("options") or []
    return f" WITH ({', '.join(options)})" if options else ""


def _column_spec(v: Mapping[str, Any]) -> str:
    spec = str(v["type"])
    if v.get("collation"):
        spec += f" COLLATE {v['collation']}"
    if v.get("generated"):
        spec += f" GENERATED ALWAYS AS ({v['generated']}) STORED"
    if v.get("identity"):
        spec += f" GENERATED {v['identity'].upper()} AS IDENTITY"
    if v.get("default"):
        spec += f" DEFAULT {v['default']}"
    if v.get("not null"):
        spec += " NOT NULL"
    return spec


def _create_type(e: Entry) -> str:
    v = e.value
    if "enum" in v:
        labels = ", ".join(_lit(x) for x in v["enum"] or [])
        return f"CREATE TYPE {e.key} AS ENUM ({labels});"
    if "domain" in v:
        parts = [f"CREATE DOMAIN {e.key} AS {v['domain']}"]
        if v.get("default"):
            parts.append(f"DEFAULT {v['default']}")
        if v.get("not null"):
            parts.append("NOT NULL")
        parts += list(v.get("check") or [])
        return " ".join(parts) + ";"
    return f"CREATE TYPE {e.key} AS ({', '.join(v.get('composite') or [])});"


def _rls_fix(e: Entry, lv: Entry | None) -> str:
    v, old = e.value, (lv.value if lv else {})
    parts = []
    if v.get("enabled") != old.get("enabled", False):
        parts.append(
            f"ALTER TABLE {e.key} {'ENABLE' if v.get('enabled') else 'DISABLE'} ROW LEVEL SECURITY;"
        )
    if v.get("forced") != old.get("forced", False):
        force = "FORCE" if v.get("forced") else "NO FORCE"
        parts.append(f"ALTER TABLE {e.key} {force} ROW LEVEL SECURITY;")
    return " ".join(parts)


def _create_policy(e: Entry) -> str:
    v = e.value
    roles = ", ".join(v.get("roles") or ["public"])
    statement = (
        f"CREATE POLICY {e.extra.get('n', '')} ON {e.table} "
        f"AS {'PERMISSIVE' if v.get('permissive', True) else 'RESTRICTIVE'} "
        f"FOR {v.get('cmd', 'ALL')} TO {roles}"
    )
    if v.get("using"):
        statement += f" USING ({v['using']})"
    if v.get("check"):
        statement += f" WITH CHECK ({v['check']})"
    return statement + ";"


def _split(names: list[str]) -> tuple[set[str], set[str]]:
    """Privileges, and those held WITH GRANT OPTION (``SELECT*`` in the catalog)."""
    return {p.rstrip("*") for p in names}, {p.rstrip("*") for p in names if p.endswith("*")}


def _grant_fix(e: Entry, want: list[str], have: list[str]) -> str:
    """GRANT and REVOKE statements that turn ``have`` into ``want``."""
    what = str(e.extra.get("n", ""))
    grantee = str(e.extra.get("g", ""))
    objtype, _, name = what.partition(" ")
    target, column = _grant_target(objtype, name)
    want_all, want_option = _split(want)
    have_all, have_option = _split(have)
    grant_option = sorted(want_option - have_option)
    grant = sorted(want_all - have_all - want_option)
    revoke = sorted(have_all - want_all)
    revoke_option = sorted((have_option - want_option) & want_all)
    parts = []
    if grant:
        parts.append(f"GRANT {_cols(grant, column)} ON {target} TO {grantee};")
    if grant_option:
        parts.append(
            f"GRANT {_cols(grant_option, column)} ON {target} TO {grantee} WITH GRANT OPTION;"
        )
    if revoke_option:
        parts.append(
            f"REVOKE GRANT OPTION FOR {_cols(revoke_option, column)} ON {target} FROM {grantee};"
        )
    if revoke:
        parts.append(f"REVOKE {_cols(revoke, column)} ON {target} FROM {grantee};")
    return " ".join(parts)


def _grant_target(objtype: str, name: str) -> tuple[str, str | None]:
    if objtype == "column":
        table, _, column = name.rpartition("(")
        return f"TABLE {table}", column.rstrip(")")
    word = {"table": "TABLE", "sequence": "SEQUENCE", "schema": "SCHEMA"}.get(objtype)
    return (f"{word} {name}" if word else f"{objtype.upper()} {name}"), None


def _cols(privileges: list[str], column: str | None) -> str:
    text = ", ".join(privileges)
    return f"{text} ({column})" if column else text


def _default_fix(e: Entry, grant: list[str], revoke: list[str]) -> str:
    role, grantee, objects = e.extra.get("n", ""), e.extra.get("g", ""), e.extra.get("o", "")
    prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {role}"
    if e.schema:
        prefix += f" IN SCHEMA {e.schema}"
    parts = []
    if grant:
        parts.append(f"{prefix} GRANT {', '.join(grant)} ON {objects} TO {grantee};")
    if revoke:
        parts.append(f"{prefix} REVOKE {', '.join(revoke)} ON {objects} FROM {grantee};")
    return " ".join(parts)
