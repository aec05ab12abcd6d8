"""The expected schema, built by the migrations themselves in a shadow database.

:func:`migration_drift` is what ``hybridkit migrate check`` runs: it creates a
throwaway database with the Supabase baseline the local stack bootstraps
(roles, ``auth``/``storage`` schemas, the ``supabase_realtime`` publication —
``hybridkit/local/sql``), snapshots it, applies the migration files in order,
snapshots it again and compares that with the live database
(:func:`hybridkit.database.schema_diff.diff_catalogs`). The shadow is never made on the
target itself:

* a target on a loopback server where we are superuser (the local stack, a
  branch of it) gets a throwaway database on that same server — the live
  database grew from the very same baseline, so everything is compared;
* a target that is plain PostgreSQL (no ``auth`` and ``storage`` schemas) gets a
  shadow from the server's plain ``template1`` instead of the Supabase baseline;
* any other target gets a throwaway database on ``shadow_url`` when given (a
  PostgreSQL server where we are superuser), else on a temporary private
  cluster started for the check and removed after it; only what the migrations
  define is compared there, since a hosted project's own schemas differ from
  the local baseline in details the migrations never touched.

:func:`database_diff` compares two live databases the same way (``hybridkit
branches diff``).

Example:
    >>> diff = migration_drift("migrations", ledger)  # doctest: +SKIP
    >>> diff.ok, [r.object for r in diff.rows]  # doctest: +SKIP
    (False, ['public.file_uploads_bucket_path_idx'])
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from hybridkit.database.migrations import Migration, load_migrations
from hybridkit.database.schema_diff import (
    Catalog,
    SchemaDiff,
    diff_catalogs,
    snapshot,
    touched_schemas,
)
from hybridkit.errors import MigrationError

if TYPE_CHECKING:
    from hybridkit.database.migrations import Ledger

__all__ = ["Shadow", "build_shadow", "database_diff", "migration_drift", "shadow_server"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", ""})
Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Shadow:
    """The shadow's catalog before (``baseline``) and after (``expected``) the migrations."""

    baseline: Catalog
    expected: Catalog
    seconds: float


def _is_local_superuser(url: str) -> bool:
    info = conninfo_to_dict(url)
    host = str(info.get("host") or "")
    if host not in _LOOPBACK and not host.startswith("/"):
        return False
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


@contextlib.contextmanager
def shadow_server(
    *, target_url: str | None = None, shadow_url: str | None = None
) -> Iterator[tuple[str, bool]]:
    """A superuser URL of a server to build the shadow on, and whether it is the target's.

    Raises:
        MigrationError: no server can be had (no PostgreSQL binaries for a
            temporary cluster, and no ``shadow_url``).
    """
    if shadow_url:
        yield shadow_url, False
        return
    if target_url and _is_local_superuser(target_url):
        yield target_url, True
        return
    from hybridkit.local.postgres import Cluster, PostgresError, free_port

    folder = Path(tempfile.mkdtemp(prefix="hybridkit-shadow-"))
    cluster: Cluster | None = None
    try:
        try:
            cluster = Cluster(folder, port=free_port())
            cluster.ensure_initialized()
            cluster.start()
        except PostgresError as exc:
            raise MigrationError(
                f"cannot start a temporary PostgreSQL for the shadow database ({exc}); "
                "pass --shadow-url with a PostgreSQL server where you are superuser"
            ) from None
        yield cluster.dsn, False
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
            with contextlib.suppress(Exception):
                cluster.remove()
        shutil.rmtree(folder, ignore_errors=True)


def _baseline_sql() -> list[tuple[str, str]]:
    # The local stack's baseline is the Supabase one it bootstraps every database with.
    folder = resources.files("hybridkit.local") / "sql"
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)
    return [(e.name, e.read_text(encoding="utf-8")) for e in entries]


def _query(conn: psycopg.Connection[dict[str, Any]]) -> Query:
    def run(statement: str) -> list[dict[str, Any]]:
        return list(conn.execute(statement.encode()).fetchall())

    return run


def build_shadow(
    migrations: Sequence[Migration],
    server_url: str,
    *,
    search_path: str = "",
    supabase: bool = True,
) -> Shadow:
    """Apply ``migrations`` to a fresh baseline database on ``server_url``; drop it after.

    Args:
        migrations: in the order to apply them.
        server_url: a superuser URL of the server (never the target's database).
        search_path: the live session's, so both sides deparse names alike.
        supabase: start from the Supabase baseline (else from the server's plain
            ``template1``, for a target that is a plain PostgreSQL database).

    Raises:
        MigrationError: the baseline or a migration failed on the fresh database.
        HybridError: the server refused (e.g. no right to create a database), as
            :func:`hybridkit.database.pg_error` translates it.
    """
    try:
        return _build(migrations, server_url, search_path=search_path, supabase=supabase)
    except psycopg.Error as exc:
        from hybridkit.database.client import pg_error

        raise pg_error(exc, "build the shadow database") from None


def _build(
    migrations: Sequence[Migration], server_url: str, *, search_path: str, supabase: bool
) -> Shadow:
    started = time.perf_counter()
    name = f"{_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
    ident = pgsql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin:
        _sweep(admin)
        template = pgsql.Identifier("template0" if supabase else "template1")
        admin.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(ident, template))
    try:
        url = make_conninfo(server_url, dbname=name)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            for file, text in _baseline_sql() if supabase else ():
                try:
                    conn.execute(text.encode())
                except psycopg.Error as exc:
                    raise MigrationError(f"shadow baseline {file} failed: {exc}") from None
            if search_path:
                conn.execute("SELECT set_config('search_path', %s, false)", [search_path])
            baseline = snapshot(_query(conn))
            for migration in migrations:
                _apply(conn, migration)
            if search_path:
                conn.execute("SELECT set_config('search_path', %s, false)", [search_path])
            expected = snapshot(_query(conn))
    finally:
        # When this fails, the next check on this server sweeps it (see _sweep).
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin,
        ):
            admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    return Shadow(baseline, expected, time.perf_counter() - started)


_PREFIX = "hybridkit_shadow_"
_ABANDONED_AFTER = 3600  # seconds: no check takes that long; a killed one left its shadow


def _sweep(admin: psycopg.Connection[Any]) -> None:
    """Drop shadows an interrupted check left behind (their names carry their birth time)."""
    rows = admin.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", [_PREFIX.replace("_", r"\_") + "%"]
    ).fetchall()
    for (datname,) in rows:
        born = datname[len(_PREFIX) :].split("_")[0]
        if born.isdigit() and time.time() - int(born) > _ABANDONED_AFTER:
            with contextlib.suppress(psycopg.Error):
                admin.execute(
                    pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        pgsql.Identifier(datname)
                    )
                )


def _apply(conn: psycopg.Connection[dict[str, Any]], migration: Migration) -> None:
    with conn.transaction():
        for number, statement in enumerate(migration.statements, 1):
            try:
                conn.execute(statement.encode())
            except psycopg.Error as exc:
                primary = exc.diag.message_primary or str(exc).strip()
                raise MigrationError(
                    f"the migrations do not apply to a fresh database: {migration.filename} "
                    f"failed at statement {number}: {primary} (SQLSTATE {exc.sqlstate})",
                    code=exc.sqlstate,
                ) from None


def migration_drift(
    folder: str | Path,
    ledger: Ledger,
    *,
    target_url: str | None = None,
    shadow_url: str | None = None,
    strict: bool | None = None,
    pending: bool = False,
) -> SchemaDiff:
    """The live database behind ``ledger`` against the shadow the migrations build.

    The shadow applies the migrations the ledger records as applied: a pending
    migration is reported as pending (by the status), not as drift of every object
    it would create. ``pending=True`` applies every file (for a database whose
    migrations were run by hand, with no ledger).

    Args:
        folder: the migrations folder.
        ledger: the live database (read-only queries only).
        target_url: its direct URL when known: a loopback target where we are
            superuser hosts the shadow on its own server.
        shadow_url: a PostgreSQL server (superuser) to build the shadow on.
        strict: compare the baseline's objects too (default: when the shadow
            shares the target's server, hence its baseline).
        pending: apply the pending migrations to the shadow too.

    Raises:
        MigrationError: a migration does not apply to the fresh shadow, or no
            server for the shadow can be had.

    Example:
        >>> diff = migration_drift("migrations", ledger, target_url=url)  # doctest: +SKIP
        >>> print(diff.repair_script())  # doctest: +SKIP
        CREATE INDEX file_uploads_bucket_path_idx ON public.file_uploads USING btree (bucket, path);
    """
    started = time.perf_counter()
    migrations, _skipped = load_migrations(folder)
    held_back = 0
    if not pending:
        applied = {row.version for row in ledger.fetch()}
        held_back = sum(m.version not in applied for m in migrations)
        migrations = [m for m in migrations if m.version in applied]
    live = snapshot(ledger.query)
    # A Supabase database (local or hosted) has auth and storage; anything else is plain
    # PostgreSQL, and its shadow starts plain too, or the baseline's grants would report.
    supabase = {"auth", "storage"} <= set(live.kind("schema"))
    with shadow_server(target_url=target_url, shadow_url=shadow_url) as (server, same):
        shadow = build_shadow(migrations, server, search_path=live.search_path, supabase=supabase)
    exact = same if strict is None else strict
    schemas = touched_schemas(shadow.expected, shadow.baseline)
    rows = diff_catalogs(
        shadow.expected, live, baseline=shadow.baseline, strict=exact, schemas=schemas
    )
    where = "the target's server" if same else "a separate server"
    return SchemaDiff(
        tuple(rows),
        expected=(
            f"the shadow of {Path(folder)} ({len(migrations)} applied migrations"
            + (f"; {held_back} pending, not compared" if held_back else "")
            + f", on {where})"
        ),
        live=ledger.target,
        schemas=tuple(sorted(schemas)),
        compared=len(shadow.expected),
        seconds=time.perf_counter() - started,
    )


def database_diff(
    expected: Query,
    live: Query,
    *,
    expected_name: str,
    live_name: str,
) -> SchemaDiff:
    """Two live databases compared: rows say how to make ``live`` look like ``expected``."""
    started = time.perf_counter()
    want, have = snapshot(expected), snapshot(live)
    schemas = touched_schemas(want, None) | touched_schemas(have, None)
    schemas.discard("_hybridkit")  # the local stack's own bookkeeping differs per database
    rows = diff_catalogs(want, have, strict=True, schemas=schemas)
    return SchemaDiff(
        tuple(rows),
        expected=expected_name,
        live=live_name,
        schemas=tuple(sorted(schemas)),
        compared=len(want),
        seconds=time.perf_counter() - started,
    )
