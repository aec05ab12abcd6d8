"""The storage session: the one seam between the storage stages and the server.

A :class:`StorageSession` owns what every stage (listing, upload, download,
folders) needs to talk to Storage: the shared ``httpx.Client``, the auth headers,
the retrier and circuit breaker, the supabase-py storage client, and the
per-operation counters. The stages take a session and use only its public
members (:meth:`call`, :meth:`json`, :meth:`count`, :meth:`track`,
:attr:`auth_headers`, :attr:`api`); :class:`~hybridkit.storage.StorageManager`
builds one and adds the public operations on top.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hybridkit.config import Settings
from hybridkit.errors import ConfigError
from hybridkit.retry import (
    Attempt,
    AttemptLog,
    CircuitBreaker,
    Retrier,
    RetryPolicy,
    classify_response,
    parse_retry_after,
    response_body,
)
from hybridkit.storage.tus import ResumeStore, TusClient, default_resume_dir
from hybridkit.storage.values import OpStats

__all__ = ["StorageSession", "transfer_timeout"]

T = TypeVar("T")
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""Options of every socket of the shared pool (no Nagle delay on small requests)."""
UNSET: Any = object()
"""The default of ``resume_dir``: ``~/.cache/hybridkit/tus``."""
_CURRENT_STATS: contextvars.ContextVar[OpStats | None] = contextvars.ContextVar(
    "hybridkit_op_stats", default=None
)


def transfer_timeout(settings: Settings) -> httpx.Timeout:
    """httpx timeouts of transfers: ``idle_timeout`` (read/write) and ``connect_timeout``."""
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.idle_timeout,
        write=settings.idle_timeout,
        pool=None,
    )


class StorageSession:
    """An authenticated, retrying connection to one project's Storage API.

    The arguments are those of :class:`~hybridkit.storage.StorageManager`.

    Raises:
        ConfigError: no URL or no key.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: httpx.Timeout | float | None = None,
        max_connections: int = 16,
        retry_policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resume_dir: str | PathLike[str] | None = UNSET,
        transport: httpx.BaseTransport | None = None,
        wait_for_breaker: bool = True,
    ) -> None:
        settings.require("supabase_url")
        key = settings.api_key
        if not key:
            raise ConfigError(
                "missing setting: SUPABASE_SERVICE_ROLE_KEY or SUPABASE_ANON_KEY — storage "
                "calls need a key"
            )
        assert settings.supabase_url is not None
        self.settings = settings
        self.url = settings.supabase_url
        self.storage_url = f"{self.url}/storage/v1"
        self.chunk_size = settings.chunk_size
        self.threshold = settings.standard_upload_threshold
        self.progress_interval = settings.progress_interval
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=settings.breaker_threshold,
            cooldown=settings.breaker_cooldown,
            unreachable_after=settings.unreachable_after,
        )
        self.retrier = Retrier(
            retry_policy or RetryPolicy.from_settings(settings),
            breaker=self.breaker,
            sleep=sleep,
            wait_for_breaker=wait_for_breaker,
        )
        if timeout is None:
            timeout = httpx.Timeout(
                connect=settings.connect_timeout, read=60.0, write=60.0, pool=None
            )
            self.transfer_timeout = transfer_timeout(settings)
        else:
            self.transfer_timeout = (
                timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
            )
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None:
            # Nagle's algorithm holds a request's last small segment back until the
            # server acknowledges the one before (delayed ACKs: up to 40 ms on
            # Linux): for a 16 KiB upload that wait is longer than the request.
            transport = httpx.HTTPTransport(limits=limits, socket_options=SOCKET_OPTIONS)
        self.max_connections = max_connections
        self.http = httpx.Client(
            timeout=timeout,
            limits=limits,
            follow_redirects=True,
            transport=transport,
            event_hooks={"response": [self._watch_pushback]},
        )
        self._pushback: list[Callable[[float | None], None]] = []
        secret = key.get_secret_value()
        # Sent on hybridkit's own requests; never logged, never in a repr.
        self._auth = {"apikey": secret, "Authorization": f"Bearer {secret}"}
        self._client: Any = None
        self._client_lock = threading.Lock()
        if resume_dir is UNSET:
            resume_dir = default_resume_dir()
        self.resume_store = ResumeStore(Path(resume_dir)) if resume_dir is not None else None
        self.tus = TusClient(
            self.http,
            self.storage_url,
            self._auth,
            self.retrier,
            self.resume_store,
            self.chunk_size,
            self.transfer_timeout,
        )

    def __repr__(self) -> str:
        return f"StorageSession(url={self.url!r}, key_role={self.settings.key_role!r})"

    def close(self) -> None:
        """Close the shared connection pool."""
        self.http.close()

    @property
    def auth_headers(self) -> dict[str, str]:
        """``apikey`` and ``Authorization`` for a request of hybridkit's own (a copy)."""
        return dict(self._auth)

    @property
    def client(self) -> Any:
        """The supabase-py client (sharing this session's httpx pool), built on first use.

        Uploads, downloads, TUS and list v2 go through :attr:`http` directly; only the
        bucket calls and a few others use storage3, so a ``storage cp`` never pays
        for importing supabase-py (about 0.2 s and 25 MB).
        """
        with self._client_lock:
            if self._client is None:
                from supabase import ClientOptions, create_client

                # postgrest's built-in GET retry is off: one policy owns retries.
                self._client = create_client(
                    self.url,
                    self._auth["apikey"],
                    options=ClientOptions(httpx_client=self.http, postgrest_client_retry=False),
                )
            return self._client

    @property
    def api(self) -> Any:
        """storage3's client, read fresh each time (supabase-py rebuilds it after auth events)."""
        return self.client.storage

    # ------------------------------------------------------------------ pushback

    def _watch_pushback(self, response: httpx.Response) -> None:
        if response.status_code not in (429, 503) or not self._pushback:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        for listener in list(self._pushback):
            listener(retry_after)

    @contextlib.contextmanager
    def on_pushback(self, listener: Callable[[float | None], None]) -> Iterator[None]:
        """Call ``listener(retry_after)`` on every 429 or 503 answer inside the block
        (``retry_after`` in seconds, ``None`` without the header)."""
        self._pushback.append(listener)
        try:
            yield
        finally:
            self._pushback.remove(listener)

    # ------------------------------------------------------------------ counters

    @contextlib.contextmanager
    def track(self) -> Iterator[OpStats]:
        """Collect attempts, retries and bytes of the calls made inside the block."""
        stats = OpStats(_CURRENT_STATS.get())
        token = _CURRENT_STATS.set(stats)
        try:
            yield stats
        finally:
            _CURRENT_STATS.reset(token)

    @staticmethod
    def count(log: AttemptLog | None = None, nbytes: int = 0) -> None:
        """Add a call's attempts and retries (and ``nbytes`` moved) to the open :meth:`track`."""
        stats = _CURRENT_STATS.get()
        if stats is not None:
            stats.add(
                attempts=log.attempts if log else 0,
                retries=log.retries if log else 0,
                nbytes=nbytes,
            )

    # ------------------------------------------------------------------ calls

    def call(
        self,
        fn: Callable[[Attempt], T],
        operation: str,
        *,
        idempotent: bool = True,
        log: AttemptLog | None = None,
        deadline: float | None = None,
    ) -> T:
        """Run ``fn`` under the retry policy and the breaker, counting its attempts."""
        log = log if log is not None else AttemptLog()
        try:
            return self.retrier.call(
                fn, operation=operation, idempotent=idempotent, log=log, deadline=deadline
            )
        finally:
            self.count(log)

    def json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        context: str,
    ) -> Any:
        """One JSON request under ``/storage/v1`` on the shared client (no retry here)."""
        response = self.http.request(
            method,
            f"{self.storage_url}/{path}",
            json=json,
            headers={**self._auth, **(headers or {})},
        )
        if response.status_code >= 400:
            raise classify_response(response, context=context)
        return response_body(response)
