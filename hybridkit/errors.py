"""The hybridkit exception tree.

Every failure that leaves the library is one of these. No httpx, storage3 or
postgrest exception crosses the library boundary: the client side translates
them in one place (``hybridkit.retry.classify``).

::

    HybridError
    ├── ConfigError            missing or malformed settings (raised at construction)
    ├── RetryableError         network failure, timeout, 429, 5xx, 503, 544 — retried
    │   └── RetriesExhausted   the retry budget is spent (attempts, last cause)
    ├── NonRetryableError      never retried
    │   ├── AuthError          401/403, bad or expired key
    │   ├── NotFoundError      bucket or object missing
    │   ├── ConflictError      already exists, bucket not empty
    │   ├── QuotaError         413 too large, 415 mime type not allowed
    │   └── InvalidInputError  invalid bucket name, key, parameter (before any request)
    ├── CircuitOpenError       the breaker is open and the caller asked not to wait
    ├── CancelledError         the caller's cancel event was set; never retried
    ├── MigrationError         a migration failed, or checks found drift
    └── LocalStackError        the embedded local stack cannot start, stop or be found

"No response came back" (``RetryableError`` from a transport failure) is a
different branch from "a response said no" (``NonRetryableError``), as in httpx.
A ``CancelledError`` is neither: the caller asked to stop, so it says nothing about
the server (it is never retried and the circuit breaker does not count it).
"""

from __future__ import annotations

from hybridkit.redact import scrub

__all__ = [
    "AuthError",
    "CancelledError",
    "CircuitOpenError",
    "ConfigError",
    "ConflictError",
    "HybridError",
    "InvalidInputError",
    "LocalStackError",
    "MigrationError",
    "NonRetryableError",
    "NotFoundError",
    "QuotaError",
    "RetriesExhausted",
    "RetryableError",
]


class HybridError(Exception):
    """Base of every hybridkit error.

    Attributes:
        message: a one-line explanation that names what is wrong and, where it
            can, how to fix it. Never contains a secret.
        status: the semantic status (the Storage API body's ``statusCode``, or
            the HTTP status), when a server answered.
        code: the server's error code (``NoSuchKey``, ``PGRST116``...), when known.
        hint: what to do about it, in one line, or ``""``; the CLI, the runbooks'
            failure block and the MCP server's answers show it under the message.
    """

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str = "",
    ) -> None:
        # A message that quotes a DSN or a token must not carry its secret.
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        if hint:
            self.hint = scrub(hint)

    def __str__(self) -> str:
        return self.message


class ConfigError(HybridError):
    """Settings are missing or malformed."""


class RetryableError(HybridError):
    """A transient failure: retrying the same request may succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class RetriesExhausted(RetryableError):
    """The retry budget (attempts or deadline) is spent."""

    def __init__(self, message: str, *, attempts: int, last_cause: BaseException | None) -> None:
        status = getattr(last_cause, "status", None)
        code = getattr(last_cause, "code", None)
        super().__init__(message, status=status, code=code)
        self.attempts = attempts
        self.last_cause = last_cause


class NonRetryableError(HybridError):
    """A response said no; sending the same request again will not help."""


class AuthError(NonRetryableError):
    """The key or token is missing, invalid, expired, or lacks permission."""


class NotFoundError(NonRetryableError):
    """The bucket or object does not exist (or is hidden by a policy)."""


class ConflictError(NonRetryableError):
    """The resource already exists, or a bucket is not empty."""


class QuotaError(NonRetryableError):
    """Too large for the bucket's limit, or a mime type the bucket refuses."""


class InvalidInputError(NonRetryableError):
    """A parameter is invalid; raised before any request is sent."""


class CircuitOpenError(HybridError):
    """The circuit breaker is open and the caller asked not to wait (``wait_for_breaker=False``).

    By default calls and jobs wait for the half-open probe instead; see docs/reliability.md.
    """


class CancelledError(HybridError):
    """The caller's ``cancel`` event was set; the operation stopped at a block boundary.

    Not a failure of the server: never retried, never counted by the circuit
    breaker. What was already stored stays as documented by the call that raised
    it (a cut standard upload stores nothing; a resumable upload resumes later).

    Example:
        >>> issubclass(CancelledError, RetryableError | NonRetryableError)
        False
    """


class MigrationError(HybridError):
    """A migration failed to apply, or checks found drift."""


class LocalStackError(HybridError):
    """The embedded local stack cannot be started, stopped or reached."""
