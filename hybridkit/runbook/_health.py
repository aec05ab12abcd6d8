"""Pieces of the health check that are not the manager's: versions, SQL, optional modules."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from hybridkit.runbook._display import format_duration

__all__ = ["SqlHealth", "client_versions", "optional_module", "sql_health"]


def client_versions() -> dict[str, str]:
    """The versions a bug report needs: Python, hybridkit and the Supabase clients."""
    out = {"python": platform.python_version()}
    for dist in ("hybridkit", "supabase", "storage3", "postgrest", "httpx", "psycopg"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


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
    """

    status: str
    problem: str | None = None
    latency: float | None = None

    def row(self) -> dict[str, Any]:
        """The health table's row."""
        ok = self.status == "ok"
        return {
            "service": "sql",
            "ok": ok if self.latency is not None or self.problem else "-",
            "reachable": "-" if self.latency is None and not self.problem else ok,
            "key accepted": "-",
            "latency": format_duration(self.latency),
            "clock skew": "-",
            "detail": self.status,
        }


def sql_health(conn: Any, *, timeout: float = 10.0) -> SqlHealth:
    """Check SQL through the kit's database layer, when it and ``SUPABASE_DB_URL`` are there."""
    settings = conn.settings
    if not settings.db_url and not settings.access_token:
        return SqlHealth("not checked: neither SUPABASE_DB_URL nor SUPABASE_ACCESS_TOKEN is set")
    database = optional_module("hybridkit.database")
    if database is None:
        # GAP (issue 4): SQL goes through hybridkit.database, which has not landed yet.
        return SqlHealth("not checked: the database layer (hybridkit.database) is not installed")
    return SqlHealth("not checked: the database layer's health probe is not wired in yet")
