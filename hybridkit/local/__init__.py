"""The embedded, Supabase-compatible local stack: a private PostgreSQL plus one HTTP server.

Only ``LocalStack`` (process management) is imported here; the server side
(Starlette, uvicorn) loads in the background process, so a client without the
``local`` extra can still import hybridkit.

Example:
    >>> from hybridkit.local import LocalStack
    >>> with LocalStack(port=0) as stack:  # doctest: +SKIP
    ...     print(stack.url)
"""

from __future__ import annotations

from hybridkit.local.auth import DEMO_ANON_KEY, DEMO_JWT_SECRET, DEMO_SERVICE_ROLE_KEY
from hybridkit.local.stack import DEFAULT_DIR, DEFAULT_PORT, LocalStack, StackStatus

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_PORT",
    "DEMO_ANON_KEY",
    "DEMO_JWT_SECRET",
    "DEMO_SERVICE_ROLE_KEY",
    "LocalStack",
    "StackStatus",
]
