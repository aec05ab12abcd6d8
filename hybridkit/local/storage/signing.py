"""Signed URL tokens: what the Storage API mints and how it checks them.

Tokens are compact JWS, header ``{"alg":"HS256"}`` (no ``typ``), signed with the
stack's JWT secret (shared/reference/storage-api.md §6):

* download: ``{"url":"<bucket>/<key>","scope":"download","iat":…,"exp":…}``, with
  ``transformations`` and ``format`` first when the URL renders an image;
* upload: ``{"owner"?:"<sub>","url":"<bucket>/<key>","upsert":bool,"scope":"upload",
  "iat":…,"exp":…}``.

Verification follows the real order: signature and expiry (``InvalidJWT`` with
jose's message), scope (legacy tokens without ``scope`` are upload tokens iff they
carry ``upsert``), then the URL (``InvalidSignature``).
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from hybridkit.local.auth import JWTError, verify
from hybridkit.local.storage.errors import InvalidJWT, InvalidSignature

__all__ = ["sign_download", "sign_upload", "verify_signed"]


def _encode(payload: dict[str, Any], secret: str) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": None})


def sign_download(
    secret: str, bucket: str, key: str, expires_in: int, *, transformations: str = "",
    format: str = "",
) -> str:  # fmt: skip
    """A download token for ``bucket/key`` valid ``expires_in`` seconds.

    ``transformations`` (imgproxy options, ``height:100,width:100,resize:cover``) and
    ``format`` make it a token for ``/render/image/sign``; empty ones are left out, as
    the real server drops falsy claims.
    """
    now = int(time.time())
    payload: dict[str, Any] = {}
    if transformations:
        payload["transformations"] = transformations
    if format:
        payload["format"] = format
    payload.update(
        {"url": f"{bucket}/{key}", "scope": "download", "iat": now, "exp": now + expires_in}
    )
    return _encode(payload, secret)


def sign_upload(
    secret: str, bucket: str, key: str, *, owner: str | None, upsert: bool, expires_in: int
) -> str:
    """An upload token for ``bucket/key`` (owner and upsert travel in the token)."""
    now = int(time.time())
    payload: dict[str, Any] = {}
    if owner is not None:
        payload["owner"] = owner
    payload.update(
        {
            "url": f"{bucket}/{key}",
            "upsert": upsert,
            "scope": "upload",
            "iat": now,
            "exp": now + expires_in,
        }
    )
    return _encode(payload, secret)


def verify_signed(token: str, secret: str, *, bucket: str, key: str, scope: str) -> dict[str, Any]:
    """Check a signed-URL token for ``bucket/key`` and ``scope``; return its payload.

    Raises:
        InvalidJWT: bad signature, malformed, or expired (jose's message).
        InvalidSignature: a token for another scope or another object.
    """
    try:
        payload = verify(token, secret)
    except JWTError as exc:
        raise InvalidJWT(exc.message) from None
    token_scope = payload.get("scope")
    if token_scope is None:
        token_scope = "upload" if "upsert" in payload else "download"
    if token_scope != scope:
        raise InvalidSignature(f"Token is not scoped for {scope}")
    if payload.get("url") != f"{bucket}/{key}":
        raise InvalidSignature()
    if scope == "download":
        # Keys that could forge a role or an upload are never taken from a download token.
        for name in ("role", "upsert", "owner"):
            payload.pop(name, None)
    return payload
