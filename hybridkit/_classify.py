"""The one place where a foreign failure becomes a member of the hybridkit error tree.

storage3's ``StorageApiError`` (by the body's ``statusCode``/``code``: the Storage
API answers HTTP 400 for almost everything), postgrest's ``APIError`` (by its
code), httpx transport errors (by class) and raw responses of hybridkit's own
requests (downloads, TUS: JSON body first, else the HTTP status) all end up as a
``RetryableError`` or a ``NonRetryableError`` subclass. Re-exported by
:mod:`hybridkit.retry`.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from hybridkit.errors import (
    AuthError,
    ConflictError,
    HybridError,
    InvalidInputError,
    NonRetryableError,
    NotFoundError,
    QuotaError,
    RetryableError,
)

__all__ = [
    "classify",
    "classify_response",
    "is_safe_to_resend",
    "parse_retry_after",
    "response_body",
    "sqlstate_error",
]

# Body statusCode values that mean "try again" (storage-api.md §2, §11).
_RETRYABLE_STATUSES = frozenset({408, 423, 425, 429, 499, 500, 502, 503, 504, 520, 522, 524, 544})
# Failures where the server never acted on the request, so even a non-idempotent
# write may be sent again.
_UNSENT_CODES = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
_REFUSED_STATUSES = frozenset({429, 503})
# The one SQLSTATE table (PostgreSQL's error codes, met through PostgREST, the
# Management API and direct connections alike): serialization failure, deadlock,
# too many connections, admin/crash shutdown, cannot connect now, lock not available.
_SQLSTATE_RETRYABLE = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03", "55P03"})
_SQLSTATE_NOT_FOUND = frozenset({"42P01", "42883", "3F000", "3D000"})
_SQLSTATE_CONFLICT = frozenset({"23505", "23P01", "42P07", "42710"})
_SQLSTATE_INVALID = ("22", "23", "42", "2B", "0A", "25")


# --------------------------------------------------------------------------- classification


def _by_status(
    status: int | None,
    message: str,
    code: str | None,
    *,
    retry_after: float | None = None,
) -> HybridError:
    """Map a semantic status (the body's statusCode, else the HTTP status) to the tree."""
    if status is None:
        return NonRetryableError(message, code=code)
    if status in _RETRYABLE_STATUSES or status >= 500:
        return RetryableError(message, status=status, code=code, retry_after=retry_after)
    if status in (401, 403) or code in ("InvalidJWT", "AccessDenied"):
        return AuthError(message, status=status, code=code)
    if status in (404, 410):
        return NotFoundError(message, status=status, code=code)
    if status == 409:
        return ConflictError(message, status=status, code=code)
    if status in (413, 415):
        return QuotaError(message, status=status, code=code)
    if status in (400, 422):
        return InvalidInputError(message, status=status, code=code)
    return NonRetryableError(message, status=status, code=code)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Example:
        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after(None) is None
        True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - reference)


def classify_response(response: httpx.Response, *, context: str = "") -> HybridError:
    """Classify an error response that hybridkit sent itself (downloads, TUS).

    The Storage API's JSON error body (``{"statusCode": "404", "code": "NoSuchKey",
    ...}``) wins over the HTTP status; TUS answers in plain text with real statuses.

    Example:
        >>> r = httpx.Response(400, json={"statusCode": "404", "code": "NoSuchKey",
        ...                               "error": "not_found", "message": "Object not found"})
        >>> type(classify_response(r)).__name__
        'NotFoundError'
    """
    status: int | None = response.status_code
    code: str | None = None
    text = ""
    try:
        # Streamed responses may not have been read; an unread body is just empty here.
        text = response.text
    except httpx.ResponseNotRead:
        text = ""
    message = text.strip()[:300] or response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        body_status = _int_or_none(body.get("statusCode"))
        if body_status is not None:
            status = body_status
        raw_code = body.get("code") or body.get("error")
        code = str(raw_code) if raw_code is not None else None
        if body.get("message"):
            message = str(body["message"])
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    prefix = f"{context}: " if context else ""
    if status == 409 and "upload-offset" in message.lower():
        # TUS answers 409 both for "Upload-Offset conflict" (the client is behind
        # the server: ask it where it is, and go on) and for "The resource already
        # exists" (a real conflict): only the body tells them apart.
        return RetryableError(
            f"{prefix}{message} (status 409, OffsetConflict); asking the server where it is",
            status=409,
            code="OffsetConflict",
        )
    detail = f" (status {status}" + (f", {code})" if code else ")")
    return _by_status(status, f"{prefix}{message}{detail}", code, retry_after=retry_after)


def _classify_storage_api_error(exc: BaseException, prefix: str) -> HybridError:
    status = _int_or_none(getattr(exc, "status", None))
    code: str | None = getattr(exc, "code", None)
    message = str(getattr(exc, "message", "") or exc)
    retry_after: float | None = None
    # storage3 keeps the legacy ``error`` field as ``.code``; the newer enum
    # (NoSuchKey, KeyAlreadyExists...) and the Retry-After header live on the
    # httpx.HTTPStatusError it chains from.
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, httpx.HTTPStatusError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, httpx.HTTPStatusError):
        response = cause.response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            body = response.json()
        except (ValueError, httpx.ResponseNotRead):
            body = None
        if isinstance(body, dict) and body.get("code"):
            code = str(body["code"])
        if status is None:
            status = response.status_code
    detail = f" (status {status}" + (f", {code})" if code else ")")
    return _by_status(status, f"{prefix}{message}{detail}", code, retry_after=retry_after)


def _classify_postgrest_error(exc: BaseException, prefix: str) -> HybridError:
    code = str(getattr(exc, "code", "") or "")
    message = str(getattr(exc, "message", "") or "PostgREST error")
    text = f"{prefix}{message} (code {code})" if code else f"{prefix}{message}"
    status = _int_or_none(code)  # the fallback for non-JSON bodies is str(http_status)
    if status is not None and 100 <= status <= 599:
        return _by_status(status, text, code)
    if code in ("PGRST000", "PGRST001", "PGRST002", "PGRST003") or code.startswith("08"):
        return RetryableError(text, status=503, code=code)
    if code in ("PGRST301", "PGRST302", "PGRST300"):
        return AuthError(text, status=401, code=code)
    if code in ("PGRST202", "PGRST205", "PGRST116"):
        return NotFoundError(text, status=404, code=code)
    if code.startswith(("PGRST1", "PGRST2")):
        return InvalidInputError(text, status=400, code=code)
    return sqlstate_error(code, text)


def response_body(response: httpx.Response) -> Any:
    """A successful answer's body: ``None`` when empty, the JSON value, else the text."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def sqlstate_error(sqlstate: str, message: str) -> HybridError:
    """The kit's error for a PostgreSQL SQLSTATE (the one table; ``""`` for none).

    ``28xxx`` (a login refused) is 401, ``42501`` (permission denied to a known
    role) 403; transient states are a ``RetryableError``; a missing relation or
    function is a ``NotFoundError``, a duplicate a ``ConflictError``, a statement
    the server rejects an ``InvalidInputError``.

    Example:
        >>> sqlstate_error("42501", "permission denied for table t").status
        403
    """
    if sqlstate.startswith("28"):
        return AuthError(message, status=401, code=sqlstate)
    if sqlstate in _SQLSTATE_RETRYABLE or sqlstate.startswith("08"):
        return RetryableError(message, code=sqlstate)
    if sqlstate == "42501":
        return AuthError(message, status=403, code=sqlstate)
    if sqlstate in _SQLSTATE_NOT_FOUND:
        return NotFoundError(message, status=404, code=sqlstate)
    if sqlstate in _SQLSTATE_CONFLICT:
        return ConflictError(message, status=409, code=sqlstate)
    if sqlstate == "25006":
        return InvalidInputError(f"{message} — the statement tried to write", code=sqlstate)
    if sqlstate.startswith(_SQLSTATE_INVALID):
        return InvalidInputError(message, status=400, code=sqlstate)
    return NonRetryableError(message, code=sqlstate or None)


def classify(exc: BaseException, *, context: str = "") -> HybridError:
    """Turn any failure into a member of the hybridkit error tree.

    Args:
        exc: the failure. A ``HybridError`` is returned unchanged.
        context: what was being done (``"upload photos/a.png"``), prefixed to the message.

    Returns:
        A ``RetryableError`` (transport failures, timeouts, 429, 5xx, 423, 544) or a
        ``NonRetryableError`` subclass. The original is kept as ``__cause__``.

    Example:
        >>> type(classify(httpx.ConnectError("refused"))).__name__
        'RetryableError'
    """
    if isinstance(exc, HybridError):
        return exc
    prefix = f"{context}: " if context else ""
    result: HybridError
    name = type(exc).__name__
    if name == "StorageApiError" or _is_instance_of(exc, "storage3.exceptions", "StorageApiError"):
        result = _classify_storage_api_error(exc, prefix)
    elif _is_instance_of(exc, "postgrest.exceptions", "APIError"):
        result = _classify_postgrest_error(exc, prefix)
    elif isinstance(exc, httpx.HTTPStatusError):
        result = classify_response(exc.response, context=context)
    elif isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        # "No (complete) response came back": the httpx class name is the code, so
        # is_safe_to_resend can tell "never connected" from "lost mid-exchange".
        result = RetryableError(f"{prefix}{name}: {exc or 'no response'}", code=name)
    elif isinstance(exc, httpx.ProxyError):
        result = RetryableError(f"{prefix}{name}: {exc}", code=name)
    elif isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        result = InvalidInputError(f"{prefix}{name}: {exc}", code=name)
    elif isinstance(exc, httpx.HTTPError | httpx.StreamError):
        result = NonRetryableError(f"{prefix}{name}: {exc}", code=name)
    elif isinstance(exc, ValueError | TypeError) and _from_module(exc, "storage3"):
        result = InvalidInputError(f"{prefix}{exc}", code=name)
    elif isinstance(exc, TimeoutError | ConnectionError):
        result = RetryableError(f"{prefix}{name}: {exc}", code=name)
    else:
        # A malformed server answer (pydantic ValidationError, KeyError on a
        # response without "Key") or a bug: not worth sending again.
        result = NonRetryableError(f"{prefix}unexpected {name}: {exc}", code=name)
    result.__cause__ = exc
    return result


def _is_instance_of(exc: BaseException, module: str, name: str) -> bool:
    return any(k.__module__ == module and k.__name__ == name for k in type(exc).__mro__)


def _from_module(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(package):
            return True
        tb = tb.tb_next
    return False


def is_safe_to_resend(error: HybridError) -> bool:
    """True when the failed request surely had no effect on the server.

    A refused connection or pool timeout never sent the request; a 429 or 503
    answer refused it. A reset or read timeout may have lost the *response* to a
    request the server carried out.

    Example:
        >>> is_safe_to_resend(RetryableError("x", code="ConnectError"))
        True
        >>> is_safe_to_resend(RetryableError("x", code="ReadTimeout"))
        False
    """
    if not isinstance(error, RetryableError):
        return False
    return error.code in _UNSENT_CODES or error.status in _REFUSED_STATUSES
