"""The one rule for which path SQL and the migration ledger take.

``via`` is ``auto``, ``sql`` or ``management``. ``auto`` takes the direct
connection (``SUPABASE_DB_URL``) when it is set, else the Management API
(``SUPABASE_ACCESS_TOKEN`` with ``SUPABASE_PROJECT_REF``). ``Database.sql``, the
migration ledger (``migrations.ledger_from_settings``) and the manager's
:class:`~hybridkit.database.operations.SqlOperations` all ask this module.
"""

from __future__ import annotations

from typing import Literal

from hybridkit.config import Settings
from hybridkit.errors import ConfigError, InvalidInputError

__all__ = ["VIAS", "SqlPath", "choose_path", "planned_path"]

SqlPath = Literal["sql", "management"]
"""A direct PostgreSQL connection, or the Management API's query endpoint."""
VIAS = ("auto", "sql", "management")


def planned_path(settings: Settings, via: str) -> SqlPath:
    """The path ``via`` names, before checking that it is configured (never raises)."""
    if via == "management" or (via == "auto" and not settings.db_url):
        return "management"
    return "sql"


def choose_path(
    settings: Settings, via: str, *, management: bool = False, needs: str = "sql() needs"
) -> SqlPath:
    """The path ``via`` takes, checked against the settings.

    Args:
        settings: the configuration.
        via: ``auto``, ``sql`` or ``management``.
        management: a Management API client is at hand already (the settings need
            not name one).
        needs: the start of the error message (``"migrations need"``).

    Raises:
        InvalidInputError: ``via`` is none of the three.
        ConfigError: what ``via`` needs is not configured.

    Example:
        >>> choose_path(Settings(db_url="postgresql://localhost/db"), "auto")
        'sql'
    """
    if via not in VIAS:
        raise InvalidInputError(f"via must be auto, sql or management, not {via!r}")
    path = planned_path(settings, via)
    if path == "sql":
        settings.require("db_url")
        return "sql"
    if management or (settings.access_token and settings.project_ref):
        return "management"
    raise ConfigError(
        f"{needs} SUPABASE_DB_URL (a direct connection), or SUPABASE_ACCESS_TOKEN with "
        "SUPABASE_PROJECT_REF (the Management API)"
    )
