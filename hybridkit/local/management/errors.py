"""The Management API's wire errors: ``{"message": ...}`` with the real statuses."""

from __future__ import annotations

from typing import Any

import psycopg

from hybridkit.local.errors import WireError

__all__ = ["ManagementError"]


class ManagementError(WireError):
    """An error answer of the Management API (``api.supabase.com``)."""

    media_type = "application/json"
    ensure_ascii = False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message}

    @classmethod
    def unauthorized(cls) -> ManagementError:
        return cls(401, "Unauthorized")

    @classmethod
    def not_found(cls, what: str) -> ManagementError:
        return cls(404, f"{what} not found")

    @classmethod
    def bad_request(cls, message: str) -> ManagementError:
        return cls(400, message)

    @classmethod
    def sql_failed(cls, exc: psycopg.Error, status: int = 400) -> ManagementError:
        """How the hosted API reports a failed query: 400, PostgreSQL's text inside."""
        diag = exc.diag
        primary = diag.message_primary or str(exc).strip().splitlines()[0]
        text = f"Failed to run sql query: ERROR:  {exc.sqlstate or 'XX000'}: {primary}"
        if diag.message_detail:
            text += f"\nDETAIL:  {diag.message_detail}"
        if diag.message_hint:
            text += f"\nHINT:  {diag.message_hint}"
        return cls(status, text)
