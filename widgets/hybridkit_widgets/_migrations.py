"""The migration dashboard's state: status, checks and lints, a dry run, apply.

The work goes through the manager facade, as in the ``migration_check`` runbook:
``HybridSupabaseManager.migration_status``, ``apply_migrations`` and
``check_migrations``. So the dashboard and a headless run read and change the
ledger by the same path, and both leave the same trace in the manager's
``stats()``. :class:`KitMigrations` unwraps their ``HybridOperationResult``
values for :class:`MigrationState`; tests pass their own backend.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hybridkit.config import Settings, mask_url
from hybridkit.errors import ConfigError
from hybridkit_widgets._common import PanelError, describe

if TYPE_CHECKING:
    from hybridkit.manager import HybridOperationResult, HybridSupabaseManager

__all__ = ["KitMigrations", "MigrationBackend", "MigrationState", "find_migrations_dir"]


class MigrationBackend(Protocol):
    """What the dashboard needs from the migrations layer."""

    @property
    def target(self) -> str:
        """Where the ledger is (no secrets)."""
        ...

    def status(self) -> Any:
        """A ``MigrationStatus``: ``entries`` (version, name, state, note), ``pending``, ``ok``."""
        ...

    def check(self, status: Any) -> Any:
        """A ``MigrationReport``: ``findings`` (check, subject, ok, severity, detail), ``ok``."""
        ...

    def apply(self, *, dry_run: bool) -> Any:
        """An ``ApplyResult``: ``planned`` (with ``filename``), ``applied``, ``sql``."""
        ...


def find_migrations_dir(start: Path | None = None) -> Path:
    """The kit's ``migrations/`` folder: in the working folder or a parent, else the package's."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / "migrations"
        if (candidate / "checks.toml").is_file():
            return candidate
    from hybridkit.runbook import kit_migrations_dir

    return kit_migrations_dir()


def _ledger_target(settings: Settings, via: str = "auto") -> str:
    """Where the manager's migration calls will go (no secrets), by the facade's rule.

    The direct connection (``SUPABASE_DB_URL``, masked) when it is set and ``via``
    allows it, else the Management API (``management:<project ref>``).

    Raises:
        ConfigError: what ``via`` needs is not configured (so the dashboard can say
            so before any call).
    """
    if via not in ("auto", "sql", "management"):
        raise ConfigError(f"via must be auto, sql or management, not {via!r}")
    if via == "sql" or (via == "auto" and settings.db_url):
        settings.require("db_url")
        assert settings.db_url is not None
        return mask_url(settings.db_url.get_secret_value())
    if via == "auto" and not (settings.access_token and settings.project_ref):
        raise ConfigError(
            "migrations need SUPABASE_DB_URL, or SUPABASE_ACCESS_TOKEN with SUPABASE_PROJECT_REF"
        )
    settings.require("access_token", "project_ref")
    return f"management:{settings.project_ref}"


def _data(result: HybridOperationResult, *, report: bool = False) -> Any:
    """``result.data``, else a :class:`PanelError` with the result's error (no secrets).

    With ``report``, a failed result that still carries its data (``check_migrations``
    when the checks find problems) gives that data: the findings are the answer.
    """
    if result.success or (report and result.data is not None):
        return result.data
    error = result.error
    raise PanelError(describe(error) if error is not None else "the operation failed")


class KitMigrations:
    """The backend over a ``HybridSupabaseManager``'s migration calls.

    Args:
        manager: the manager to work through (not closed here); or, as before,
            ``Settings`` to build one from (closed by :meth:`close`, or when this
            backend is garbage-collected).
        folder: the migrations folder (default :func:`find_migrations_dir`).
        lints: run the advisor's security lints with the checks (``None``: as
            ``checks.toml`` says).
        settings: the settings, by keyword (instead of ``manager``).
        via: ``auto``, ``sql`` or ``management``, as for the manager's calls.

    Attributes:
        manager: the ``HybridSupabaseManager``.
        last_result: the last ``HybridOperationResult`` (its ``layer_used`` and
            ``metadata`` say which path did the work and how many attempts it took).

    Raises:
        PanelError: the ledger is not configured (neither ``SUPABASE_DB_URL`` nor an
            access token with a project ref), or no manager can be built.

    Example:
        >>> KitMigrations(conn.manager, "migrations").status().pending  # doctest: +SKIP
        []
    """

    def __init__(
        self,
        manager: HybridSupabaseManager | Settings | None = None,
        folder: str | Path | None = None,
        *,
        lints: bool | None = True,
        settings: Settings | None = None,
        via: str = "auto",
    ) -> None:
        if isinstance(manager, Settings):
            manager, settings = None, manager if settings is None else settings
        if manager is None and settings is None:
            raise PanelError("no manager: pass the runbook's conn.manager (or its settings)")
        self.folder = Path(folder) if folder else find_migrations_dir()
        self.lints = lints
        self.via = via
        self.last_result: HybridOperationResult | None = None
        # The calls go out with the manager's settings: name the target by them.
        wanted = getattr(manager, "settings", None) if manager is not None else settings
        if wanted is not None:
            # Missing settings are a ConfigError at construction, never mid-call.
            try:
                self._target = _ledger_target(wanted, via)
            except ConfigError as exc:
                raise PanelError(f"cannot reach the migration ledger: {describe(exc)}") from None
        else:
            self._target = ""
        self._close: weakref.finalize[[], KitMigrations] | None = None
        if manager is None:
            assert settings is not None
            manager = self._build(settings)
            self._close = weakref.finalize(self, manager.close)
        self.manager: HybridSupabaseManager = manager

    @staticmethod
    def _build(settings: Settings) -> HybridSupabaseManager:
        try:
            from hybridkit.manager import HybridSupabaseManager
        except ImportError as exc:  # pragma: no cover - an old hybridkit
            raise PanelError(f"the manager is not available ({exc}); update hybridkit") from None
        try:
            return HybridSupabaseManager(settings)
        except Exception as exc:
            raise PanelError(f"cannot start the manager: {describe(exc)}") from None

    @property
    def owns_manager(self) -> bool:
        """True when this backend built the manager (and closes it)."""
        return self._close is not None

    def close(self) -> None:
        """Close the manager when this backend built it (idempotent); else nothing."""
        if self._close is not None:
            self._close()

    def __enter__(self) -> KitMigrations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def target(self) -> str:
        return self._target

    def status(self) -> Any:
        result = self.last_result = self.manager.migration_status(self.folder, via=self.via)
        status = _data(result)
        self._target = str(getattr(status, "target", "") or self._target)
        return status

    def check(self, status: Any) -> Any:
        # The facade reads the status itself; expectations come from folder/checks.toml.
        result = self.last_result = self.manager.check_migrations(
            self.folder, lints=self.lints, via=self.via
        )
        return _data(result, report=True)

    def apply(self, *, dry_run: bool) -> Any:
        result = self.last_result = self.manager.apply_migrations(
            self.folder, dry_run=dry_run, via=self.via
        )
        return _data(result)


@dataclass(frozen=True)
class Plan:
    """What applying would do: the files and their SQL."""

    files: tuple[str, ...]
    sql: str


def _state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


class MigrationState:
    """Status and checks as last loaded, and the apply step.

    Example:
        >>> state = MigrationState(KitMigrations(settings))  # doctest: +SKIP
        >>> state.load(); state.pending_count  # doctest: +SKIP
        6
    """

    def __init__(self, backend: MigrationBackend) -> None:
        self.backend = backend
        self.status: Any = None
        self.report: Any = None
        self.last_applied: tuple[str, ...] = ()

    def load(self) -> None:
        """Read the status, then run the checks and lints (read-only)."""
        try:
            self.status = self.backend.status()
        except Exception as exc:
            raise PanelError(f"migration status failed: {describe(exc)}") from None
        try:
            self.report = self.backend.check(self.status)
        except Exception as exc:
            self.report = None
            raise PanelError(f"migration checks failed: {describe(exc)}") from None

    @property
    def pending_count(self) -> int:
        """Migrations not applied yet."""
        return len(self.status.pending) if self.status is not None else 0

    def status_rows(self) -> list[dict[str, str]]:
        """version, name, state, note — one row per migration."""
        if self.status is None:
            return []
        return [
            {
                "version": str(e.version),
                "name": str(e.name),
                "state": _state_name(e.state),
                "note": str(e.note or ""),
            }
            for e in self.status.entries
        ]

    def finding_rows(self, *, problems_first: bool = True) -> list[dict[str, str]]:
        """result, check, subject, detail — failures first."""
        if self.report is None:
            return []
        order = {"error": 0, "warning": 1, "info": 2}
        findings: Sequence[Any] = list(self.report.findings)
        if problems_first:
            findings = sorted(
                findings, key=lambda f: (bool(f.ok), order.get(str(f.severity), 3), f.check)
            )
        return [
            {
                "result": "ok" if f.ok else str(f.severity).upper(),
                "check": str(f.check),
                "subject": str(f.subject),
                "detail": str(f.detail),
            }
            for f in findings
        ]

    @property
    def verdict(self) -> str:
        """One line: drift, problems, warnings."""
        if self.status is None:
            return "not loaded"
        parts = [f"{self.pending_count} pending"]
        parts.append("no drift" if self.status.ok else "DRIFT")
        if self.report is not None:
            parts.append(f"{len(self.report.problems)} problem(s)")
            parts.append(f"{len(self.report.warnings)} warning(s)")
        return ", ".join(parts)

    def plan(self) -> Plan:
        """A dry run: which files would be applied, and their SQL."""
        try:
            result = self.backend.apply(dry_run=True)
        except Exception as exc:
            raise PanelError(f"planning failed: {describe(exc)}") from None
        return Plan(tuple(m.filename for m in result.planned), str(result.sql))

    def apply(self) -> tuple[str, ...]:
        """Apply the pending migrations (each in its own transaction), then reload."""
        if self.pending_count == 0:
            raise PanelError("nothing to apply: no pending migration")
        try:
            result = self.backend.apply(dry_run=False)
        except Exception as exc:
            # The failing migration left nothing; the ones before it stay applied.
            with contextlib.suppress(PanelError):
                self.load()
            raise PanelError(f"apply failed: {describe(exc)}") from None
        self.last_applied = tuple(str(v) for v in result.applied)
        self.load()
        return self.last_applied
