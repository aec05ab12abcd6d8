"""The migration dashboard's state: status, checks and lints, a dry run, apply.

The work is done by :mod:`hybridkit.migrations` and :mod:`hybridkit.checks` — the
code behind ``hybridkit migrate`` and the ``migration_check`` runbook. The manager
facade has no migration methods, so :class:`KitMigrations` calls those modules
directly, the way the CLI does. Tests pass their own backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hybridkit.config import Settings
from hybridkit_widgets._common import PanelError, describe

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
    """The kit's ``migrations/`` folder: in the working folder or a parent, else the clone's."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / "migrations"
        if (candidate / "checks.toml").is_file():
            return candidate
    import hybridkit

    return Path(hybridkit.__file__).resolve().parents[1] / "migrations"


class KitMigrations:
    """The backend over :mod:`hybridkit.migrations` and :mod:`hybridkit.checks`.

    Args:
        settings: ``SUPABASE_DB_URL`` (or an access token and project ref) say where.
        folder: the migrations folder (default :func:`find_migrations_dir`).
        lints: run the advisor's security lints with the checks.

    Raises:
        PanelError: the migrations module is not installed, or not configured.
    """

    def __init__(
        self, settings: Settings, folder: str | Path | None = None, *, lints: bool = True
    ) -> None:
        try:
            from hybridkit import checks, migrations
        except ImportError as exc:
            raise PanelError(
                f"migrations are not available in this hybridkit ({exc}); update hybridkit"
            ) from None
        self._migrations = migrations
        self._checks = checks
        self.folder = Path(folder) if folder else find_migrations_dir()
        self.lints = lints
        try:
            self._ledger = migrations.ledger_from_settings(settings)
        except Exception as exc:
            raise PanelError(f"cannot reach the migration ledger: {describe(exc)}") from None

    @property
    def target(self) -> str:
        return str(self._ledger.target)

    def status(self) -> Any:
        return self._migrations.migration_status(self.folder, self._ledger)

    def check(self, status: Any) -> Any:
        expectations_file = self.folder / "checks.toml"
        expectations = (
            self._checks.Expectations.load(expectations_file)
            if expectations_file.is_file()
            else None
        )
        return self._checks.check(self._ledger, expectations, status=status, lints=self.lints)

    def apply(self, *, dry_run: bool) -> Any:
        return self._migrations.apply_migrations(self.folder, self._ledger, dry_run=dry_run)


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
