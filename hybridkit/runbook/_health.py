"""Pieces of the health check that are not the manager's: versions, the SQL row, migrations."""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridkit.config import kit_env
from hybridkit.runbook._display import format_duration

__all__ = ["SqlHealth", "client_versions", "kit_migrations_dir", "sql_health"]


def client_versions() -> dict[str, str]:
    """The versions a bug report needs: Python, hybridkit and the Supabase clients."""
    out = {"python": platform.python_version()}
    for dist in ("hybridkit", "supabase", "storage3", "postgrest", "httpx", "psycopg"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def kit_migrations_dir() -> Path:
    """The kit's own migrations: ``migrations/`` in a clone, shipped inside the package.

    ``HYBRIDKIT_MIGRATIONS`` overrides it.
    """
    configured = kit_env("HYBRIDKIT_MIGRATIONS")
    if configured:
        return Path(configured).expanduser()
    return (Path(__file__).parents[1] / "_migrations").resolve()


@dataclass(frozen=True)
class SqlHealth:
    """The SQL path's health, as a row of the health check's table.

    Attributes:
        status: ``ok``, or what is wrong or why it was not checked.
        problem: a line for the problems list, or ``None`` (not checked is not a problem).
        latency: seconds for a round trip, when measured.
        server_version: PostgreSQL's version, when reached.
    """

    status: str
    problem: str | None = None
    latency: float | None = None
    server_version: str | None = None

    def row(self) -> dict[str, Any]:
        """The health table's row."""
        checked = self.latency is not None or self.problem is not None
        return {
            "service": "sql",
            "ok": self.problem is None if checked else "-",
            "reachable": self.latency is not None if checked else "-",
            "key accepted": "-",
            "latency": format_duration(self.latency),
            "clock skew": "-",
            "detail": self.status,
        }


def sql_health(result: Any) -> SqlHealth:
    """The SQL row of the health check, from one read-only ``manager.sql(...)`` call.

    Args:
        result: the ``HybridOperationResult`` of the query; its rows may carry a
            ``version`` column (PostgreSQL's ``server_version``).

    A ``ConfigError`` (no ``SUPABASE_DB_URL`` and no Management API token) means
    SQL is not checked, which is not a problem.

    Example:
        >>> sql = rb.sql_health(manager.sql("select 1 as one"))  # doctest: +SKIP
        >>> sql.status  # doctest: +SKIP
        'ok via sql'
    """
    from hybridkit.errors import ConfigError

    error = getattr(result, "error", None)
    if isinstance(error, ConfigError):
        return SqlHealth(f"not checked: {error}")
    if not getattr(result, "success", False):
        return SqlHealth(f"failed: {error}", problem=f"sql: {error}")
    rows = getattr(result.data, "rows", ())
    version = rows[0].get("version") if rows else None
    return SqlHealth(
        f"ok via {result.layer_used}",
        latency=result.metadata.get("duration"),
        server_version=None if version is None else str(version),
    )
