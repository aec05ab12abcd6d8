"""The one redaction of secrets, for every output path.

Config reprs, exception messages, run records and their ``ops_runs`` notes, the
saved notebooks, log lines and the CLI's stderr all go through here, so a
secret is masked by the same rules wherever it would show:

* **shapes** that are secret whatever their value — the password of a URL
  (``scheme://user:PASSWORD@host``), the ``password=`` of a key=value DSN
  (quoted or not), anything shaped like a JWT — are masked even when the value
  is not known (:func:`scrub`);
* **known values** (the keys, tokens and the database password from the
  environment, see :func:`known_secrets`) are masked in every form they can
  take: as given, percent-encoded and percent-decoded, whatever their length
  (:func:`redact_text`). A bare password is matched as a whole word so that a
  two-letter password does not eat every word it occurs in. The one exception
  is the local stack's public password ``postgres`` (the Supabase CLI's, as
  public as the demo keys): masked in URLs and DSNs, but the word
  "postgres" stays readable elsewhere.

Example:
    >>> scrub("connect to postgresql://u:s3cr3t@db:5432/postgres failed")
    'connect to postgresql://u:********@db:5432/postgres failed'
    >>> scrub("host=127.0.0.1 user=u password=s3cr3t")
    'host=127.0.0.1 user=u password=********'
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "MASK",
    "REDACTED",
    "RedactingFilter",
    "dsn_password",
    "is_signed_url_token",
    "known_secrets",
    "mask_dsn",
    "redact",
    "redact_text",
    "scrub",
]

MASK = "********"
REDACTED = "[REDACTED]"

#: Environment variables whose whole value is a secret.
SECRET_ENV = (
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_ANON_KEY",
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_JWT_SECRET",
)
#: Environment variables holding a DSN whose password is a secret.
DSN_ENV = ("SUPABASE_DB_URL", "SUPABASE_READ_ONLY_DB_URL")
#: Public by design (the Supabase CLI's local password); masked only in its DSN forms.
PUBLIC_PASSWORDS = frozenset({"postgres"})

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
ACCESS_TOKEN = re.compile(r"\bsbp_[A-Za-z0-9]{16,}")
"""A Supabase personal access token."""
# scheme://user:PASSWORD@ — the password runs to the last "@" before the host part
# (an unencoded "@" in a password is common in hand-written URLs).
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)(?P<pw>[^\s'\"/]*)@")
# password=VALUE in a key=value DSN: 'quoted with \' escapes' or up to whitespace.
_KV_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE
)


def scrub(text: str, *, keep_signed_urls: bool = False) -> str:
    """Mask what is shaped like a secret (URL and DSN passwords, JWTs, access tokens).

    Args:
        keep_signed_urls: leave a JWT without a ``role`` claim but with a ``url``
            claim — a Storage signed URL's token, which is what a caller asked for
            — and mask every other JWT (API keys carry a ``role``).
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    text = ACCESS_TOKEN.sub(REDACTED, text)
    if keep_signed_urls:
        return JWT.sub(_unless_signed_url, text)
    return JWT.sub(REDACTED, text)


def is_signed_url_token(token: str) -> bool:
    """True for a JWT whose claims hold a ``url`` and no ``role`` (a signed URL's token)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return False
    return isinstance(claims, dict) and "role" not in claims and "url" in claims


def _unless_signed_url(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if is_signed_url_token(token) else REDACTED


def mask_dsn(dsn: str) -> str:
    """``dsn`` (URL or key=value) with its password masked and the rest readable.

    Example:
        >>> mask_dsn("postgresql://postgres:pw@127.0.0.1:54322/postgres")
        'postgresql://postgres:********@127.0.0.1:54322/postgres'
    """
    return scrub(dsn)


def dsn_password(dsn: str) -> str | None:
    """The password in ``dsn`` (URL or key=value form), unquoted; ``None`` when it has none."""
    text = dsn.strip()
    if "://" in text:
        try:
            raw = urlsplit(text).password
        except ValueError:
            raw = None
        if raw is None:
            match = _URL_USERINFO.search(text)
            raw = match["pw"] if match else None
        return unquote(raw) if raw else None
    match = _KV_PASSWORD.search(text)
    if match is None:
        return None
    value = match["pw"]
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value or None


def _forms(value: str) -> set[str]:
    """A secret as it can be written: as given, percent-encoded, percent-decoded."""
    return {v for v in (value, quote(value, safe=""), unquote(value)) if v}


def known_secrets(env: Mapping[str, str]) -> list[str]:
    """The secret strings in ``env`` that must never reach an output, longest first.

    Every form of each key and token, each DSN whole and its password in every
    form (the password as a bare word, see :func:`redact_text`).
    """
    values: set[str] = set()
    for name in SECRET_ENV:
        if env.get(name):
            values |= _forms(env[name])
    for name in DSN_ENV:
        dsn = env.get(name)
        if not dsn:
            continue
        values.add(dsn)
        password = dsn_password(dsn)
        if password and password not in PUBLIC_PASSWORDS:
            values |= _forms(password)
    return sorted(values, key=len, reverse=True)


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = []
    for secret in sorted(set(secrets), key=len, reverse=True):
        escaped = re.escape(secret)
        # A whole word for word-like secrets (a short password must not eat other words);
        # anywhere for the rest (keys, URLs, passwords with punctuation at their ends).
        if secret[0].isalnum():
            escaped = r"(?<![A-Za-z0-9])" + escaped
        if secret[-1].isalnum():
            escaped += r"(?![A-Za-z0-9])"
        alternatives.append(escaped)
    return re.compile("|".join(alternatives)) if alternatives else None


def redact_text(
    text: str, secrets: Iterable[str] = (), *, keep_signed_urls: bool = False
) -> tuple[str, int]:
    """``text`` with every known secret and every secret shape masked; and how many.

    Example:
        >>> redact_text("the password is s3cr3t", ["s3cr3t"])
        ('the password is [REDACTED]', 1)
    """
    count = 0
    pattern = _pattern(secrets)
    if pattern is not None:
        text, count = pattern.subn(REDACTED, text)
    scrubbed = scrub(text, keep_signed_urls=keep_signed_urls)
    if scrubbed != text:
        count += 1
    return scrubbed, count


def redact(node: Any, secrets: Iterable[str] = ()) -> tuple[Any, int]:
    """Redact every string in a JSON tree (keys too); count what was masked."""
    secret_list = list(secrets)
    count = 0

    def walk(value: Any) -> Any:
        nonlocal count
        if isinstance(value, str):
            value, n = redact_text(value, secret_list)
            count += n
            return value
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        return value

    return walk(node), count


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (install it on a handler).

    Example:
        >>> handler = logging.StreamHandler()
        >>> handler.addFilter(RedactingFilter(["s3cr3t"]))
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned, n = redact_text(message, self.secrets)
        if n:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(logging.Formatter().formatException(record.exc_info))
            record.exc_text = redact_text(text, self.secrets)[0]
        return True
