"""What the local stack's HTTP server knows about its stack: one settings object,
and the only reader of the environment variables the stack itself heeds (:data:`LOCAL_ENV`).

Shared by the composer (:mod:`hybridkit.local.app`) and every service package
(storage, rest, management); it imports none of them, so no service imports the
composer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hybridkit.local.auth import Keys

__all__ = ["LOCAL_ENV", "ServerConfig", "local_env", "max_rows_from_env"]

#: The environment variables the local stack reads: name -> what it does. :func:`local_env`
#: reads them (and only them). The client's own variables are ``hybridkit.config.KIT_ENV``;
#: the stack does not import the client's settings (it must agree with it by the wire).
LOCAL_ENV: dict[str, str] = {
    "HYBRIDKIT_PG_BIN": "PostgreSQL's bin folder (initdb, pg_ctl; default: PATH, then Debian's)",
    "HYBRIDKIT_LOCAL_LOOP": "asyncio: the server keeps the standard event loop, not uvloop",
    "PGRST_DB_MAX_ROWS": "PostgREST's max-rows (default 1000, as Supabase; 0 or none: no cap)",
}


def local_env(name: str) -> str:
    """The value of one of :data:`LOCAL_ENV`'s variables, read now (``""`` when unset).

    Raises:
        KeyError: ``name`` is not in :data:`LOCAL_ENV` (document it there first).
    """
    if name not in LOCAL_ENV:
        raise KeyError(f"{name} is not one of the local stack's variables (local.config.LOCAL_ENV)")
    return os.environ.get(name, "")


def max_rows_from_env() -> int | None:
    """PostgREST's max-rows, from its own variable ``PGRST_DB_MAX_ROWS`` (1000, as Supabase)."""
    text = local_env("PGRST_DB_MAX_ROWS").strip()
    if not text:
        return 1000
    if text.lower() in ("0", "none", "unlimited"):
        return None
    return max(1, int(text))


@dataclass(frozen=True)
class ServerConfig:
    """What the HTTP server needs to know about its stack.

    Attributes:
        db_dsn: a superuser DSN of the stack's private PostgreSQL.
        data_dir: where object bytes live (one folder per bucket).
        keys: the JWT secret and API keys.
        public_url: the base URL clients use (``http://127.0.0.1:54321``).
        upload_file_size_limit: the global limit for TUS uploads (the CLI's 50 GB).
        upload_file_size_limit_standard: the global limit for single-request uploads (5 GB).
        signed_upload_url_expiration: seconds a signed upload URL lives (the CLI's 7200).
        max_rows: PostgREST's ``max-rows``: the most rows a read returns (Supabase's 1000;
            ``None``: no cap). The server takes it from ``PGRST_DB_MAX_ROWS``.
    """

    db_dsn: str
    data_dir: Path
    keys: Keys
    public_url: str
    upload_file_size_limit: int = 52_428_800_000
    upload_file_size_limit_standard: int = 5_242_880_000
    signed_upload_url_expiration: int = 7200
    max_rows: int | None = 1000
