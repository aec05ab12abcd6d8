"""The one boundary between the kit and MCP: errors become tool errors, outputs are made safe.

Every tool is wrapped by :meth:`Boundary.tool`. What leaves it is

- on success, a JSON value: dataclasses, paths, datetimes and tuples converted,
  long strings and lists cut with a ``truncated`` note, every known secret (and any
  JWT that carries a ``role`` claim, i.e. an API key) replaced by ``[REDACTED]``;
- on failure, the SDK's ``ToolError`` (an MCP result with ``isError`` set) whose text
  is ``<ErrorClass>: <message>`` and a ``hint:`` line saying what to do — instead of
  the SDK's bare "Error executing tool X" for an exception it does not know.

The same redaction filters the server's log records.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import PurePath
from typing import Any, TypeVar

from hybridkit import errors
from hybridkit.redact import REDACTED, redact_text

__all__ = ["REDACTED", "Boundary", "Redactor", "ToolRefusal", "hint_for"]

MAX_TEXT = 4000  # characters of one string in a result
MAX_ITEMS = 500  # items of one list in a result (tools apply their own, smaller limits first)


F = TypeVar("F", bound=Callable[..., Any])


class ToolRefusal(errors.InvalidInputError):
    """The server refused a call on purpose (read-only mode, a path outside the root...).

    Attributes:
        hint: what to do about it.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


_HINTS: tuple[tuple[type[BaseException], str], ...] = (
    (ToolRefusal, ""),
    (
        errors.AuthError,
        "the configured key was refused or lacks permission; check "
        "SUPABASE_SERVICE_ROLE_KEY (or the key the server was started with)",
    ),
    (errors.NotFoundError, "check the name: list_buckets and list_objects show what exists"),
    (
        errors.ConflictError,
        "it already exists, or the bucket still holds objects "
        "(delete_bucket with empty_first=true, or empty_bucket)",
    ),
    (errors.QuotaError, "the bucket's size limit or allowed mime types refuse this file"),
    (errors.InvalidInputError, "fix the argument named in the message and call again"),
    (
        errors.ConfigError,
        "the server's settings are incomplete; set the variable named in "
        "the message in the environment the MCP server is started from",
    ),
    (
        errors.CircuitOpenError,
        "the project failed repeatedly; wait a minute, then run health_check",
    ),
    (
        errors.RetriesExhausted,
        "the project did not answer after several attempts; run health_check",
    ),
    (errors.RetryableError, "a transient failure; calling again may succeed"),
    (errors.MigrationError, "migration_status and migration_check show the drift"),
    (errors.CancelledError, "the operation was cancelled; nothing more was done"),
    (errors.LocalStackError, "the local stack could not start; run `hybridkit local status`"),
)


def hint_for(exc: BaseException) -> str:
    """What to do about ``exc``: its own ``hint`` when it has one, else one per error class."""
    own = getattr(exc, "hint", "")
    if isinstance(own, str) and own:
        return own
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return hint
    return ""


class Redactor:
    """Replaces known secret strings, API-key JWTs, access tokens and URL passwords.

    The rules are :mod:`hybridkit.redact`'s, as on every output path, with one
    addition: a signed URL's token (a JWT with a ``url`` claim and no ``role``)
    stays, since a signed URL is what the tool was asked for.

    Args:
        secrets: the exact strings that must never appear (keys, the JWT secret, the
            database URL and its password...). Short strings (< 6 characters) are
            ignored: they would redact ordinary words.

    Example:
        >>> Redactor(["s3cr3t-value"]).text("key=s3cr3t-value")
        'key=[REDACTED]'
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` redacted by :func:`hybridkit.redact.redact_text`, signed URLs kept."""
        return redact_text(value, self._secrets, keep_signed_urls=True)[0]

    def value(self, node: Any) -> Any:
        """A JSON tree with every string redacted."""
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, dict):
            return {str(k): self.value(v) for k, v in node.items()}
        return node


def jsonable(value: Any, *, max_text: int = MAX_TEXT, max_items: int = MAX_ITEMS) -> Any:
    """``value`` as JSON data, bounded: long strings and lists are cut and say so."""

    def walk(node: Any) -> Any:
        if node is None or isinstance(node, bool | int | float):
            return node
        if isinstance(node, str):
            if len(node) > max_text:
                return node[:max_text] + f"… [truncated: {len(node)} characters in all]"
            return node
        if isinstance(node, enum.Enum):
            return walk(node.value)
        if isinstance(node, datetime | date):
            return node.isoformat()
        if isinstance(node, timedelta):
            return node.total_seconds()
        if isinstance(node, PurePath):
            return str(node)
        if isinstance(node, bytes):
            return f"<{len(node)} bytes>"
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            return {f.name: walk(getattr(node, f.name)) for f in dataclasses.fields(node)}
        if isinstance(node, Mapping):
            return {str(k): walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple | set | frozenset):
            items = list(node)
            out = [walk(v) for v in items[:max_items]]
            if len(items) > max_items:
                out.append(f"[truncated: {len(items) - max_items} more of {len(items)}]")
            return out
        secret = getattr(node, "get_secret_value", None)
        if callable(secret):
            return REDACTED
        return walk(str(node))

    return walk(value)


class Boundary:
    """Wraps tools: one translation of failures, one conversion and redaction of results."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def tool(self, fn: F) -> F:
        """``fn`` with its result made safe and its failures turned into tool errors."""
        from mcp.server.mcpserver.exceptions import ToolError

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                raise ToolError(self.describe(exc)) from None
            return self.redactor.value(jsonable(result))

        return wrapper  # type: ignore[return-value]

    def describe(self, exc: BaseException) -> str:
        """``Class: message`` plus a ``hint:`` line, redacted."""
        if isinstance(exc, errors.HybridError):
            text = f"{type(exc).__name__}: {exc.message}"
        else:
            # Not from the error tree: a bug or an unexpected library failure. Say what it
            # was without a traceback (the log has none either).
            text = f"internal error ({type(exc).__name__}): {exc}"
        hint = hint_for(exc)
        if hint:
            text += f"\nhint: {hint}"
        return self.redactor.text(text)

    def log_filter(self) -> logging.Filter:
        """A filter that redacts every record's message (install it on the root handlers)."""
        redactor = self.redactor

        class _Redact(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                try:
                    message = record.getMessage()
                except Exception:
                    return True
                record.msg, record.args = redactor.text(message), None
                if record.exc_info and record.exc_info[1] is not None:
                    exc = record.exc_info[1]
                    record.msg += f" ({type(exc).__name__}: {redactor.text(str(exc))})"
                    record.exc_info = None
                    record.exc_text = None
                return True

        return _Redact()
