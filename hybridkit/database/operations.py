"""The SQL and migration side of the manager: a component the facade composes.

:class:`SqlOperations` runs SQL and the migration engine for
:class:`~hybridkit.manager.HybridSupabaseManager`, which wraps each call into a
``HybridOperationResult``. The work is done by the database layer
(:meth:`hybridkit.database.Database.sql`), the migration ledger
(:mod:`hybridkit.database.migrations`) and the checks (:mod:`hybridkit.database.checks`); this
module raises, the facade turns what it raises into results.

Which path does the work is the one rule of :mod:`hybridkit.database.paths`
(shared with ``Database.sql`` and ``migrations.ledger_from_settings``): the direct
connection (``SUPABASE_DB_URL``, layer ``sql``) when it is set and ``via`` allows
it, else the Management API (``SUPABASE_ACCESS_TOKEN`` with
``SUPABASE_PROJECT_REF``, layer ``management``).

Attempts and retries are counted into the running operation, as for storage
calls, by a retrier that the database layer and the Management API client share.
It has no circuit breaker: the manager's breaker guards the project's HTTP API,
and a database that refuses connections says nothing about Storage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridkit.config import Settings
from hybridkit.database.paths import SqlPath, choose_path, planned_path
from hybridkit.retry import AttemptLog, CountingRetrier, Retrier

if TYPE_CHECKING:
    from hybridkit.database.checks import Expectations, MigrationReport
    from hybridkit.database.client import Database, SqlResult
    from hybridkit.database.migrations import (
        AppliedMigration,
        ApplyResult,
        DirectLedger,
        Ledger,
        Migration,
        MigrationStatus,
    )
    from hybridkit.management import ManagementClient

__all__ = ["SqlLayer", "SqlOperations"]

Folder = str | PathLike[str]
SqlLayer = SqlPath


class _RetriedLedger:
    """A direct ledger whose reads run under the kit's retry policy (and are counted).

    ``DirectLedger`` itself makes single attempts; the Management API's ledger
    retries inside its client, which already uses the counting retrier.
    """

    def __init__(self, inner: DirectLedger, retrier: CountingRetrier) -> None:
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


class SqlOperations:
    """SQL, migration status, apply and checks over the path ``via`` selects.

    Args:
        settings: where the database and the Management API are.
        retrier: the storage retrier whose policy and ``sleep`` SQL calls share.
        count: receives each call's attempts and retries (the storage session's
            :meth:`~hybridkit.storage.StorageSession.count`), so they roll up into
            the running operation.
    """

    def __init__(
        self, settings: Settings, retrier: Retrier, count: Callable[[AttemptLog], None]
    ) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # The same policy and (in tests, injected) sleep as the storage calls.
        self._retrier = CountingRetrier(retrier.policy, sleep=retrier.sleep, count=count)
        self._database: Database | None = None
        self._management: ManagementClient | None = None

    def close(self) -> None:
        """Close the Management API client, if one was built."""
        with self._lock:
            client, self._management = self._management, None
            self._database = None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------ paths

    def layer(self, via: str) -> SqlLayer:
        """The path SQL and the ledger take for ``via`` (named before it is checked)."""
        return planned_path(self.settings, via)

    def management(self) -> ManagementClient:
        """The Management API client shared by SQL and the ledger (built on first use)."""
        from hybridkit.management import ManagementClient

        with self._lock:
            if self._management is None:
                self._management = ManagementClient.from_settings(
                    self.settings, retrier=self._retrier
                )
            return self._management

    def database(self) -> Database:
        """The database layer, sharing the counting retrier (built on first use)."""
        from hybridkit.database.client import Database

        settings = self.settings
        management = None
        if settings.access_token and settings.project_ref:
            management = self.management()
        with self._lock:
            if self._database is None:
                self._database = Database(settings, management=management, retrier=self._retrier)
            return self._database

    def ledger(self, via: str) -> Ledger:
        """The migration ledger on the path ``via`` selects."""
        from hybridkit.database.migrations import DirectLedger, ManagementLedger

        settings = self.settings
        if choose_path(settings, via, needs="migrations need") == "sql":
            assert settings.db_url is not None
            return _RetriedLedger(DirectLedger(settings.db_url.get_secret_value()), self._retrier)
        return ManagementLedger(self.management())

    # ------------------------------------------------------------------ work

    def sql(
        self, query: str, params: Sequence[Any] | None, *, read_only: bool, via: str
    ) -> SqlResult:
        """Run SQL; see ``HybridSupabaseManager.sql``."""
        return self.database().sql(query, params, read_only=read_only, via=via)

    def migration_status(self, folder: Folder, *, via: str) -> MigrationStatus:
        """The migration files in ``folder`` against the ledger."""
        from hybridkit.database.migrations import migration_status

        return migration_status(Path(folder), self.ledger(via))

    def apply_migrations(
        self, folder: Folder, *, dry_run: bool, include_all: bool, via: str
    ) -> ApplyResult:
        """Apply (or plan) the pending migrations in ``folder``."""
        from hybridkit.database.migrations import apply_migrations

        return apply_migrations(
            Path(folder), self.ledger(via), dry_run=dry_run, include_all=include_all
        )

    def check_migrations(
        self,
        folder: Folder,
        expectations: Expectations | Folder | None,
        *,
        lints: bool | None,
        via: str,
        shadow: bool,
        shadow_url: str | None,
    ) -> MigrationReport:
        """Check the database against ``folder``; see ``HybridSupabaseManager.check_migrations``."""
        from hybridkit.database.checks import Expectations, check
        from hybridkit.database.migrations import migration_status, migrations_folder
        from hybridkit.database.shadow import migration_drift

        where = migrations_folder(Path(folder))
        if isinstance(expectations, Expectations):
            wanted = expectations
        else:
            wanted = Expectations.load(Path(expectations or where / "checks.toml"))
        ledger = self.ledger(via)
        status = migration_status(where, ledger)
        drift = None
        if shadow:
            db_url = self.settings.db_url if self.layer(via) == "sql" else None
            url = db_url.get_secret_value() if db_url is not None else None
            drift = migration_drift(where, ledger, target_url=url, shadow_url=shadow_url)
        return check(ledger, wanted, status=status, lints=lints, drift=drift)
