"""``GET /v1/projects/{ref}/advisors/{security|performance}``: a few splinter lints as SQL.

The hosted endpoint runs Supabase's splinter lints plus platform checks. The
local stack answers with a small, independently written subset — enough for a
client to see real lints about real tables: policies on tables without RLS,
RLS without policies, exposed tables without RLS, views that run as their owner,
functions with a mutable search_path (security); tables without a primary key
and foreign keys without an index (performance).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

__all__ = ["LINTS", "run_advisors"]

_EXPOSED = """
  ARRAY(SELECT trim(s)
     FROM unnest(string_to_array(coalesce(
       (SELECT substr(cfg, length('pgrst.db_schemas=') + 1)
          FROM pg_db_role_setting st, unnest(st.setconfig) AS cfg
         WHERE st.setrole = (SELECT oid FROM pg_roles WHERE rolname = 'authenticator')
           AND cfg LIKE 'pgrst.db\\_schemas=%' LIMIT 1),
       'public'), ',')) AS s)
"""
_SYSTEM = (
    "('auth','cron','extensions','graphql','graphql_public','information_schema','net','pgmq',"
    "'pgsodium','pgsodium_masks','pgbouncer','pg_catalog','pg_toast','realtime','storage',"
    "'supabase_functions','supabase_migrations','vault','_hybridkit')"
)


def _relations(detail: str, where: str) -> str:
    """The lint query over relations (``c``, schema ``n``) that match ``where``: their schema,
    name and ``detail``, a text whose ``%s.%s`` is the relation."""
    return f"""SELECT n.nspname AS schema, c.relname AS name,
              format('{detail}', n.nspname, c.relname) AS detail
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE {where}"""


# name -> (category, level, title, SQL returning schema, name, detail)
LINTS: dict[str, tuple[str, str, str, str]] = {
    "policy_exists_rls_disabled": (
        "SECURITY",
        "ERROR",
        "Policy Exists RLS Disabled",
        f"""SELECT DISTINCT n.nspname AS schema, c.relname AS name,
              format('Table `%s.%s` has RLS policies but RLS is not enabled on the table.',
                     n.nspname, c.relname) AS detail
            FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE NOT c.relrowsecurity AND n.nspname NOT IN {_SYSTEM}""",
    ),
    "rls_enabled_no_policy": (
        "SECURITY",
        "INFO",
        "RLS Enabled No Policy",
        _relations(
            "Table `%s.%s` has RLS enabled, but no policies exist",
            f"""c.relkind = 'r' AND c.relrowsecurity AND n.nspname NOT IN {_SYSTEM}
             AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)""",
        ),
    ),
    "rls_disabled_in_public": (
        "SECURITY",
        "ERROR",
        "RLS Disabled in Public",
        _relations(
            "Table `%s.%s` is public, but RLS has not been enabled.",
            f"""c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
             AND n.nspname::text = ANY({_EXPOSED})
             AND (has_table_privilege('anon', c.oid, 'SELECT')
                  OR has_table_privilege('authenticated', c.oid, 'SELECT'))""",
        ),
    ),
    "security_definer_view": (
        "SECURITY",
        "ERROR",
        "Security Definer View",
        _relations(
            "View `%s.%s` is defined with the SECURITY DEFINER property",
            f"""c.relkind = 'v' AND n.nspname::text = ANY({_EXPOSED})
             AND NOT coalesce(c.reloptions::text[] && ARRAY['security_invoker=true',
                                                            'security_invoker=on',
                                                            'security_invoker=1'], false)""",
        ),
    ),
    "function_search_path_mutable": (
        "SECURITY",
        "WARN",
        "Function Search Path Mutable",
        f"""SELECT n.nspname AS schema, p.proname AS name,
              format('Function `%s.%s` has a role mutable search_path', n.nspname, p.proname)
                AS detail
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN {_SYSTEM}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
             AND NOT coalesce(EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                                      WHERE c LIKE 'search\\_path=%'), false)""",
    ),
    "no_primary_key": (
        "PERFORMANCE",
        "INFO",
        "No Primary Key",
        _relations(
            "Table `%s.%s` does not have a primary key",
            f"""c.relkind = 'r' AND n.nspname NOT IN {_SYSTEM}
             AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.objid = c.oid AND d.deptype = 'e')""",
        ),
    ),
    "unindexed_foreign_keys": (
        "PERFORMANCE",
        "INFO",
        "Unindexed foreign keys",
        f"""SELECT n.nspname AS schema, c.relname AS name,
              format('Table `%s.%s` has a foreign key `%s` without a covering index.',
                     n.nspname, c.relname, con.conname) AS detail
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE con.contype = 'f' AND n.nspname NOT IN {_SYSTEM}
             AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = con.conrelid
                             AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] = con.conkey)""",
    ),
}


async def run_advisors(conn: AsyncConnection[DictRow], category: str) -> list[dict[str, Any]]:
    """Every lint of ``category`` (``SECURITY`` or ``PERFORMANCE``) that finds something."""
    lints: list[dict[str, Any]] = []
    for name, (lint_category, level, title, query) in LINTS.items():
        if lint_category != category:
            continue
        rows = await (await conn.execute(query.encode())).fetchall()
        for row in rows:
            lints.append(
                {
                    "name": name,
                    "title": title,
                    "level": level,
                    "facing": "EXTERNAL",
                    "categories": [category],
                    "description": title,
                    "detail": row["detail"],
                    "remediation": "https://supabase.com/docs/guides/database/database-linter"
                    f"?lint={name}",
                    "metadata": {"schema": row["schema"], "name": row["name"], "type": "table"},
                    "cache_key": f"{name}_{row['schema']}_{row['name']}",
                }
            )
    return lints
