"""The facade the runbooks use: every call returns a :class:`HybridOperationResult`.

Library functions below the manager raise; the manager catches every failure,
returns it in the result (``success=False``, ``error`` set), and records the
operation in :meth:`HybridSupabaseManager.stats`. ``metadata`` always carries
``attempts``, ``retries``, ``bytes`` and ``duration`` (seconds).

Storage calls go to the composed :class:`~hybridkit.storage.StorageManager`, RPC to a
:class:`~hybridkit.database.Database` on its client, retry policy and breaker;
SQL (``sql``) and migrations (``migration_status``, ``apply_migrations``,
``check_migrations``) to the composed :class:`~hybridkit.database.operations.SqlOperations`.

Example:
    >>> with HybridSupabaseManager() as hm:  # doctest: +SKIP
    ...     result = hm.upload_file("photos", "cat.jpg", "2026/cat.jpg")
    ...     result.success, result.layer_used, result.metadata["attempts"]
    (True, 'storage', 1)
"""

from __future__ import annotations

import dataclasses
import email.utils
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import httpx

from hybridkit._closing import Closing
from hybridkit.config import Settings
from hybridkit.database.client import Database
from hybridkit.database.operations import Folder, SqlOperations
from hybridkit.errors import CancelledError, HybridError, MigrationError
from hybridkit.retry import CountingRetrier, classify
from hybridkit.storage import StorageManager
from hybridkit.storage.values import TransferReport

if TYPE_CHECKING:
    from hybridkit.database.checks import Expectations, MigrationReport

__all__ = ["HealthReport", "HybridOperationResult", "HybridSupabaseManager", "ServiceCheck"]

Layer = Literal["storage", "rest", "sql", "management", "local"]
_SQL_LAYERS: dict[str, Layer] = {"sql": "sql", "management": "management"}


@dataclass(frozen=True)
class HybridOperationResult:
    """What every manager call returns.

    Attributes:
        success: True when the operation did what was asked.
        data: the operation's value (a list of buckets, an ``UploadResult``, a report...).
        error: the failure, a ``HybridError``, when ``success`` is False.
        metadata: ``operation``, ``attempts``, ``retries``, ``bytes``, ``duration`` and
            operation-specific keys.
        layer_used: which path did the work: ``storage``, ``rest``, ``sql``,
            ``management`` or ``local``.

    Example:
        >>> r = HybridOperationResult(True, [1], None, {"attempts": 1}, "storage")
        >>> r.unwrap()
        [1]
    """

    success: bool
    data: Any
    error: HybridError | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    layer_used: Layer = "storage"

    def unwrap(self) -> Any:
        """Return ``data``, or raise ``error`` (for runbooks that must fail loudly)."""
        if not self.success:
            raise self.error or HybridError("the operation failed")
        return self.data

    def __bool__(self) -> bool:
        return self.success


@dataclass(frozen=True)
class ServiceCheck:
    """One service's health: reachability, auth, latency and the server's clock.

    Attributes:
        clock_skew: server time minus local time in seconds, from the ``Date``
            header, or ``None`` without one: the smallest skew consistent with what
            was seen. ``Date`` has whole-second resolution (and may be a second
            stale), so the server answered somewhere in that window, while this machine waited
            ``latency`` seconds for it; ``0.0`` means the two windows overlap (the
            clocks agree to within about a second — shown as "< 1 s").
    """

    name: str
    url: str
    reachable: bool
    auth_ok: bool
    status: int | None = None
    latency: float | None = None
    clock_skew: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Reachable and the key was accepted."""
        return self.reachable and self.auth_ok


@dataclass(frozen=True)
class HealthReport:
    """Storage and REST health, clock skew and the circuit breaker's state."""

    checks: tuple[ServiceCheck, ...]
    breaker_state: str
    max_clock_skew: float = 30.0

    @property
    def clock_skew(self) -> float | None:
        """The largest skew seen (by magnitude), or ``None``."""
        skews = [c.clock_skew for c in self.checks if c.clock_skew is not None]
        return max(skews, key=abs) if skews else None

    @property
    def problems(self) -> tuple[str, ...]:
        """What is wrong, one line each."""
        out = [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]
        skew = self.clock_skew
        if skew is not None and abs(skew) > self.max_clock_skew:
            out.append(
                f"clock skew {skew:+.0f}s exceeds {self.max_clock_skew:g}s; signed URLs and "
                "JWT expiry checks may misbehave"
            )
        return tuple(out)

    @property
    def ok(self) -> bool:
        """True when every service is reachable, accepts the key, and clocks agree."""
        return not self.problems


class _OpCounters:
    __slots__ = ("attempts", "bytes", "calls", "cancelled", "duration", "failures", "retries")

    def __init__(self) -> None:
        self.calls = self.failures = self.cancelled = self.attempts = self.retries = 0
        self.bytes = 0
        self.duration = 0.0


class HybridSupabaseManager(Closing):
    """The kit's facade over storage, REST, SQL and migrations, returning results.

    Args:
        settings: default ``Settings.load()``.
        storage: an existing :class:`StorageManager` to use (it is then not closed here).
        **storage_options: passed to ``StorageManager`` (``timeout``, ``breaker``,
            ``sleep``, ``resume_dir``, ``max_connections``...).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        storage: StorageManager | None = None,
        **storage_options: Any,
    ) -> None:
        self._owns_storage = storage is None
        self.storage = storage or StorageManager(settings, **storage_options)
        self.settings = self.storage.settings
        self._lock = threading.Lock()
        self._stats: dict[str, _OpCounters] = {}
        self.sql_ops = SqlOperations(
            self.settings, self.storage.retrier, self.storage.session.count
        )
        """The SQL and migration side (raises; the methods below return results)."""
        retrier = self.storage.retrier
        self.rest = Database(
            self.settings,
            client=self.storage.client,
            retrier=CountingRetrier(
                retrier.policy,
                count=self.storage.session.count,
                breaker=retrier.breaker,
                sleep=retrier.sleep,
                wait_for_breaker=retrier.wait_for_breaker,
            ),
        )
        """RPC through PostgREST, on the storage session's client, policy and breaker."""

    def __repr__(self) -> str:
        url, role = self.settings.supabase_url, self.settings.key_role
        return f"HybridSupabaseManager(url={url!r}, key_role={role!r})"

    def close(self) -> None:
        """Close the connection pools (storage's when this manager created it)."""
        self.sql_ops.close()
        if self._owns_storage:
            self.storage.close()

    # ------------------------------------------------------------------ plumbing

    def _run(
        self,
        operation: str,
        fn: Callable[[], Any],
        *,
        layer: Layer = "storage",
        extra: Mapping[str, Any] | None = None,
        verdict: Callable[[Any], HybridError | None] | None = None,
    ) -> HybridOperationResult:
        # verdict: the error for a value that came back but reports a failure (a
        # report with problems); the value stays in ``data``.
        started = time.monotonic()
        error: HybridError | None = None
        data: Any = None
        with self.storage.track() as stats:
            try:
                data = fn()
            except Exception as exc:  # the facade's contract: results, not exceptions
                error = classify(exc, context=operation)
        if error is None and isinstance(data, TransferReport) and not data.ok:
            kind = HybridError if data.failed else CancelledError
            error = kind(f"{operation}: {data.summary()}")
        if error is None and verdict is not None:
            error = verdict(data)
        duration = time.monotonic() - started
        metadata: dict[str, Any] = {
            "operation": operation,
            "attempts": stats.attempts,
            "retries": stats.retries,
            "bytes": stats.bytes,
            "duration": duration,
        }
        if error is not None:
            metadata["error_type"] = type(error).__name__
        metadata.update(extra or {})
        with self._lock:
            counters = self._stats.setdefault(operation, _OpCounters())
            counters.calls += 1
            # A cancel is the caller's decision, not a failure of the project or the kit.
            cancelled = isinstance(error, CancelledError)
            counters.cancelled += cancelled
            counters.failures += error is not None and not cancelled
            counters.attempts += stats.attempts
            counters.retries += stats.retries
            counters.bytes += stats.bytes
            counters.duration += duration
        return HybridOperationResult(error is None, data, error, metadata, layer)

    def stats(self) -> dict[str, dict[str, float]]:
        """Per-operation counts: calls, failures, cancelled, attempts, retries, bytes, duration.

        The ``"total"`` entry sums them all.

        Example:
            >>> hm.list_buckets(); hm.stats()["list_buckets"]["calls"]  # doctest: +SKIP
            1
        """
        with self._lock:
            table = {
                name: {
                    "calls": c.calls,
                    "failures": c.failures,
                    "cancelled": c.cancelled,
                    "attempts": c.attempts,
                    "retries": c.retries,
                    "bytes": c.bytes,
                    "duration": round(c.duration, 6),
                }
                for name, c in sorted(self._stats.items())
            }
        keys = ("calls", "failures", "cancelled", "attempts", "retries", "bytes", "duration")
        total = {k: 0.0 for k in keys}
        for row in table.values():
            for k, v in row.items():
                total[k] += v
        table["total"] = total
        return table

    # ------------------------------------------------------------------ REST

    def execute_rpc(
        self,
        function: str,
        params: Mapping[str, Any] | None = None,
        *,
        get: bool = False,
        idempotent: bool | None = None,
    ) -> HybridOperationResult:
        """Call a PostgreSQL function through PostgREST (``POST /rest/v1/rpc/{function}``).

        It is :meth:`Database.execute_rpc <hybridkit.database.Database.execute_rpc>` on this
        manager's client, retry policy and breaker.

        Args:
            get: call with GET (for read-only functions; then retried freely).
            idempotent: whether a lost answer may be followed by a resend. Default:
                True for ``get``, else False — a POST is resent only when it surely
                never reached the server (refused connection, 429, 503).
        """
        return self._run(
            f"rpc {function}",
            lambda: self.rest.execute_rpc(function, params, get=get, idempotent=idempotent),
            layer="rest",
        )

    # ------------------------------------------------------------------ buckets

    def list_buckets(self) -> HybridOperationResult:
        """All buckets (``data``: list of ``BucketInfo``)."""
        return self._run("list_buckets", self.storage.list_buckets)

    def get_bucket(self, bucket: str) -> HybridOperationResult:
        """One bucket (``data``: ``BucketInfo``)."""
        return self._run("get_bucket", lambda: self.storage.get_bucket(bucket))

    def create_bucket(
        self,
        bucket: str,
        *,
        public: bool = False,
        file_size_limit: int | str | None = None,
        allowed_mime_types: Sequence[str] | None = None,
    ) -> HybridOperationResult:
        """Create a bucket (``data``: ``BucketInfo``)."""
        return self._run(
            "create_bucket",
            lambda: self.storage.create_bucket(
                bucket,
                public=public,
                file_size_limit=file_size_limit,
                allowed_mime_types=allowed_mime_types,
            ),
        )

    def update_bucket(self, bucket: str, **options: Any) -> HybridOperationResult:
        """Change ``public``, ``file_size_limit`` or ``allowed_mime_types``."""
        return self._run("update_bucket", lambda: self.storage.update_bucket(bucket, **options))

    def empty_bucket(self, bucket: str) -> HybridOperationResult:
        """Delete every object in a bucket."""
        return self._run("empty_bucket", lambda: self.storage.empty_bucket(bucket))

    def delete_bucket(self, bucket: str, *, force: bool = False) -> HybridOperationResult:
        """Delete a bucket (``force`` empties it first)."""
        return self._run("delete_bucket", lambda: self.storage.delete_bucket(bucket, force=force))

    # ------------------------------------------------------------------ objects

    def upload_file(
        self,
        bucket: str,
        source: str | PathLike[str] | IO[bytes],
        key: str | None = None,
        **options: Any,
    ) -> HybridOperationResult:
        """Upload a file (``data``: ``UploadResult``); ``key`` defaults to the file name.

        ``options`` are those of :meth:`StorageManager.upload` (``content_type``,
        ``cache_control``, ``upsert``, ``metadata``, ``progress``, ``resumable``, ``verify``,
        ``cancel``). A cancelled upload fails with a ``CancelledError``.
        """
        if key is None:
            name = getattr(source, "name", source)
            key = Path(str(name)).name

        def run() -> Any:
            return self.storage.upload(source, bucket, key, **options)

        return self._run("upload_file", run, extra={"bucket": bucket, "key": key})

    def download_file(
        self,
        bucket: str,
        key: str,
        destination: str | PathLike[str],
        **options: Any,
    ) -> HybridOperationResult:
        """Download to a file (``data``: ``DownloadResult``; ``cancel=`` as for storage)."""
        return self._run(
            "download_file",
            lambda: self.storage.download(bucket, key, destination, **options),
            extra={"bucket": bucket, "key": key},
        )

    def upload_folder(
        self, folder: str | PathLike[str], bucket: str, prefix: str = "", **options: Any
    ) -> HybridOperationResult:
        """Upload a folder (``data``: ``TransferReport``; ``success`` only if no file failed).

        With ``cancel=`` set, cancelled files also make ``success`` False; the error is
        then a ``CancelledError`` unless some file failed as well.
        """
        return self._run(
            "upload_folder", lambda: self.storage.upload_folder(folder, bucket, prefix, **options)
        )

    def download_prefix(
        self, bucket: str, prefix: str, folder: str | PathLike[str], **options: Any
    ) -> HybridOperationResult:
        """Download a prefix to a folder (``data``: ``TransferReport``)."""
        return self._run(
            "download_prefix",
            lambda: self.storage.download_prefix(bucket, prefix, folder, **options),
        )

    def list_objects(self, bucket: str, prefix: str = "", **filters: Any) -> HybridOperationResult:
        """A recursive, filtered listing (``data``: list of ``ObjectInfo``)."""
        return self._run(
            "list_objects", lambda: self.storage.list_objects(bucket, prefix, **filters)
        )

    def remove_objects(self, bucket: str, keys: Sequence[str]) -> HybridOperationResult:
        """Delete objects by key (``data``: the keys deleted)."""
        return self._run("remove_objects", lambda: self.storage.remove(bucket, keys))

    def remove_prefix(self, bucket: str, prefix: str, **filters: Any) -> HybridOperationResult:
        """Delete everything under a prefix that passes the filters."""
        return self._run(
            "remove_prefix", lambda: self.storage.remove_prefix(bucket, prefix, **filters)
        )

    def move_object(
        self, bucket: str, source: str, destination: str, **options: Any
    ) -> HybridOperationResult:
        """Move an object (``dest_bucket=`` for another bucket)."""
        return self._run(
            "move_object", lambda: self.storage.move(bucket, source, destination, **options)
        )

    def copy_object(
        self, bucket: str, source: str, destination: str, **options: Any
    ) -> HybridOperationResult:
        """Copy an object (``dest_bucket=``, ``upsert=``)."""
        return self._run(
            "copy_object", lambda: self.storage.copy(bucket, source, destination, **options)
        )

    def signed_url(self, bucket: str, key: str, expires_in: int = 3600) -> HybridOperationResult:
        """A signed download URL (``data``: str)."""
        return self._run("signed_url", lambda: self.storage.signed_url(bucket, key, expires_in))

    def object_info(self, bucket: str, key: str) -> HybridOperationResult:
        """An object's details (``data``: ``ObjectInfo``)."""
        return self._run("object_info", lambda: self.storage.info(bucket, key))

    def object_exists(self, bucket: str, key: str) -> HybridOperationResult:
        """Whether an object exists (``data``: bool)."""
        return self._run("object_exists", lambda: self.storage.exists(bucket, key))

    def verify_object(
        self,
        bucket: str,
        key: str,
        source: str | PathLike[str] | None = None,
        *,
        deep: bool = False,
    ) -> HybridOperationResult:
        """Compare a stored object with a local file (``data``: ``VerifyReport``)."""

        def run() -> Any:
            report = self.storage.verify(bucket, key, source, deep=deep)
            report.raise_for_problems()
            return report

        return self._run("verify_object", run)

    # ------------------------------------------------------------------ SQL and migrations

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
        result = self._run(
            "sql",
            lambda: self.sql_ops.sql(query, params, read_only=read_only, via=via),
            layer=self.sql_ops.layer(via),
            extra={"read_only": read_only, "via": via},
        )
        # SqlResult.via says which path ran; the layer chosen beforehand names failures.
        taken = _SQL_LAYERS.get(getattr(result.data, "via", ""))
        if taken is not None and taken != result.layer_used:
            result = dataclasses.replace(result, layer_used=taken)
        return result

    def migration_status(self, folder: Folder, *, via: str = "auto") -> HybridOperationResult:
        """The migration files in ``folder`` against the ledger (``data``: ``MigrationStatus``).

        ``success`` means the status was read: pending migrations and drift are in
        ``data`` (``data.pending``, ``data.by_state(...)``); :meth:`check_migrations`
        fails on them.
        """
        return self._run(
            "migration_status",
            lambda: self.sql_ops.migration_status(folder, via=via),
            layer=self.sql_ops.layer(via),
            extra={"folder": str(folder)},
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
        return self._run(
            "apply_migrations",
            lambda: self.sql_ops.apply_migrations(
                folder, dry_run=dry_run, include_all=include_all, via=via
            ),
            layer=self.sql_ops.layer(via),
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
        return self._run(
            "check_migrations",
            lambda: self.sql_ops.check_migrations(
                folder,
                expectations,
                lints=lints,
                via=via,
                shadow=shadow,
                shadow_url=shadow_url,
            ),
            layer=self.sql_ops.layer(via),
            extra={"folder": str(folder)},
            verdict=_problems,
        )

    # ------------------------------------------------------------------ health

    def health_check(self, *, timeout: float = 10.0) -> HybridOperationResult:
        """Reachability, auth, latency and clock skew of storage and REST.

        ``data`` is a :class:`HealthReport`; ``success`` is ``report.ok``. Probes
        are single requests, not retried and not subject to the circuit breaker,
        so they show the service as it is right now.
        """
        storage = self.storage
        probes = [
            ("storage", f"{storage.storage_url}/bucket"),
            ("rest", f"{storage.url}/rest/v1/"),
        ]

        def run() -> HealthReport:
            checks = [self._probe(name, url, timeout) for name, url in probes]
            return HealthReport(tuple(checks), storage.breaker.state)

        result = self._run("health_check", run)
        report = result.data
        if isinstance(report, HealthReport) and not report.ok:
            error = HybridError("health check: " + "; ".join(report.problems))
            return HybridOperationResult(False, report, error, result.metadata, "storage")
        return result

    def _probe(self, name: str, url: str, timeout: float) -> ServiceCheck:
        headers = self.storage.session.auth_headers
        sent = time.time()
        began = time.perf_counter()
        try:
            response = self.storage.http.get(url, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            return ServiceCheck(
                name, url, reachable=False, auth_ok=False, detail=f"unreachable: {classify(exc)}"
            )
        latency = time.perf_counter() - began
        skew: float | None = None
        date = response.headers.get("Date")
        if date:
            try:
                # ``Date`` counts whole seconds (truncated), and servers such as
                # uvicorn refresh it once a second: the server answered in [second,
                # second + 2) of its clock, while ours read [sent, sent + latency].
                # Report the smallest skew that fits both windows, so a clock in step
                # is never shown as off by the header's rounding.
                second = email.utils.parsedate_to_datetime(date).timestamp()
                low, high = second - (sent + latency), second + 2 - sent
                skew = 0.0 if low <= 0 <= high else (low if low > 0 else high)
            except (TypeError, ValueError):
                skew = None
        status = response.status_code
        auth_ok = True
        detail = f"HTTP {status} in {latency * 1000:.0f} ms"
        if status in (401, 403):
            auth_ok = False
        elif status == 400:
            error = classify(httpx.HTTPStatusError("", request=response.request, response=response))
            if error.status in (401, 403) or error.code in ("InvalidJWT", "AccessDenied"):
                auth_ok = False
        if not auth_ok:
            detail = f"the key was refused (HTTP {status})"
        elif status >= 500:
            detail = f"server error HTTP {status}"
        return ServiceCheck(
            name,
            url,
            reachable=status < 500,
            auth_ok=auth_ok,
            status=status,
            latency=latency,
            clock_skew=skew,
            detail=detail,
        )


def _problems(report: MigrationReport) -> HybridError | None:
    try:
        report.raise_for_problems()
    except MigrationError as exc:
        return exc
    return None
