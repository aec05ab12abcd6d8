"""Tell a webhook how a run ended: a short JSON summary, Slack-compatible.

``hybridkit run … --notify URL`` posts when a run fails (``--notify-on always``: after
every run). The body has a ``text`` field (what Slack, Mattermost, Rocket.Chat and
Teams' incoming-webhook bridges show) and the same facts as fields for other
receivers. It carries no secret: the run's error is already redacted, parameters
are never secrets, and the webhook's own URL — which often is one — is never
printed or logged; messages name only its host.
"""

from __future__ import annotations

import platform
from typing import Any
from urllib.parse import urlsplit

from hybridkit.errors import InvalidInputError

__all__ = ["NOTIFY_ON", "check_webhook", "notify", "should_notify", "summary_payload"]

NOTIFY_ON = ("failure", "always")


def check_webhook(url: str) -> str:
    """The webhook URL, checked before the run starts.

    Raises:
        InvalidInputError: not an http(s) URL with a host (the message never shows it whole).
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            "--notify needs an http:// or https:// webhook URL (e.g. a Slack incoming webhook)"
        )
    return url.strip()


def where(url: str) -> str:
    """The webhook's host, the only part of its URL safe to show."""
    return urlsplit(url).hostname or "the webhook"


def should_notify(outcome_ok: bool, notify_on: str) -> bool:
    """Whether a run with this outcome is reported under ``notify_on``."""
    return notify_on == "always" or not outcome_ok


def summary_payload(record: dict[str, Any]) -> dict[str, Any]:
    """The webhook body for a run record (``RunResult.as_json()``, redacted)."""
    ok = bool(record.get("ok"))
    verdict = "ok" if ok else str(record.get("outcome") or "failed")
    line = f"hybridkit: {record.get('runbook')} {verdict.upper() if not ok else verdict}"
    if record.get("dry_run"):
        line += " (dry run)"
    details = [line]
    if not ok and record.get("error"):
        details.append(str(record["error"]))
    details.append(f"notebook: {record.get('notebook')}")
    return {
        "text": "\n".join(details),
        "runbook": record.get("runbook"),
        "run_id": record.get("run_id"),
        "outcome": record.get("outcome"),
        "ok": ok,
        "error": record.get("error"),
        "failed_cell": record.get("failed_cell"),
        "notebook": record.get("notebook"),
        "started_at": record.get("started_at"),
        "duration_s": record.get("duration_s"),
        "host": platform.node(),
    }


def notify(url: str, record: dict[str, Any], *, timeout: float = 10.0, attempts: int = 3) -> str:
    """Post the run's summary to ``url``; never raises.

    Transport errors, 429 and 5xx are retried (``attempts`` in all, short backoff).

    Returns:
        One line for the terminal: where it was sent, or why it was not.
    """
    import httpx
    from tenacity import (
        RetryError,
        retry,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential,
    )

    def transient(exc: BaseException) -> bool:
        if isinstance(exc, httpx.HTTPStatusError):
            return exc.response.status_code == 429 or exc.response.status_code >= 500
        return isinstance(exc, httpx.TransportError)

    @retry(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_exception(transient),
        reraise=False,
    )
    def post() -> int:
        response = httpx.post(url, json=summary_payload(record), timeout=timeout)
        response.raise_for_status()
        return response.status_code

    host = where(url)
    try:
        status = post()
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        return f"notification to {host} failed after {attempts} attempts: {_reason(cause)}"
    except Exception as exc:
        return f"notification to {host} failed: {_reason(exc)}"
    return f"notified {host} (HTTP {status})"


def _reason(exc: BaseException | None) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    # The message of a transport error may carry the URL; name only its kind.
    return type(exc).__name__ if exc is not None else "unknown error"
