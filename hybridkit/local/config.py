"""What the local stack's HTTP server knows about its stack: one settings object.

Shared by the composer (:mod:`hybridkit.local.app`) and every service package
(storage, rest, management); it imports none of them, so no service imports the
composer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hybridkit.local.auth import Keys

__all__ = ["ServerConfig"]


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
