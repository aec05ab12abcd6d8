"""Confirmation tokens: a destructive tool acts only when called again with the plan's token.

The first call (no ``confirm``) computes the plan — what would be deleted — and
returns it with a token. The token is bound to the tool, its arguments *and* the
plan: on the second call the plan is computed again, and when anything changed
(objects were added, the arguments differ) the token does not fit and a fresh plan
is returned instead of acting. Tokens are random, single-use and expire after a few
minutes; they live only in the server process's memory.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Confirmations"]

TTL = 600.0  # seconds a plan's token stays valid


def _fingerprint(tool: str, arguments: Mapping[str, Any], plan: Any) -> str:
    text = json.dumps([tool, arguments, plan], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Confirmations:
    """Issues and redeems plan tokens.

    Example:
        >>> book = Confirmations()
        >>> token = book.issue("delete_bucket", {"name": "b"}, {"objects": 0})
        >>> book.redeem(token, "delete_bucket", {"name": "b"}, {"objects": 0})
        True
        >>> book.redeem(token, "delete_bucket", {"name": "b"}, {"objects": 0})  # single use
        False
    """

    def __init__(self, *, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, float]] = {}

    def issue(self, tool: str, arguments: Mapping[str, Any], plan: Any) -> str:
        """A new token for this exact plan."""
        token = f"confirm-{secrets.token_hex(8)}"
        now = self._clock()
        with self._lock:
            self._open = {k: v for k, v in self._open.items() if v[1] > now}
            self._open[token] = (_fingerprint(tool, arguments, plan), now + self._ttl)
        return token

    def redeem(self, token: str, tool: str, arguments: Mapping[str, Any], plan: Any) -> bool:
        """True (and the token is used up) when it was issued for this plan and is still valid.

        A token that does not fit is used up too: a second plan must be asked for.
        """
        with self._lock:
            entry = self._open.pop(token, None)
        if entry is None:
            return False
        fingerprint, expires = entry
        return expires > self._clock() and secrets.compare_digest(
            fingerprint, _fingerprint(tool, arguments, plan)
        )
