"""JWT keys and verification for the local stack, like the Supabase CLI's.

By default the stack uses the CLI's well-known local JWT secret and its demo
``anon`` and ``service_role`` keys, so Supabase docs and the official clients'
test set-ups work unchanged. ``generate_keys(random_secret=True)`` mints a random
secret and keys signed with it instead.

Verification mirrors the Storage API (jose, ``HS256`` only) and its messages:
``Invalid Compact JWS``, ``signature verification failed``,
``"exp" claim timestamp check failed``, and the algorithm error.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import jwt

__all__ = [
    "DEMO_ANON_KEY",
    "DEMO_JWT_SECRET",
    "DEMO_SERVICE_ROLE_KEY",
    "STORAGE_ROLES",
    "JWTError",
    "Keys",
    "bearer_token",
    "generate_keys",
    "mint",
    "verify",
]

DEMO_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
# {"iss":"supabase-demo","role":"anon","exp":1983812996}
DEMO_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9."
    "CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
# {"iss":"supabase-demo","role":"service_role","exp":1983812996}
DEMO_SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0."
    "EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)
_BEARER = re.compile(r"^Bearer\s+", re.IGNORECASE)


class JWTError(Exception):
    """A token that cannot be used; ``message`` is the real service's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Keys:
    """The secrets of one local stack."""

    jwt_secret: str
    anon_key: str
    service_role_key: str
    access_token: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Keys:
        """The keys :func:`dataclasses.asdict` wrote."""
        return cls(**{f.name: str(data[f.name]) for f in fields(cls)})


def mint(secret: str, claims: Mapping[str, Any]) -> str:
    """Sign ``claims`` with HS256 (header ``{"alg":"HS256","typ":"JWT"}``)."""
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def generate_keys(*, random_secret: bool = False) -> Keys:
    """The CLI's demo keys, or keys signed with a fresh random secret."""
    # A local access token for the Management API subset, shaped like the real ones.
    access_token = "sbp_" + secrets.token_hex(20)
    if not random_secret:
        return Keys(DEMO_JWT_SECRET, DEMO_ANON_KEY, DEMO_SERVICE_ROLE_KEY, access_token)
    secret = secrets.token_urlsafe(48)
    exp = int(time.time()) + 10 * 365 * 24 * 3600
    return Keys(
        jwt_secret=secret,
        anon_key=mint(secret, {"iss": "supabase-demo", "role": "anon", "exp": exp}),
        service_role_key=mint(secret, {"iss": "supabase-demo", "role": "service_role", "exp": exp}),
        access_token=access_token,
    )


#: The roles a request's JWT may claim (``authenticator`` can switch to these only).
STORAGE_ROLES = frozenset({"anon", "authenticated", "service_role"})


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token a request authenticates with.

    ``Authorization`` wins (``Bearer`` prefix optional, case-insensitive); a
    request carrying only ``apikey`` uses it as the bearer token, as Supabase's
    gateway does. ``headers`` must be case-insensitive (Starlette's are).
    """
    auth = headers.get("authorization")
    if auth is not None and auth.strip():
        return _BEARER.sub("", auth.strip())
    apikey = headers.get("apikey")
    if apikey is not None and apikey.strip():
        return apikey.strip()
    return None


def verify(token: str, secret: str) -> dict[str, Any]:
    """Check ``token``'s signature and expiry; return its claims.

    Raises:
        JWTError: with the message the Storage API (jose) gives for the same token.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise JWTError("Invalid Compact JWS") from None
    if header.get("alg") != "HS256":
        raise JWTError('"alg" (Algorithm) Header Parameter value not allowed')
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "verify_iat": False, "verify_nbf": True},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise JWTError('"exp" claim timestamp check failed') from None
    except jwt.InvalidSignatureError:
        raise JWTError("signature verification failed") from None
    except jwt.ImmatureSignatureError:
        raise JWTError('"nbf" claim timestamp check failed') from None
    except jwt.PyJWTError:
        raise JWTError("Invalid Compact JWS") from None
    return claims
