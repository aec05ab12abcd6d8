"""What the local stack's HTTP server knows about its stack: one settings object,
and the only reader of the environment variables the stack itself heeds (:class:`LocalEnv`).

Shared by the composer (:mod:`hybridkit.local.app`) and every service package
(storage, rest, management); it imports none of them, so no service imports the
composer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hybridkit.local.auth import Keys

__all__ = ["LocalEnv", "ServerConfig"]


@dataclass(frozen=True)
class LocalEnv:
    """The environment variables the local stack heeds; :meth:`read` is its only reader.

    The client's own variables are ``hybridkit.config.KIT_ENV``: the stack does not
    import the client's settings (it must agree with the client by the wire).

    Attributes:
        pg_bin: ``HYBRIDKIT_PG_BIN``, PostgreSQL's bin folder (``""``: PATH, then Debian's).
        standard_loop: ``HYBRIDKIT_LOCAL_LOOP=asyncio``, keep asyncio's loop, not uvloop.
        max_rows: ``PGRST_DB_MAX_ROWS``, PostgREST's max-rows (1000 as Supabase; ``0`` or
            ``none``: no cap).
        strict_chunked_uploads: ``HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS=1``, also size-limit
            raw uploads sent chunked (the real server lets them past the bucket's limit).
    """

    pg_bin: str = ""
    standard_loop: bool = False
    max_rows: int | None = 1000
    strict_chunked_uploads: bool = False

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> LocalEnv:
        """Read the variables now (from ``environ``, default ``os.environ``).

        Raises:
            ValueError: ``PGRST_DB_MAX_ROWS`` is not a number, ``0`` or ``none``.
        """
        env = os.environ if environ is None else environ
        rows = env.get("PGRST_DB_MAX_ROWS", "").strip().lower() or "1000"
        if not rows.isdigit() and rows not in ("none", "unlimited"):
            raise ValueError(
                f"PGRST_DB_MAX_ROWS={rows!r}: use a number of rows, or 0 / none for no cap"
            )
        strict = env.get("HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS", "").strip().lower()
        return cls(
            pg_bin=env.get("HYBRIDKIT_PG_BIN", ""),
            standard_loop=env.get("HYBRIDKIT_LOCAL_LOOP", "").lower() == "asyncio",
            max_rows=int(rows) or None if rows.isdigit() else None,
            strict_chunked_uploads=strict in ("1", "true", "yes", "on"),
        )


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
        strict_chunked_uploads: also size-limit raw uploads sent without a
            ``Content-Length`` (chunked), which the real Storage API lets past every
            limit. Off by default, as on Supabase; the server takes it from
            ``HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS=1``.
    """

    db_dsn: str
    data_dir: Path
    keys: Keys
    public_url: str
    upload_file_size_limit: int = 52_428_800_000
    upload_file_size_limit_standard: int = 5_242_880_000
    signed_upload_url_expiration: int = 7200
    max_rows: int | None = 1000
    strict_chunked_uploads: bool = False
