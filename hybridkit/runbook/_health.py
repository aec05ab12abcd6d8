"""Pieces of the health check that are not the manager's: versions, SQL, optional modules."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hybridkit.runbook._display import format_duration

__all__ = ["SqlHealth", "client_versions", "kit_migrations_dir", "optional_module", "sql_health"]


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
    """The kit's own ``migrations/`` folder (next to the package in a clone).

    ``HYBRIDKIT_MIGRATIONS`` overrides it.
    """
    configured = os.environ.get("HYBRIDKIT_MIGRATIONS")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "migrations"


def optional_module(name: str) -> ModuleType | None:
    """Import ``name`` if this installation has it (a part another issue delivers)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


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


def sql_health(conn: Any, *, timeout: float = 10.0) -> SqlHealth:
    """One read-only query through the kit's database layer, when SQL is configured.

    The manager has no SQL entry point (yet), so this goes to
    :class:`hybridkit.database.Database` — the layer the manager would use.
    """
    settings = conn.settings
    if not settings.db_url and not (settings.access_token and settings.project_ref):
        return SqlHealth("not checked: SUPABASE_DB_URL is not set")
    database = optional_module("hybridkit.database")
    if database is None:
        return SqlHealth("not checked: the database layer (hybridkit.database) is not installed")
    from hybridkit.errors import HybridError

    began = time.perf_counter()
    try:
        result = database.Database(settings).sql(
            "select current_setting('server_version') as version", read_only=True
        )
    except HybridError as exc:
        return SqlHealth(f"failed: {exc}", problem=f"sql: {exc}")
    latency = time.perf_counter() - began
    version = str(result.rows[0]["version"]) if result.rows else None
    return SqlHealth(f"ok via {result.via}", latency=latency, server_version=version)
