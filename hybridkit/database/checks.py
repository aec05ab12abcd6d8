"""Schema checks and security lints: a :class:`MigrationReport` with ``.ok``.

The schema a project should have comes from the migrations themselves: the
shadow database they build is compared with the live one
(:func:`hybridkit.database.shadow.migration_drift`), and each difference becomes a
``drift:<kind>`` finding (the full rows, with repair statements, are in
:attr:`MigrationReport.drift`). ``checks.toml`` beside the migrations holds only
what the migrations cannot say — platform expectations — and the advisor
(splinter) security lints that run as plain SQL::

    [extensions]
    required = ["uuid-ossp"]
    optional = ["vector"]          # reported, never failed, where the server lacks it

The older hand-written entries below still work (a project's own checks.toml
may have them), but the kit's own file no longer needs them::

    [[indexes]]
    table = "public.file_uploads"
    name = "file_uploads_status_idx"

    [[policies]]
    table = "storage.objects"
    name = "hybridkit service role manages objects"

    [[publications]]
    name = "supabase_realtime"
    table = "public.file_uploads"

    [rls]
    tables = ["public.file_uploads"]

Checks never raise for a problem: they report it. Call
:meth:`MigrationReport.raise_for_problems` to turn problems into a
:class:`~hybridkit.errors.MigrationError`.

Example:
    >>> report = check(ledger, Expectations.load("migrations/checks.toml"))  # doctest: +SKIP
    >>> report.ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridkit._tables import text_table
from hybridkit.database.migrations import Ledger, MigrationStatus, State
from hybridkit.database.schema_diff import SchemaDiff
from hybridkit.errors import MigrationError

__all__ = ["LINTS", "Expectations", "Finding", "MigrationReport", "check"]

ERROR, WARNING, INFO = "error", "warning", "info"
_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Finding:
    """One checked fact.

    Attributes:
        check: the kind (``extension``, ``index``, ``policy``, ``publication``, ``rls``,
            ``migration``, or ``lint:<name>``).
        subject: what was checked (``public.file_uploads``, ``uuid-ossp``...).
        ok: whether it holds.
        severity: ``error`` (fails the report), ``warning`` or ``info``.
        detail: a sentence saying what was found.
    """

    check: str
    subject: str
    ok: bool
    severity: str = ERROR
    detail: str = ""

    @property
    def is_problem(self) -> bool:
        return not self.ok and self.severity == ERROR


@dataclass(frozen=True)
class MigrationReport:
    """The result of :func:`check`.

    Attributes:
        findings: every fact checked, passing ones included.
        target: where (no secrets).
        drift: the comparison with the migrations' shadow database, when it ran
            (its rows are also findings, ``drift:<kind>``).
    """

    findings: tuple[Finding, ...]
    target: str = ""
    drift: SchemaDiff | None = None

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.problems

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok and f.severity != ERROR]

    def table(self, *, show_passing: bool = True) -> str:
        """A readable table, problems first."""
        shown = [f for f in self.findings if show_passing or not f.ok]
        shown.sort(key=lambda f: (f.ok, _ORDER.get(f.severity, 3), f.check, f.subject))
        rows = [("ok" if f.ok else f.severity.upper(), f.check, f.subject, f.detail) for f in shown]
        lines = text_table(("RESULT", "CHECK", "SUBJECT", "DETAIL"), rows)
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines.append(
            f"{verdict}, {len(self.warnings)} warning(s), "
            f"{sum(f.ok for f in self.findings)} passed ({self.target})"
        )
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        """Raise :class:`MigrationError` naming every problem; do nothing when ok."""
        if self.ok:
            return
        listed = "; ".join(f"{f.check} {f.subject}: {f.detail}" for f in self.problems)
        raise MigrationError(f"{len(self.problems)} migration check(s) failed: {listed}")


@dataclass(frozen=True)
class Expectations:
    """What the database should contain (see the module docstring for the file format)."""

    required_extensions: tuple[str, ...] = ()
    optional_extensions: tuple[str, ...] = ()
    indexes: tuple[tuple[str, str], ...] = ()  # (schema.table, index name)
    policies: tuple[tuple[str, str], ...] = ()  # (schema.table, policy name)
    publications: tuple[tuple[str, str], ...] = ()  # (publication, schema.table)
    rls_tables: tuple[str, ...] = ()
    lints: bool = field(default=True)

    @classmethod
    def load(cls, path: str | Path) -> Expectations:
        """Read ``checks.toml``; a missing file means no expectations (lints still run)."""
        file = Path(path)
        if not file.is_file():
            return cls()
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise MigrationError(f"{file} is not valid TOML: {exc}") from None
        try:
            ext = data.get("extensions", {})
            return cls(
                required_extensions=tuple(ext.get("required", ())),
                optional_extensions=tuple(ext.get("optional", ())),
                indexes=tuple(
                    (_qualified(i["table"]), str(i["name"])) for i in data.get("indexes", ())
                ),
                policies=tuple(
                    (_qualified(p["table"]), str(p["name"])) for p in data.get("policies", ())
                ),
                publications=tuple(
                    (str(p["name"]), _qualified(p["table"])) for p in data.get("publications", ())
                ),
                rls_tables=tuple(_qualified(t) for t in data.get("rls", {}).get("tables", ())),
                lints=bool(data.get("lints", {}).get("enabled", True)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise MigrationError(f"{file}: malformed entry ({exc})") from None


def _qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


# --------------------------------------------------------------------------- catalog facts

_FACTS_SQL = """
SELECT json_build_object(
  'extensions', (SELECT coalesce(json_agg(extname), '[]') FROM pg_extension),
  'available', (SELECT coalesce(json_agg(name), '[]') FROM pg_available_extensions),
  'indexes', (SELECT coalesce(json_agg(json_build_array(
                   schemaname || '.' || tablename, indexname)), '[]') FROM pg_indexes),
  'policies', (SELECT coalesce(json_agg(json_build_array(
                   schemaname || '.' || tablename, policyname)), '[]') FROM pg_policies),
  'publications', (SELECT coalesce(json_agg(json_build_array(
                   pubname, schemaname || '.' || tablename)), '[]') FROM pg_publication_tables),
  'all_tables_publications', (SELECT coalesce(json_agg(pubname), '[]')
                                FROM pg_publication WHERE puballtables),
  'publication_names', (SELECT coalesce(json_agg(pubname), '[]') FROM pg_publication),
  'tables', (SELECT coalesce(json_agg(json_build_array(
                   n.nspname || '.' || c.relname, c.relrowsecurity)), '[]')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p'))
) AS facts
"""


def _facts(ledger: Ledger) -> dict[str, Any]:
    rows = ledger.query(_FACTS_SQL)
    facts = rows[0]["facts"] if rows else {}
    if isinstance(facts, str):  # some drivers hand json back as text
        import json

        facts = json.loads(facts)
    return dict(facts)


def _schema_findings(exp: Expectations, facts: dict[str, Any]) -> Iterable[Finding]:
    installed = set(facts.get("extensions", []))
    available = set(facts.get("available", []))
    for name in exp.required_extensions:
        yield Finding(
            "extension",
            name,
            name in installed,
            ERROR,
            "installed" if name in installed else "required extension is not installed",
        )
    for name in exp.optional_extensions:
        if name in installed:
            yield Finding("extension", name, True, INFO, "installed (optional)")
        elif name in available:
            yield Finding(
                "extension", name, False, WARNING, "available but not installed (optional)"
            )
        else:
            yield Finding("extension", name, False, INFO, "not available on this server (optional)")
    indexes = {tuple(i) for i in facts.get("indexes", [])}
    for table, name in exp.indexes:
        found = (table, name) in indexes
        yield Finding("index", f"{table}: {name}", found, ERROR, "present" if found else "missing")
    policies = {tuple(p) for p in facts.get("policies", [])}
    for table, name in exp.policies:
        found = (table, name) in policies
        yield Finding("policy", f"{table}: {name}", found, ERROR, "present" if found else "missing")
    members = {tuple(p) for p in facts.get("publications", [])}
    everything = set(facts.get("all_tables_publications", []))
    names = set(facts.get("publication_names", []))
    for publication, table in exp.publications:
        if publication not in names:
            yield Finding(
                "publication", f"{publication}: {table}", False, ERROR, "no such publication"
            )
            continue
        member = (publication, table) in members or publication in everything
        yield Finding(
            "publication",
            f"{publication}: {table}",
            member,
            ERROR,
            "member" if member else "the table is not in the publication",
        )
    rls = {t: bool(on) for t, on in facts.get("tables", [])}
    for table in exp.rls_tables:
        if table not in rls:
            yield Finding("rls", table, False, ERROR, "no such table")
        else:
            yield Finding(
                "rls",
                table,
                rls[table],
                ERROR,
                "row level security enabled" if rls[table] else "row level security is disabled",
            )


# --------------------------------------------------------------------------- lints

# Schemas Supabase manages; lints look at user schemas only.
_SYSTEM_SCHEMAS = (
    "'auth','cron','extensions','graphql','graphql_public','information_schema','net','pgmq',"
    "'pgroonga','pgsodium','pgsodium_masks','pgtle','pgbouncer','pg_catalog','pg_toast',"
    "'realtime','repack','storage','supabase_functions','supabase_migrations','vault',"
    "'_realtime','_analytics','_supavisor','_hybridkit','tiger','topology'"
)
# The API's schemas: PostgREST's db_schemas where known, else public (as the CLI assumes).
_EXPOSED = """ARRAY(SELECT trim(s) FROM unnest(string_to_array(coalesce(
  nullif(current_setting('pgrst.db_schemas', true), ''),
  (SELECT substr(c, 18) FROM pg_db_role_setting st, unnest(st.setconfig) c
    WHERE st.setrole = (SELECT oid FROM pg_roles WHERE rolname = 'authenticator')
      AND c LIKE 'pgrst.db\\_schemas=%' LIMIT 1),
  'public'), ',')) s)"""
_API_ROLES = "(SELECT array_agg(oid) FROM pg_roles WHERE rolname IN ('anon', 'authenticated'))"
# The relation ``c`` is readable by the API's roles.
_API_READABLE = """(has_table_privilege('anon', c.oid, 'SELECT')
                  OR has_table_privilege('authenticated', c.oid, 'SELECT'))"""


def _relations(detail: str, where: str, *, join: str = "") -> str:
    """The lint query over the relations ``c`` (schema ``n``) that match ``where``: each one as
    ``subject``, with ``detail``. ``join`` adds tables to match on; as they may match a relation
    more than once, it is then listed once (``DISTINCT``)."""
    text = detail.replace("'", "''")
    return f"""SELECT {"DISTINCT " if join else ""}n.nspname || '.' || c.relname AS subject,
                  '{text}' AS detail
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace{join}
           WHERE {where}"""


def _readable_in_api(relkind: str, noun: str) -> str:
    """The exposed relations of one ``relkind`` the API's roles can read (they have no RLS)."""
    return _relations(
        f"{noun} is readable through the API (no RLS)",
        f"c.relkind = '{relkind}' AND n.nspname = ANY({_EXPOSED}) AND {_API_READABLE}",
    )


def _definer_callable_by(role: str, who: str) -> str:
    """The exposed SECURITY DEFINER functions ``role`` may execute."""
    return f"""SELECT n.nspname || '.' || p.proname AS subject,
                  'SECURITY DEFINER function can be called by {who}' AS detail
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.prosecdef AND n.nspname = ANY({_EXPOSED})
             AND has_function_privilege('{role}', p.oid, 'EXECUTE')"""


# name -> (splinter level, SQL returning subject and detail). Written for hybridkit from
# splinter's documented rules; each selects what the advisor would flag.
LINTS: dict[str, tuple[str, str]] = {
    "auth_users_exposed": (
        "ERROR",
        _relations(
            "view exposes auth.users to anon or authenticated",
            f"c.relkind IN ('v', 'm') AND n.nspname = ANY({_EXPOSED}) AND {_API_READABLE}",
            join="""
            JOIN pg_rewrite r ON r.ev_class = c.oid
            JOIN pg_depend d ON d.objid = r.oid AND d.refobjid = 'auth.users'::regclass""",
        ),
    ),
    "policy_exists_rls_disabled": (
        "ERROR",
        _relations(
            "policies exist but row level security is disabled",
            f"NOT c.relrowsecurity AND n.nspname NOT IN ({_SYSTEM_SCHEMAS})",
            join="""
            JOIN pg_policy p ON p.polrelid = c.oid""",
        ),
    ),
    "rls_enabled_no_policy": (
        "INFO",
        _relations(
            "row level security is enabled but there are no policies",
            f"""c.relkind = 'r' AND c.relrowsecurity AND n.nspname NOT IN ({_SYSTEM_SCHEMAS})
             AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)""",
        ),
    ),
    "security_definer_view": (
        "ERROR",
        _relations(
            "view runs with its owner's rights (no security_invoker)",
            f"""c.relkind = 'v' AND n.nspname = ANY({_EXPOSED})
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
             AND NOT coalesce(c.reloptions && ARRAY['security_invoker=true', 'security_invoker=on',
                                                    'security_invoker=1'], false)""",
        ),
    ),
    "function_search_path_mutable": (
        "WARN",
        f"""SELECT n.nspname || '.' || p.proname AS subject,
                  'function has a role-mutable search_path' AS detail
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ({_SYSTEM_SCHEMAS})
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
             AND NOT coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) cfg
                                      WHERE cfg LIKE 'search\\_path=%'), false)""",
    ),
    "rls_disabled_in_public": (
        "ERROR",
        _relations(
            "table is reachable through the API but row level security is disabled",
            f"""c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
             AND n.nspname = ANY({_EXPOSED})
             AND {_API_READABLE}""",
        ),
    ),
    "extension_in_public": (
        "WARN",
        """SELECT e.extname AS subject, 'extension is installed in the public schema' AS detail
            FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
           WHERE n.nspname = 'public'""",
    ),
    "rls_references_user_metadata": (
        "ERROR",
        """SELECT schemaname || '.' || tablename || ': ' || policyname AS subject,
                  'policy reads user_metadata, which users can edit' AS detail
            FROM pg_policies
           WHERE coalesce(qual, '') || coalesce(with_check, '') ILIKE '%user_metadata%'""",
    ),
    "materialized_view_in_api": ("WARN", _readable_in_api("m", "materialized view")),
    "foreign_table_in_api": ("WARN", _readable_in_api("f", "foreign table")),
    "sensitive_columns_exposed": (
        "ERROR",
        f"""SELECT DISTINCT n.nspname || '.' || c.relname AS subject,
                  'table without RLS has sensitive-looking column ' || a.attname AS detail
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY({_EXPOSED})
             AND {_API_READABLE}
             AND lower(a.attname) ~ ('^(password|passwd|secret|api_key|apikey|access_token|'
                                     'refresh_token|ssn|social_security_number|credit_card|'
                                     'card_number|cvv|iban|tax_id)$')""",
    ),
    "rls_policy_always_true": (
        "WARN",
        f"""SELECT n.nspname || '.' || c.relname || ': ' || p.polname AS subject,
                  'permissive policy for anon/authenticated is always true on writes' AS detail
            FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relrowsecurity AND p.polpermissive AND n.nspname NOT IN ({_SYSTEM_SCHEMAS})
             AND (p.polroles = ARRAY[0::oid] OR p.polroles && {_API_ROLES})
             AND (
               (p.polcmd IN ('w', 'd', '*') AND (p.polqual IS NULL OR
                  regexp_replace(lower(pg_get_expr(p.polqual, p.polrelid)), '\\s', '', 'g')
                    IN ('true', '(true)', '1=1', '(1=1)')))
               OR (p.polcmd IN ('a', 'w', '*') AND p.polwithcheck IS NOT NULL AND
                  regexp_replace(lower(pg_get_expr(p.polwithcheck, p.polrelid)), '\\s', '', 'g')
                    IN ('true', '(true)', '1=1', '(1=1)'))
               OR (p.polcmd = 'a' AND p.polwithcheck IS NULL))""",
    ),
    "public_bucket_allows_listing": (
        "WARN",
        """SELECT b.id || ': ' || p.policyname AS subject,
                  'public bucket has a broad SELECT policy: clients can list every file' AS detail
            FROM storage.buckets b JOIN pg_policies p
              ON p.schemaname = 'storage' AND p.tablename = 'objects'
           WHERE b.public AND p.cmd IN ('SELECT', 'ALL') AND p.permissive = 'PERMISSIVE'
             AND (p.roles && ARRAY['public', 'anon', 'authenticated']::name[])
             AND (p.qual IS NULL
                  OR regexp_replace(lower(p.qual), '\\s', '', 'g')
                       IN ('true', '(true)', '1=1', '(1=1)')
                  OR regexp_replace(lower(p.qual), '[\\s()]', '', 'g')
                       = 'bucket_id=''' || lower(b.id) || '''::text')""",
    ),
    "anon_security_definer_function_executable": ("WARN", _definer_callable_by("anon", "anon")),
    "authenticated_security_definer_function_executable": (
        "WARN",
        _definer_callable_by("authenticated", "authenticated users"),
    ),
}
_LEVELS = {"ERROR": ERROR, "WARN": WARNING, "INFO": INFO}


def _lint_findings(ledger: Ledger) -> Iterable[Finding]:
    has_storage = ledger.query("SELECT to_regclass('storage.buckets') IS NOT NULL AS ok")
    for name, (level, query) in LINTS.items():
        if name == "public_bucket_allows_listing" and not (has_storage and has_storage[0]["ok"]):
            continue
        for row in ledger.query(query):
            yield Finding(
                f"lint:{name}", str(row["subject"]), False, _LEVELS[level], str(row["detail"])
            )


def _status_findings(status: MigrationStatus) -> Iterable[Finding]:
    for entry in status.entries:
        subject = f"{entry.version}_{entry.name}"
        if entry.state in (State.APPLIED, State.APPLIED_ELSEWHERE):
            yield Finding("migration", subject, True, INFO, entry.note or "applied")
        elif entry.state is State.PENDING:
            # The database lacks what the repository says it has: a problem (exit 1 of
            # `migrate check`), named as pending rather than as drift of every object.
            yield Finding(
                "migration",
                subject,
                False,
                ERROR,
                "pending: not applied yet (hybridkit migrate up)",
            )
        else:
            yield Finding("migration", subject, False, ERROR, f"{entry.state.value}: {entry.note}")


def check(
    ledger: Ledger,
    expectations: Expectations | None = None,
    *,
    status: MigrationStatus | None = None,
    lints: bool | None = None,
    drift: SchemaDiff | None = None,
) -> MigrationReport:
    """Check the database behind ``ledger``.

    Args:
        ledger: where to look (read-only queries only).
        expectations: what must exist; none when omitted.
        status: a migration status to fold in (drift and pending migrations).
        lints: run the security lints (default: as the expectations say, else yes).
        drift: the shadow comparison to fold in (:func:`hybridkit.database.shadow.migration_drift`).
    """
    exp = expectations or Expectations()
    findings: list[Finding] = []
    if status is not None:
        findings.extend(_status_findings(status))
    findings.extend(_schema_findings(exp, _facts(ledger)))
    if drift is not None:
        findings.extend(_drift_findings(drift))
    if exp.lints if lints is None else lints:
        findings.extend(_lint_findings(ledger))
    return MigrationReport(tuple(findings), ledger.target, drift)


def _drift_findings(drift: SchemaDiff) -> Iterable[Finding]:
    if drift.ok:
        yield Finding(
            "drift",
            "schema",
            True,
            INFO,
            f"matches the migrations ({drift.compared} objects in {', '.join(drift.schemas)})",
        )
    for row in drift.rows:
        what = row.expected if row.change == "missing" else row.live
        if row.change == "changed":
            what = f"expected {row.expected}, live {row.live}"
        yield Finding(f"drift:{row.kind}", row.object, False, ERROR, f"{row.change}: {what}")
