"""Who is calling: the bearer token, its checks, and the database identity it maps to.

The Storage API authenticates from ``Authorization`` only (the gateway checks
``apikey``); here, as through Supabase's gateway, a request carrying only
``apikey`` uses it as its bearer token. Routes differ in what a missing or bad
token means (shared/reference/storage-api.md §2.3):

* ``"header"``: routes whose schema requires the header. A bare server answers a
  request without it with a validation error (``headers must have required property
  'authorization'``), but Supabase's gateway always forwards an ``Authorization``
  (the caller's, else its ``apikey``, else an empty one), so the service answers the
  JWT error ``Invalid Compact JWS``, after the body and querystring are validated;
* ``"jwt"``: routes without that schema (list-v2, TUS) — ``Invalid Compact JWS``;
* ``"optional"``: ``allowInvalidJwt`` routes — missing or bad tokens mean ``anon``;
* ``"none"``: public and signed routes — the token is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from starlette._utils import get_route_path
from starlette.requests import Request

from hybridkit.local.auth import STORAGE_ROLES, JWTError, bearer_token, verify
from hybridkit.local.db import Identity
from hybridkit.local.storage.errors import AccessDenied

__all__ = ["AuthMode", "Caller", "authenticate", "route_path"]

AuthMode = Literal["header", "jwt", "optional", "none"]


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request.

    Attributes:
        identity: what the caller's transactions run as (JWT role, claims, ...).
        role: the JWT's ``role`` claim, or ``anon``.
        owner: the JWT's ``sub`` (stored as ``owner_id``), if any.
        claims: the verified JWT payload.
    """

    identity: Identity
    role: str
    owner: str | None
    claims: dict[str, Any] = field(default_factory=dict)

    def service(self) -> Identity:
        """The server's own identity for this request (same request settings)."""
        return Identity.service(
            method=self.identity.method,
            path=self.identity.path,
            headers=self.identity.headers,
            settings=self.identity.settings,
        )


def route_path(request: Request) -> str:
    """The path as the storage server sees it (Supabase's gateway strips ``/storage/v1``)."""
    return get_route_path(request.scope) or "/"


def authenticate(request: Request, secret: str, mode: AuthMode, operation: str) -> Caller:
    """Resolve the caller of ``request``.

    Raises:
        AccessDenied: ``mode`` is ``"header"`` or ``"jwt"`` and the token is
            missing or unusable (jose's message).
    """
    token = None if mode == "none" else bearer_token(request.headers)
    claims: dict[str, Any] = {}
    if token is None:
        if mode in ("header", "jwt"):
            # What the storage server answers to the empty Authorization the gateway
            # forwards when the caller sent neither it nor an apikey.
            raise AccessDenied("Invalid Compact JWS")
    else:
        try:
            claims = verify(token, secret)
        except JWTError as exc:
            if mode != "optional":
                raise AccessDenied(exc.message) from None
            token, claims = None, {}
    role_claim = claims.get("role")
    role = str(role_claim) if role_claim else "anon"
    if role not in STORAGE_ROLES:
        # The real server switches to the claimed role as `authenticator`, which can only
        # become these three: a token claiming `postgres` is refused, not obeyed.
        raise AccessDenied(f'role "{role}" is not allowed: use anon, authenticated or service_role')
    sub = claims.get("sub")
    identity = Identity(
        role=role,
        claims=claims,
        token=token,
        method=request.method,
        path=route_path(request),
        headers={name: value for name, value in request.headers.items()},
        settings={"storage.operation": operation, "storage.can_delete": "true"},
    )
    return Caller(
        identity=identity, role=role, owner=None if sub is None else str(sub), claims=claims
    )
