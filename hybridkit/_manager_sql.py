"""The manager's SQL and migration entry points (a mixin of ``HybridSupabaseManager``).

They live apart from ``manager.py`` so that each module reads in one sitting; the
public class is still ``HybridSupabaseManager`` alone. The work is done by the
database layer (:meth:`hybridkit.database.Database.sql`), the migration ledger
(:mod:`hybridkit.migrations`) and the checks (:mod:`hybridkit.checks`); the
manager's ``_run`` turns it into results.

Which path does the work follows the rule of ``Database.sql`` and
``migrations.ledger_from_settings``: the direct connection (``SUPABASE_DB_URL``,
layer ``sql``) when it is set and ``via`` allows it, else the Management API
(``SUPABASE_ACCESS_TOKEN`` with ``SUPABASE_PROJECT_REF``, layer ``management``).

Attempts and retries are counted into the running operation, as for storage
calls, by a retrier that the database layer and the Management API client share.
It has no circuit breaker: the manager's breaker guards the project's HTTP API,
and a database that refuses connections says nothing about Storage.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hybridkit.config import Settings
from hybridkit.errors import ConfigError, HybridError, InvalidInputError, MigrationError
from hybridkit.retry import Attempt, AttemptLog, Retrier, RetryPolicy

if TYPE_CHECKING:
    from hybridkit.checks import Expectations, MigrationReport
    from hybridkit.database import Database
    from hybridkit.management import ManagementClient
    from hybridkit.manager import HybridOperationResult, Layer
    from hybridkit.migrations import AppliedMigration, DirectLedger, Ledger, Migration
    from hybridkit.storage import StorageManager

__all__ = ["SqlFacade"]

T = TypeVar("T")
Folder = str | PathLike[str]
_VIAS = ("auto", "sql", "management")
_LAYERS: dict[str, Layer] = {"sql": "sql", "management": "management"}


class _CountingRetrier(Retrier):
    """The kit's retry policy, counting attempts and retries into the running operation."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None],
        count: Callable[[AttemptLog], None],
    ) -> None:
        super().__init__(policy, sleep=sleep)
        self._report = count

    def call(
        self,
        fn: Callable[[Attempt], T],
        *,
        operation: str,
        idempotent: bool = True,
        log: AttemptLog | None = None,
        deadline: float | None = None,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> T:
        log = log if log is not None else AttemptLog()
        # A log may be shared by several calls: count only what this one adds.
        attempts, retries = log.attempts, log.retries
        try:
            return super().call(
                fn,
                operation=operation,
                idempotent=idempotent,
                log=log,
                deadline=deadline,
                cancel=cancel,
                **options,
            )
        finally:
            self._report(AttemptLog(log.attempts - attempts, log.retries - retries))

    def once(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` once, never resent, counted as one attempt."""
        try:
            return fn()
        finally:
            self._report(AttemptLog(attempts=1))


class _RetriedLedger:
    """A direct ledger whose reads run under the kit's retry policy (and are counted).

    ``DirectLedger`` itself makes single attempts; the Management API's ledger
    retries inside its client, which already uses the counting retrier.
    """

    def __init__(self, inner: DirectLedger, retrier: _CountingRetrier) -> None:
        self._inner = inner
        self._retrier = retrier

    @property
    def target(self) -> str:
        return self._inner.target

    def __repr__(self) -> str:
        return repr(self._inner)

    def fetch(self) -> list[AppliedMigration]:
        return self._retrier.call(
            lambda _: self._inner.fetch(), operation="read the migration ledger"
        )

    def apply(self, migration: Migration) -> None:
        # Made once, never resent: psycopg reports a connection lost at COMMIT like one
        # that never connected, and the migration may then be recorded already.
        self._retrier.once(lambda: self._inner.apply(migration))

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self._retrier.call(lambda _: self._inner.query(sql), operation="run a check query")


def _problems(report: MigrationReport) -> HybridError | None:
    try:
        report.raise_for_problems()
    except MigrationError as exc:
        return exc
    return None


class SqlFacade:
    """SQL, migration status, apply and checks for :class:`HybridSupabaseManager`.

    Like every manager call, these return a ``HybridOperationResult`` and never
    raise; ``layer_used`` is ``sql`` (direct connection) or ``management``.
    """

    # Provided by HybridSupabaseManager.
    settings: Settings
    storage: StorageManager
    _lock: threading.Lock

    if TYPE_CHECKING:

        def _run(
            self,
            operation: str,
            fn: Callable[[], Any],
            *,
            layer: Layer = "storage",
            extra: Mapping[str, Any] | None = None,
            verdict: Callable[[Any], HybridError | None] | None = None,
        ) -> HybridOperationResult: ...

    def _init_sql(self) -> None:
        retrier = self.storage.retrier
        # The same policy and (in tests, injected) sleep as the storage calls.
        self._sql_retrier = _CountingRetrier(
            retrier.policy, sleep=retrier._sleep, count=self.storage.session.count
        )
        self._sql_database: Database | None = None
        self._sql_management: ManagementClient | None = None

    def _close_sql(self) -> None:
        with self._lock:
            client, self._sql_management = self._sql_management, None
            self._sql_database = None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------ paths

    def _sql_layer(self, via: str) -> Layer:
        """The path SQL and the ledger take for ``via`` (the rule of ``Database.sql``)."""
        if via == "management" or (via == "auto" and not self.settings.db_url):
            return "management"
        return "sql"

    def _management(self) -> ManagementClient:
        """The Management API client shared by SQL and the ledger (built on first use)."""
        from hybridkit.management import ManagementClient

        with self._lock:
            if self._sql_management is None:
                self._sql_management = ManagementClient.from_settings(
                    self.settings, retrier=self._sql_retrier
                )
            return self._sql_management

    def _database(self) -> Database:
        from hybridkit.database import Database

        settings = self.settings
        management = None
        if settings.access_token and settings.project_ref:
            management = self._management()
        with self._lock:
            if self._sql_database is None:
                self._sql_database = Database(
                    settings, management=management, retrier=self._sql_retrier
                )
            return self._sql_database

    def _ledger(self, via: str) -> Ledger:
        from hybridkit.migrations import DirectLedger, ManagementLedger

        if via not in _VIAS:
            raise InvalidInputError(f"via must be auto, sql or management, not {via!r}")
        settings = self.settings
        if self._sql_layer(via) == "sql":
            settings.require("db_url")
            assert settings.db_url is not None
            return _RetriedLedger(
                DirectLedger(settings.db_url.get_secret_value()), self._sql_retrier
            )
        if via == "auto" and not (settings.access_token and settings.project_ref):
            raise ConfigError(
                "migrations need SUPABASE_DB_URL, or SUPABASE_ACCESS_TOKEN with "
                "SUPABASE_PROJECT_REF"
            )
        return ManagementLedger(self._management())

    # ------------------------------------------------------------------ SQL

    def sql(
        self,
        query: str,
        params: Sequence[Any] | None = None,
        *,
        read_only: bool = True,
        via: str = "auto",
    ) -> HybridOperationResult:
        """Run SQL (``data``: a :class:`~hybridkit.database.SqlResult`).

        Read-only by default here — unlike ``Database.sql`` — so that a runbook that
        only looks cannot write by accident: PostgreSQL runs the statement in a READ
        ONLY transaction, and a write fails the call (``success`` False, an
        ``InvalidInputError``). Pass ``read_only=False`` to change data.

        Args:
            query: SQL with ``%s`` placeholders for ``params``; a read-only call takes
                one statement.
            params: values bound to the placeholders.
            read_only: refuse any write (the default).
            via: ``auto`` (``SUPABASE_DB_URL`` when set, else the Management API),
                ``sql`` or ``management``. ``layer_used`` names the path taken:
                ``sql`` or ``management``.

        Example:
            >>> hm.sql("select count(*) as n from storage.buckets").data.rows  # doctest: +SKIP
            ({'n': 3},)
        """

        def run() -> Any:
            return self._database().sql(query, params, read_only=read_only, via=via)

        result = self._run(
            "sql", run, layer=self._sql_layer(via), extra={"read_only": read_only, "via": via}
        )
        # SqlResult.via says which path ran; the layer chosen beforehand names failures.
        taken = _LAYERS.get(getattr(result.data, "via", ""))
        if taken is not None and taken != result.layer_used:
            result = dataclasses.replace(result, layer_used=taken)
        return result

    # ------------------------------------------------------------------ migrations

    def migration_status(self, folder: Folder, *, via: str = "auto") -> HybridOperationResult:
        """The migration files in ``folder`` against the ledger (``data``: ``MigrationStatus``).

        ``success`` means the status was read: pending migrations and drift are in
        ``data`` (``data.pending``, ``data.by_state(...)``); :meth:`check_migrations`
        fails on them.
        """

        def run() -> Any:
            from hybridkit.migrations import migration_status

            return migration_status(Path(folder), self._ledger(via))

        return self._run(
            "migration_status", run, layer=self._sql_layer(via), extra={"folder": str(folder)}
        )

    def apply_migrations(
        self,
        folder: Folder,
        *,
        dry_run: bool = True,
        include_all: bool = False,
        via: str = "auto",
    ) -> HybridOperationResult:
        """Apply the pending migrations in ``folder`` (``data``: ``ApplyResult``).

        A dry run by default here — unlike ``migrations.apply_migrations`` — so the
        plan (``data.planned``, the SQL in ``data.sql``) comes first; pass
        ``dry_run=False`` to apply. Each migration runs in one transaction with its
        ledger row; when one fails, those before it stay applied and the error is a
        ``MigrationError``. ``include_all`` also applies out-of-order files.
        """

        def run() -> Any:
            from hybridkit.migrations import apply_migrations

            return apply_migrations(
                Path(folder), self._ledger(via), dry_run=dry_run, include_all=include_all
            )

        return self._run(
            "apply_migrations",
            run,
            layer=self._sql_layer(via),
            extra={"folder": str(folder), "dry_run": dry_run},
        )

    def check_migrations(
        self,
        folder: Folder,
        expectations: Expectations | Folder | None = None,
        *,
        lints: bool | None = None,
        via: str = "auto",
        shadow: bool = True,
        shadow_url: str | None = None,
    ) -> HybridOperationResult:
        """Check the database against ``folder`` (``data``: ``MigrationReport``).

        The report holds the migration status (ledger drift, pending), the schema
        compared with a shadow database the migrations build (``data.drift``: a
        ``SchemaDiff`` whose ``rows`` are also ``drift:<kind>`` findings), the
        extensions ``checks.toml`` requires and the advisor's security lints.
        ``success`` is ``report.ok``; with problems the error is a
        ``MigrationError`` listing them and ``data`` still holds the report.

        Args:
            folder: the migrations folder (or a Supabase CLI project).
            expectations: an ``Expectations``, or the path of a ``checks.toml``;
                default ``folder/checks.toml`` (none when that file is missing).
            lints: run the security lints (default: as the expectations say).
            via: ``auto``, ``sql`` or ``management``, as for :meth:`sql`.
            shadow: compare the schema with the migrations' shadow database.
            shadow_url: a PostgreSQL server (superuser) for the shadow; default
                the target's own server when local, else a temporary cluster.
        """

        def run() -> Any:
            from hybridkit.checks import Expectations, check
            from hybridkit.migrations import migration_status, migrations_folder
            from hybridkit.shadow import migration_drift

            where = migrations_folder(Path(folder))
            if isinstance(expectations, Expectations):
                wanted = expectations
            else:
                wanted = Expectations.load(Path(expectations or where / "checks.toml"))
            ledger = self._ledger(via)
            status = migration_status(where, ledger)
            drift = None
            if shadow:
                db_url = self.settings.db_url if self._sql_layer(via) == "sql" else None
                url = db_url.get_secret_value() if db_url is not None else None
                drift = migration_drift(where, ledger, target_url=url, shadow_url=shadow_url)
            return check(ledger, wanted, status=status, lints=lints, drift=drift)

        return self._run(
            "check_migrations",
            run,
            layer=self._sql_layer(via),
            extra={"folder": str(folder)},
            verdict=_problems,
        )
