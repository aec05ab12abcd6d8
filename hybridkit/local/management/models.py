"""State behind the Management API subset: databases per project ref, the ledger, branches.

The stack answers to one project ref (``local`` by default). Each branch is a
PostgreSQL database of the same cluster, ``branch_<ref>``, created from a
template database that holds the stack's baseline (``hybridkit/local/sql``) —
a fresh Supabase project, as a hosted branch is — after which the parent's
migrations are replayed from its ledger. So a branch has the parent's schema
but none of its data, as on Supabase. Branch bookkeeping lives in
``_hybridkit.branches`` of the main database.

Every request opens its own connection (superuser, or ``supabase_read_only_user``
for read-only queries), so nothing a query sets can leak into the next one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import ipaddress
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row

from hybridkit.local.management.errors import ManagementError

__all__ = ["LEDGER_DDL", "Branch", "Databases", "LedgerRow", "jsonable"]

MAIN_DATABASE = "postgres"
TEMPLATE_DATABASE = "hybridkit_branch_template"
READ_ONLY_USER = "supabase_read_only_user"
_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
_READ_ONLY_PASSWORD = "postgres"  # the Supabase CLI's local password for its service users

# The Supabase CLI's ledger (pkg/migration/history.go), so `supabase migration list` agrees.
LEDGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)


@dataclass(frozen=True)
class LedgerRow:
    """One row of ``supabase_migrations.schema_migrations``."""

    version: str
    name: str | None
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Branch:
    """A row of ``_hybridkit.branches``."""

    id: str
    name: str
    project_ref: str
    parent_project_ref: str
    database: str
    status: str
    git_branch: str | None
    persistent: bool
    created_at: str
    updated_at: str

    def to_json(self, *, is_default: bool = False) -> dict[str, Any]:
        """The hosted API's ``BranchResponse``."""
        return {
            "id": self.id,
            "name": self.name,
            "project_ref": self.project_ref,
            "parent_project_ref": self.parent_project_ref,
            "is_default": is_default,
            "git_branch": self.git_branch,
            "persistent": self.persistent,
            "status": self.status,
            "with_data": False,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def jsonable(value: Any) -> Any:
    """A query result value as the hosted API renders it in JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and "E" not in str(value)
            else float(value)
        )
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _baseline() -> list[tuple[str, str]]:
    folder = resources.files("hybridkit.local") / "sql"
    files = sorted((e for e in folder.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)
    return [(e.name, e.read_text(encoding="utf-8")) for e in files]


def _new_ref() -> str:
    # Hosted refs are 20 lowercase letters.
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(20))


class Databases:
    """Connections per project ref, the ledger, and branches.

    Args:
        dsn: the superuser DSN of the main database.
        project_ref: the ref the main database answers to.
    """

    def __init__(self, dsn: str, project_ref: str) -> None:
        self.dsn = dsn
        self.project_ref = project_ref
        self._template_ready = False
        # CREATE DATABASE ... TEMPLATE fails while anyone else uses the template:
        # branch creation and resets go one at a time.
        self._lock = asyncio.Lock()

    # -- connections -----------------------------------------------------------------------

    @property
    def host(self) -> tuple[str, int]:
        info = conninfo_to_dict(self.dsn)
        return str(info.get("host") or "127.0.0.1"), int(str(info.get("port") or 5432))

    @asynccontextmanager
    async def connect(
        self, database: str, *, read_only: bool = False
    ) -> AsyncIterator[AsyncConnection[DictRow]]:
        if read_only:
            conninfo = make_conninfo(
                self.dsn,
                dbname=database,
                user=READ_ONLY_USER,
                password=_READ_ONLY_PASSWORD,
                options="-c default_transaction_read_only=on",
            )
        else:
            conninfo = make_conninfo(self.dsn, dbname=database)
        conn = await AsyncConnection.connect(conninfo, autocommit=True, row_factory=dict_row)
        try:
            yield conn
        finally:
            await conn.close()

    async def database_for(self, ref: str) -> str:
        """The database that project ``ref`` lives in."""
        if ref == self.project_ref:
            return MAIN_DATABASE
        branch = await self.find_branch(ref)
        if branch is None:
            raise ManagementError.not_found(f"Project {ref}")
        return branch.database

    # -- ledger ---------------------------------------------------------------------------------

    @staticmethod
    async def read_ledger(conn: AsyncConnection[DictRow]) -> list[LedgerRow]:
        """Every ledger row by version; none when the table does not exist yet."""
        exists = await (
            await conn.execute("SELECT to_regclass('supabase_migrations.schema_migrations') AS t")
        ).fetchone()
        if exists is None or exists["t"] is None:
            return []
        rows = await (
            await conn.execute(
                "SELECT version, name, coalesce(statements, '{}') AS statements "
                "FROM supabase_migrations.schema_migrations ORDER BY version"
            )
        ).fetchall()
        return [LedgerRow(r["version"], r["name"], tuple(r["statements"])) for r in rows]

    @staticmethod
    async def ensure_ledger(conn: AsyncConnection[DictRow]) -> None:
        for statement in LEDGER_DDL:
            await conn.execute(statement)

    @staticmethod
    async def next_version(conn: AsyncConnection[DictRow]) -> str:
        """A 14-digit UTC timestamp, bumped past the newest version so order holds."""
        row = await (
            await conn.execute(
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'utc', 'YYYYMMDDHH24MISS') AS now, "
                "(SELECT max(version) FROM supabase_migrations.schema_migrations "
                " WHERE version ~ '^[0-9]+$') AS last"
            )
        ).fetchone()
        assert row is not None
        now, last = str(row["now"]), row["last"]
        if last is not None and int(now) <= int(last):
            return str(int(last) + 1)
        return now

    async def replay(
        self, conn: AsyncConnection[DictRow], rows: Sequence[LedgerRow]
    ) -> tuple[list[str], str | None]:
        """Apply ledger rows, each in one transaction with its ledger row.

        Returns the versions applied and, on failure, why (later rows are skipped).
        """
        applied: list[str] = []
        for row in rows:
            try:
                async with conn.transaction():
                    await self.ensure_ledger(conn)
                    for statement in row.statements:
                        await conn.execute(statement.encode())
                    await conn.execute(
                        "INSERT INTO supabase_migrations.schema_migrations "
                        "(version, name, statements) VALUES (%s, %s, %s)",
                        [row.version, row.name, list(row.statements)],
                    )
            except psycopg.Error as exc:
                return applied, f"{row.version}_{row.name}: {exc.diag.message_primary or exc}"
            applied.append(row.version)
        return applied, None

    # -- branches --------------------------------------------------------------------------------

    async def _branch_rows(self, where: sql.Composable, params: Sequence[Any]) -> list[Branch]:
        async with self.connect(MAIN_DATABASE) as conn:
            rows = await (
                await conn.execute(
                    sql.SQL(
                        "SELECT id::text, name, project_ref, parent_project_ref, database, status, "
                        "git_branch, persistent, "
                        "to_char(created_at AT TIME ZONE 'utc', {fmt}) AS created_at, "
                        "to_char(updated_at AT TIME ZONE 'utc', {fmt}) AS updated_at "
                        "FROM _hybridkit.branches WHERE {where} ORDER BY created_at"
                    ).format(where=where, fmt=sql.Literal(_ISO)),
                    list(params),
                )
            ).fetchall()
        return [Branch(**r) for r in rows]

    async def list_branches(self) -> list[Branch]:
        return await self._branch_rows(sql.SQL("TRUE"), [])

    async def find_branch(self, id_or_ref: str) -> Branch | None:
        try:
            uuid.UUID(id_or_ref)
            where = sql.SQL("id = %s::uuid OR project_ref = %s")
        except ValueError:
            where = sql.SQL("project_ref = %s OR project_ref = %s")
        rows = await self._branch_rows(where, [id_or_ref, id_or_ref])
        return rows[0] if rows else None

    async def get_branch(self, id_or_ref: str) -> Branch:
        branch = await self.find_branch(id_or_ref)
        if branch is None:
            raise ManagementError.not_found("Branch")
        return branch

    async def _set_status(self, branch_id: str, status: str) -> None:
        async with self.connect(MAIN_DATABASE) as conn:
            await conn.execute(
                "UPDATE _hybridkit.branches SET status = %s, updated_at = now() "
                "WHERE id = %s::uuid",
                [status, branch_id],
            )

    async def _ensure_template(self) -> None:
        """(Re)build the branch template from the baseline, once per server process."""
        if self._template_ready:
            return
        template = sql.Identifier(TEMPLATE_DATABASE)
        async with self.connect(MAIN_DATABASE) as conn:
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(template))
            await conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(template))
        async with self.connect(TEMPLATE_DATABASE) as conn:
            for _name, text in _baseline():
                await conn.execute(text.encode())
        self._template_ready = True

    async def _create_database(self, database: str) -> None:
        await self._ensure_template()
        async with self.connect(MAIN_DATABASE) as conn:
            await conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(database), sql.Identifier(TEMPLATE_DATABASE)
                )
            )
            await conn.execute(
                sql.SQL('ALTER DATABASE {} SET search_path TO "$user", public, extensions').format(
                    sql.Identifier(database)
                )
            )

    async def _drop_database(self, database: str) -> None:
        async with self.connect(MAIN_DATABASE) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )

    async def create_branch(
        self, name: str, *, git_branch: str | None = None, persistent: bool = False
    ) -> Branch:
        """Create a branch database and replay the parent's migrations into it."""
        if not name or len(name) > 128:
            raise ManagementError.bad_request("branch_name must be 1 to 128 characters")
        ref = _new_ref()
        database = f"branch_{ref}"
        async with self._lock:
            async with self.connect(MAIN_DATABASE) as conn:
                try:
                    row = await (
                        await conn.execute(
                            "INSERT INTO _hybridkit.branches "
                            "(name, project_ref, parent_project_ref, database, status, git_branch, "
                            "persistent) VALUES (%s, %s, %s, %s, 'CREATING_PROJECT', %s, %s) "
                            "RETURNING id::text",
                            [name, ref, self.project_ref, database, git_branch, persistent],
                        )
                    ).fetchone()
                except psycopg.errors.UniqueViolation:
                    raise ManagementError(409, f"A branch named {name} already exists") from None
                assert row is not None
                branch_id = str(row["id"])
                parent_rows = await self.read_ledger(conn)
            try:
                await self._create_database(database)
            except psycopg.Error as exc:
                await self._set_status(branch_id, "CREATING_PROJECT_FAILED")
                raise ManagementError(500, f"Failed to create branch database: {exc}") from None
        await self._set_status(branch_id, "RUNNING_MIGRATIONS")
        async with self.connect(database) as conn:
            _, failure = await self.replay(conn, parent_rows)
        await self._set_status(branch_id, "MIGRATIONS_FAILED" if failure else "MIGRATIONS_PASSED")
        return await self.get_branch(branch_id)

    async def delete_branch(self, id_or_ref: str) -> Branch:
        branch = await self.get_branch(id_or_ref)
        await self._drop_database(branch.database)
        async with self.connect(MAIN_DATABASE) as conn:
            await conn.execute("DELETE FROM _hybridkit.branches WHERE id = %s::uuid", [branch.id])
        return branch

    async def reset_branch(self, id_or_ref: str, migration_version: str | None) -> Branch:
        """Recreate the branch's database and replay its own migrations up to a version."""
        branch = await self.get_branch(id_or_ref)
        async with self.connect(branch.database) as conn:
            rows = await self.read_ledger(conn)
        if migration_version is not None:
            rows = [r for r in rows if _version_le(r.version, migration_version)]
        async with self._lock:
            await self._drop_database(branch.database)
            await self._create_database(branch.database)
        await self._set_status(branch.id, "RUNNING_MIGRATIONS")
        async with self.connect(branch.database) as conn:
            _, failure = await self.replay(conn, rows)
        await self._set_status(branch.id, "MIGRATIONS_FAILED" if failure else "MIGRATIONS_PASSED")
        return await self.get_branch(branch.id)

    async def merge_branch(
        self, id_or_ref: str, migration_version: str | None
    ) -> tuple[Branch, list[str], str | None]:
        """Apply the branch's migrations that the parent lacks to the parent."""
        branch = await self.get_branch(id_or_ref)
        async with self.connect(branch.database) as conn:
            source = await self.read_ledger(conn)
        async with self.connect(MAIN_DATABASE) as conn:
            done = {r.version for r in await self.read_ledger(conn)}
            todo = [r for r in source if r.version not in done]
            if migration_version is not None:
                todo = [r for r in todo if _version_le(r.version, migration_version)]
            applied, failure = await self.replay(conn, todo)
        await self._set_status(branch.id, "MIGRATIONS_FAILED" if failure else "MIGRATIONS_PASSED")
        return await self.get_branch(branch.id), applied, failure

    async def push_branch(self, id_or_ref: str) -> tuple[Branch, list[str], str | None]:
        """Rebase: apply the parent's migrations that the branch lacks to the branch."""
        branch = await self.get_branch(id_or_ref)
        async with self.connect(MAIN_DATABASE) as conn:
            source = await self.read_ledger(conn)
        async with self.connect(branch.database) as conn:
            done = {r.version for r in await self.read_ledger(conn)}
            applied, failure = await self.replay(conn, [r for r in source if r.version not in done])
        await self._set_status(branch.id, "MIGRATIONS_FAILED" if failure else "MIGRATIONS_PASSED")
        return await self.get_branch(branch.id), applied, failure


def _version_le(version: str, limit: str) -> bool:
    if version.isdigit() and limit.isdigit():
        return int(version) <= int(limit)
    return version <= limit
