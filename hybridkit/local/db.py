"""The local stack's connection pool, and requests run under the caller's identity.

Supabase's services (the Storage API, PostgREST) share one trick: every database
transaction starts by setting, transaction-locally, the Postgres ``role`` taken
from the request's JWT and the request's claims (``request.jwt.claims``,
``request.jwt.claim.sub``, ...). Row-level security policies then decide exactly
as they do on Supabase, because ``auth.uid()``, ``auth.role()`` and
``auth.jwt()`` read those settings. :class:`Database` does the same for every
service of the local stack: it connects as the cluster's superuser and switches
role per transaction with ``set_config('role', ..., true)``.

A role that does not exist makes ``set_config`` fail with SQLSTATE ``22023``
(``psycopg.errors.InvalidParameterValue``); callers turn that into their
service's own error (the Storage API answers a 500 ``DatabaseError``).

Example::

    database = Database("postgresql://postgres@127.0.0.1:54322/postgres")
    await database.open()
    identity = Identity(role="authenticated", claims={"sub": user_id, "role": "authenticated"})
    async with database.transaction(identity) as conn:
        rows = await (await conn.execute("select * from storage.buckets")).fetchall()
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

__all__ = ["SERVICE_ROLE", "Database", "Identity"]

SERVICE_ROLE = "service_role"


@dataclass(frozen=True)
class Identity:
    """Who a transaction runs as, and the request facts policies may read.

    Attributes:
        role: the Postgres role to switch to; ``None`` keeps the pool's own
            (superuser) role, for administrative work that must bypass everything.
        claims: the JWT payload (``request.jwt.claims``).
        token: the raw JWT (``request.jwt``).
        method: the HTTP method (``request.method``).
        path: the request path (``request.path``).
        headers: the request headers (``request.headers``, as JSON).
        settings: further transaction-local settings, e.g. ``storage.operation``.
    """

    role: str | None = "anon"
    claims: Mapping[str, Any] = field(default_factory=dict)
    token: str | None = None
    method: str = ""
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def service(cls, **kwargs: Any) -> Identity:
        """The identity Supabase services use for their own "superuser" work.

        Like the Storage API, this runs as ``service_role`` (``BYPASSRLS``) with
        the service key's claims, so triggers and ``auth.role()`` see what they
        would see on Supabase.
        """
        kwargs.setdefault("claims", {"role": SERVICE_ROLE})
        return cls(role=SERVICE_ROLE, **kwargs)

    def with_settings(self, **settings: str) -> Identity:
        """A copy with more transaction-local settings (dots allowed via ``**{...}``)."""
        return replace(self, settings={**self.settings, **settings})

    def config_pairs(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` pairs to ``set_config`` at the start of a transaction."""
        claims_json = json.dumps(dict(self.claims), separators=(",", ":"), default=str)
        sub = self.claims.get("sub")
        role_claim = self.claims.get("role")
        pairs: list[tuple[str, str]] = [
            ("request.jwt.claims", claims_json),
            ("request.jwt.claim.sub", "" if sub is None else str(sub)),
            ("request.jwt.claim.role", "" if role_claim is None else str(role_claim)),
            ("request.jwt", self.token or ""),
            ("request.method", self.method),
            ("request.path", self.path),
            ("request.headers", json.dumps(dict(self.headers), separators=(",", ":"))),
        ]
        pairs.extend(self.settings.items())
        # The role goes last: once switched, the other settings are still ours to set,
        # but doing it last keeps a failing role (22023) from masking other errors.
        if self.role is not None:
            pairs.append(("role", self.role))
        return pairs


class Database:
    """A pool of superuser connections to the stack's PostgreSQL.

    Args:
        dsn: a superuser connection string.
        min_size: connections kept open.
        max_size: the most connections open at once; requests beyond it wait.
        timeout: seconds a request waits for a free connection before
            ``psycopg_pool.PoolTimeout``.
    """

    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 30.0
    ) -> None:
        self.dsn = dsn
        self._pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=AsyncConnection[DictRow],
            # A connection terminated behind the pool's back (pg_terminate_backend, a
            # restart) is found and replaced when it is taken, instead of failing a request.
            check=AsyncConnectionPool.check_connection,
            name="hybridkit-local",
        )

    async def open(self, timeout: float = 30.0) -> None:
        """Open the pool and wait until its first connections are up."""
        await self._pool.open(wait=True, timeout=timeout)

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close()

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection[DictRow]]:
        """A pooled superuser connection in autocommit mode (one statement, one transaction)."""
        return self._pool.connection()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            async with self._pool.connection(timeout=5.0) as conn:
                await conn.execute("select 1")
            return True
        except Exception:
            return False

    @asynccontextmanager
    async def transaction(
        self, identity: Identity | None = None, *, rollback: bool = False
    ) -> AsyncIterator[AsyncConnection[DictRow]]:
        """A connection inside a transaction that runs as ``identity``.

        Args:
            identity: who the transaction runs as; ``None`` runs as the pool's
                superuser with no request settings at all.
            rollback: roll back at the end even on success, for permission tests
                ("would this INSERT pass the policies?").

        Yields:
            The connection; the transaction commits when the block exits
            normally (unless ``rollback``) and rolls back on an exception.
        """
        async with (
            self._pool.connection() as conn,
            conn.transaction(force_rollback=rollback),
        ):
            if identity is not None:
                await self.set_identity(conn, identity)
            yield conn

    def superuser(self, **settings: str) -> AbstractAsyncContextManager[AsyncConnection[DictRow]]:
        """A transaction as ``service_role`` (the services' superuser) with ``settings``."""
        return self.transaction(Identity.service(settings=settings))

    @staticmethod
    async def set_identity(conn: AsyncConnection[DictRow], identity: Identity) -> None:
        """Switch the current transaction to ``identity`` (transaction-locally)."""
        pairs = identity.config_pairs()
        # One round trip; names and values are bound parameters, never pasted into SQL.
        select = ", ".join("set_config(%s, %s, true)" for _ in pairs)
        params: list[str] = [item for pair in pairs for item in pair]
        await conn.execute(f"select {select}", params)
