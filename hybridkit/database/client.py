"""The database layer: PostgREST tables and RPC through supabase-py, raw SQL through psycopg.

Two paths, named in every result's ``via``:

* **REST** (``rest``): :meth:`Database.select`, ``insert``, ``upsert``, ``update``,
  ``delete`` and :meth:`Database.execute_rpc` go through supabase-py's postgrest
  client with the configured key, so row-level security applies exactly as for
  any client of the project.
* **SQL** (``sql`` or ``management``): :meth:`Database.sql` runs SQL over
  ``SUPABASE_DB_URL`` with psycopg 3, or — when only ``SUPABASE_ACCESS_TOKEN``
  and ``SUPABASE_PROJECT_REF`` are set — through the Management API's query
  endpoint.

``read_only=True`` stands on three walls (docs/security.md):

1. the text is parsed with PostgreSQL's own parser
   (:func:`hybridkit.database.sqltext.check_read_only`): one query, no
   SET/COMMIT/COPY/DO, no role or setting changes, no signals;
2. it runs as ``supabase_read_only_user`` (as Supabase's own read-only mode): a
   login of its own (``SUPABASE_READ_ONLY_DB_URL``, or the DB URL with that user
   and the same password, which is how the local stack has it), so the session
   cannot switch back to a more powerful role; a URL whose login is not a
   superuser may instead ``SET ROLE`` to it when it is a member; a superuser
   session is never used for read-only SQL;
3. inside a ``READ ONLY`` transaction that is always rolled back, whose first
   query sets the statement timeout (so ``SET TRANSACTION READ WRITE`` comes too
   late), sent with the extended protocol (one statement), so that even a
   ``SECURITY DEFINER`` function that writes fails.

Through the Management API it runs as the project's read-only database user.

Every failure is a :mod:`hybridkit.errors` exception; retries follow the kit's
policy (writes are resent only when they surely never reached the server).

Example:
    >>> db = Database(Settings.load())  # doctest: +SKIP
    >>> db.sql("select count(*) as n from file_uploads", read_only=True).rows  # doctest: +SKIP
    ({'n': 0},)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from hybridkit._tables import text_table
from hybridkit.config import Settings
from hybridkit.database.paths import choose_path
from hybridkit.database.sqltext import check_read_only, inline_params
from hybridkit.errors import (
    ConfigError,
    HybridError,
    InvalidInputError,
    RetryableError,
)
from hybridkit.retry import Attempt, Retrier, RetryPolicy, sqlstate_error

if TYPE_CHECKING:
    from supabase import Client

    from hybridkit.management import ManagementClient

__all__ = ["Database", "Filters", "SqlResult", "pg_error"]

T = TypeVar("T")

# Values: a scalar means eq (None means IS NULL), a list means IN, and an
# (operator, value) pair is any PostgREST operator, e.g. ("gte", 5).
Filters = Mapping[str, Any]

_FILTER_OPS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in", "cs", "cd", "ov"}
)
READ_ONLY_USER = "supabase_read_only_user"
#: How long one read-only statement may run (PostgreSQL's statement_timeout).
READ_ONLY_STATEMENT_TIMEOUT = "60s"


@dataclass(frozen=True)
class SqlResult:
    """What :meth:`Database.sql` returns.

    Attributes:
        columns: the last statement's column names.
        rows: its rows, as dicts.
        rowcount: rows returned or affected (-1 when unknown).
        via: ``sql`` (a direct connection) or ``management`` (the Management API).
        read_only: whether it ran read-only.
    """

    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...] = field(repr=False)
    rowcount: int
    via: str
    read_only: bool

    def table(self, max_width: int = 40) -> str:
        """The rows as a plain-text table, for CLIs and logs.

        Example:
            >>> print(SqlResult(("a",), ({"a": 1},), 1, "sql", True).table())
            a
            -
            1
            (1 row)
        """
        if not self.columns:
            return f"({self.rowcount} rows affected)" if self.rowcount >= 0 else "(done)"

        def cell(value: Any) -> str:
            text = "" if value is None else str(value)
            return text if len(text) <= max_width else text[: max_width - 1] + "…"

        lines = text_table(
            self.columns, [[cell(row.get(c)) for c in self.columns] for row in self.rows]
        )
        count = len(self.rows)
        lines.append(f"({count} row{'s' if count != 1 else ''})")
        return "\n".join(lines)


def pg_error(exc: psycopg.Error, context: str) -> HybridError:
    """Turn a psycopg failure into the kit's error tree (message: PostgreSQL's, no secrets)."""
    sqlstate = exc.sqlstate or ""
    diag = exc.diag
    primary = diag.message_primary or (str(exc).strip().splitlines() or ["database error"])[0]
    message = f"{context}: {primary}"
    if diag.message_detail:
        message += f" ({diag.message_detail})"
    if isinstance(exc, psycopg.OperationalError) and not sqlstate:
        # No server answer: the connection failed before any statement ran.
        return RetryableError(message, code="ConnectError")
    return sqlstate_error(sqlstate, message)


class Database:
    """Tables, RPC and SQL for one project.

    Args:
        settings: where to connect; ``Settings.load()`` when omitted.
        client: a supabase-py client to use instead of building one.
        management: a Management API client for :meth:`sql` without a DB URL.
        retrier: the retry policy; built from the settings when omitted.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: Client | None = None,
        management: ManagementClient | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self._client = client
        self._management = management
        self.retrier = retrier or Retrier(RetryPolicy.from_settings(self.settings))
        self._no_read_only_login = False

    def __repr__(self) -> str:
        return f"Database(url={self.settings.supabase_url!r}, key_role={self.settings.key_role!r})"

    # -- clients ------------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The supabase-py client (built on first use with the service role or anon key)."""
        if self._client is None:
            from supabase import ClientOptions, create_client

            self.settings.require("supabase_url")
            key = self.settings.api_key
            if key is None:
                raise ConfigError(
                    "missing setting: SUPABASE_SERVICE_ROLE_KEY or SUPABASE_ANON_KEY — "
                    "the REST API needs a key"
                )
            assert self.settings.supabase_url is not None
            # The kit owns the retry policy, so postgrest's built-in GET retry is off.
            options = ClientOptions(postgrest_client_retry=False)
            self._client = create_client(
                self.settings.supabase_url, key.get_secret_value(), options=options
            )
        return self._client

    @property
    def management(self) -> ManagementClient:
        """The Management API client (needs an access token and a project ref)."""
        if self._management is None:
            from hybridkit.management import ManagementClient

            self._management = ManagementClient.from_settings(self.settings, retrier=self.retrier)
        return self._management

    def _call(self, fn: Callable[[], T], operation: str, *, idempotent: bool) -> T:
        return self.retrier.call(lambda _attempt: fn(), operation=operation, idempotent=idempotent)

    # -- REST -----------------------------------------------------------------------------------

    @staticmethod
    def _apply_filters(query: Any, filters: Filters | None) -> Any:
        for column, value in (filters or {}).items():
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
                op, operand = value
                if op not in _FILTER_OPS:
                    raise InvalidInputError(
                        f"unknown filter operator {op!r} for {column!r}; "
                        f"use one of {', '.join(sorted(_FILTER_OPS))}"
                    )
                if op == "in":
                    query = query.in_(column, list(operand))
                elif op == "is":
                    query = query.is_(column, operand)
                else:
                    query = query.filter(column, op, operand)
            elif value is None:
                query = query.is_(column, None)
            elif isinstance(value, list | set | frozenset):
                query = query.in_(column, list(value))
            else:
                query = query.eq(column, value)
        return query

    def select(
        self,
        table: str,
        columns: str = "*",
        *,
        filters: Filters | None = None,
        order: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        schema: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` (RLS applies to the configured key).

        Example:
            >>> db.select("file_uploads", "path", filters={"status": "failed"})  # doctest: +SKIP
        """

        def run() -> list[dict[str, Any]]:
            base = self.client.schema(schema) if schema else self.client
            query = self._apply_filters(base.table(table).select(columns), filters)
            if order:
                query = query.order(order, desc=descending)
            if limit is not None:
                query = query.limit(limit)
            if offset is not None:
                query = query.offset(offset)
            return _rows(query.execute().data)

        return self._call(run, f"select from {table}", idempotent=True)

    def insert(
        self, table: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Insert one row or many; returns the rows as stored."""
        payload = [dict(rows)] if isinstance(rows, Mapping) else [dict(r) for r in rows]
        return self._call(
            lambda: _rows(self.client.table(table).insert(payload).execute().data),
            f"insert into {table}",
            idempotent=False,
        )

    def upsert(
        self,
        table: str,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        on_conflict: str = "",
        ignore_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """Insert, or update rows colliding on ``on_conflict`` (default: the primary key)."""
        payload = [dict(rows)] if isinstance(rows, Mapping) else [dict(r) for r in rows]
        return self._call(
            lambda: _rows(
                self.client.table(table)
                .upsert(payload, on_conflict=on_conflict, ignore_duplicates=ignore_duplicates)
                .execute()
                .data
            ),
            f"upsert into {table}",
            idempotent=True,
        )

    def update(
        self, table: str, values: Mapping[str, Any], *, filters: Filters
    ) -> list[dict[str, Any]]:
        """Set ``values`` on the rows matching ``filters`` (required: never every row)."""
        if not filters:
            raise InvalidInputError(
                f"update of {table} needs filters; refusing to change every row"
            )
        return self._call(
            lambda: _rows(
                self._apply_filters(self.client.table(table).update(dict(values)), filters)
                .execute()
                .data
            ),
            f"update {table}",
            idempotent=True,
        )

    def delete(self, table: str, *, filters: Filters) -> list[dict[str, Any]]:
        """Delete the rows matching ``filters`` (required); returns them."""
        if not filters:
            raise InvalidInputError(
                f"delete from {table} needs filters; refusing to delete every row"
            )
        return self._call(
            lambda: _rows(
                self._apply_filters(self.client.table(table).delete(), filters).execute().data
            ),
            f"delete from {table}",
            idempotent=True,
        )

    def execute_rpc(
        self,
        function: str,
        params: Mapping[str, Any] | None = None,
        *,
        get: bool = False,
        idempotent: bool | None = None,
    ) -> Any:
        """Call a database function through ``/rest/v1/rpc``.

        Args:
            function: its name (in the client's schema, ``public`` by default).
            params: named arguments.
            get: call with GET (read-only transaction on the server).
            idempotent: whether a resend is harmless; GET calls are, POST calls are
                assumed not to be unless you say so.
        """
        safe = get if idempotent is None else idempotent
        return self._call(
            lambda: self.client.rpc(function, dict(params or {}), get=get).execute().data,
            f"rpc {function}",
            idempotent=safe,
        )

    # -- SQL ------------------------------------------------------------------------------------

    def sql(
        self,
        query: str,
        params: Sequence[Any] | None = None,
        *,
        read_only: bool = False,
        via: str = "auto",
    ) -> SqlResult:
        """Run SQL; ``read_only`` makes PostgreSQL refuse any write.

        Args:
            query: SQL with ``%s`` placeholders for ``params`` (write ``%%`` for a
                literal ``%`` when there are params). Read-only calls take one
                statement; writes may hold several (one transaction).
            params: values bound to the placeholders.
            read_only: run in a READ ONLY transaction that is rolled back.
            via: ``auto`` (the DB URL when set, else the Management API), ``sql`` or
                ``management``.

        Raises:
            ConfigError: what ``via`` needs is not configured.
            InvalidInputError: the SQL is wrong, or a read-only call tried to write.
        """
        if choose_path(self.settings, via, management=self._management is not None) == "sql":
            return self._sql_direct(query, params, read_only=read_only)
        return self._sql_management(query, params, read_only=read_only)

    def _sql_direct(
        self, query: str, params: Sequence[Any] | None, *, read_only: bool
    ) -> SqlResult:
        assert self.settings.db_url is not None
        url = self.settings.db_url.get_secret_value()
        operation = "sql (read-only)" if read_only else "sql"
        if read_only:
            _check_read_only(query)

        def run(_: Attempt) -> SqlResult:
            try:
                if read_only:
                    return self._read_only_direct(url, query, params)
                with (
                    psycopg.connect(
                        url, connect_timeout=10, autocommit=True, row_factory=dict_row
                    ) as conn,
                    conn.transaction(),
                ):
                    cursor = conn.execute(query, params)
                    return _result(cursor, "sql", read_only=False)
            except psycopg.Error as exc:
                raise _with_hint(pg_error(exc, operation), read_only) from None

        return self.retrier.call(run, operation=operation, idempotent=read_only)

    def _read_only_conn(self, url: str) -> tuple[psycopg.Connection[Any], str | None]:
        """A connection for read-only SQL, and the role to SET (``None``: already it).

        Logs in as the read-only user when it can; falls back to ``url``'s own login
        only when that login is not a superuser (a superuser session could switch
        back to any role from inside a statement).
        """
        explicit = self.settings.read_only_db_url
        candidates = [explicit.get_secret_value()] if explicit else []
        if not self._no_read_only_login:
            candidates.append(_as_read_only_user(url))
        for conninfo in candidates:
            try:
                conn = psycopg.connect(
                    conninfo, connect_timeout=10, autocommit=True, row_factory=dict_row
                )
            except psycopg.OperationalError as exc:
                if explicit is not None and conninfo == candidates[0]:
                    raise
                if "authentication" in str(exc) or "password" in str(exc) or "role" in str(exc):
                    self._no_read_only_login = True  # not here: the URL's own, from now on
                    continue
                raise
            return conn, None
        conn = psycopg.connect(url, connect_timeout=10, autocommit=True, row_factory=dict_row)
        row = conn.execute(
            "SELECT current_setting('is_superuser') = 'on' AS su, CASE WHEN EXISTS "
            "(SELECT 1 FROM pg_roles WHERE rolname = %s) THEN pg_has_role(current_user, %s, "
            "'MEMBER') ELSE false END AS member",
            (READ_ONLY_USER, READ_ONLY_USER),
        ).fetchone()
        superuser = row is None or bool(row["su"])
        if superuser:
            conn.close()
            raise ConfigError(
                "read-only SQL will not run in a superuser session, and no login as "
                f"{READ_ONLY_USER} was possible: set SUPABASE_READ_ONLY_DB_URL to that "
                "user's URL, use --via management, or pass --write deliberately"
            )
        return conn, READ_ONLY_USER if row and row["member"] else None

    def _read_only_direct(self, url: str, query: str, params: Sequence[Any] | None) -> SqlResult:
        conn, role = self._read_only_conn(url)
        with conn:
            conn.read_only = True
            with conn.transaction(force_rollback=True):
                # The first query of the transaction takes its snapshot: from then on
                # SET TRANSACTION READ WRITE is refused by PostgreSQL itself.
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)"
                    + (", set_config('role', %s, true)" if role else ""),
                    (READ_ONLY_STATEMENT_TIMEOUT, role) if role else (READ_ONLY_STATEMENT_TIMEOUT,),
                )
                # Pipeline mode sends the query with the extended protocol (unnamed
                # statement, so poolers are fine), which takes exactly one statement.
                with conn.pipeline():
                    cursor = conn.execute(query, params)
                return _result(cursor, "sql", read_only=True)

    def _sql_management(
        self, query: str, params: Sequence[Any] | None, *, read_only: bool
    ) -> SqlResult:
        try:
            text = inline_params(query, params)
        except ValueError as exc:
            raise InvalidInputError(f"sql: {exc}") from None
        if read_only:
            _check_read_only(text)
        rows = self.management.query(text, read_only=read_only)
        columns = tuple(rows[0]) if rows else ()
        return SqlResult(columns, tuple(rows), len(rows), "management", read_only)


def _rows(data: Any) -> list[dict[str, Any]]:
    """postgrest's ``data`` as a list of rows (it is typed as any JSON)."""
    return [dict(r) for r in data] if isinstance(data, list) else []


def _result(cursor: psycopg.Cursor[Any], via: str, *, read_only: bool) -> SqlResult:
    """The last result set of ``cursor``."""
    while True:
        rows: list[dict[str, Any]] = list(cursor.fetchall()) if cursor.description else []
        columns = tuple(c.name for c in cursor.description or ())
        rowcount = cursor.rowcount
        if not cursor.nextset():
            break
    return SqlResult(columns, tuple(rows), rowcount, via, read_only)


def _check_read_only(query: str) -> None:
    try:
        check_read_only(query)
    except ValueError as exc:
        raise InvalidInputError(
            f"sql (read-only): {exc} — pass --write (write=True) to run it as a write"
        ) from None


def _as_read_only_user(url: str) -> str:
    """``url`` logging in as the read-only user (a pooler's ``user.ref`` keeps its ``.ref``)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    user = str(conninfo_to_dict(url).get("user") or "postgres")
    suffix = user[user.index(".") :] if "." in user else ""
    return make_conninfo(url, user=READ_ONLY_USER + suffix)


def _with_hint(error: HybridError, read_only: bool) -> HybridError:
    if read_only and error.code == "42501":
        # The read-only role's wall, not a bad key: say so, and not as an AuthError.
        return InvalidInputError(
            f"{error.message} — read-only SQL runs as {READ_ONLY_USER}, which cannot do that",
            code=error.code,
        )
    if read_only and error.code == "42601" and "multiple commands" in error.message:
        error.message += " — read-only mode runs one statement per call"
        error.args = (error.message,)
    return error
