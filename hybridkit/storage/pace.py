"""Pace of a job: a bandwidth limit (``--bwlimit``) and concurrency that adapts.

:class:`Throttle` is a token bucket a job's transfers share: each block of a
request body takes its bytes from it, on the thread that sends the block, so a
job moves at most ``rate`` bytes a second on average, whatever its concurrency.

:class:`Concurrency` is how many files of a folder job are in flight: it starts
at the job's ``jobs``, grows by one while files/s keeps rising, halves when the
server pushes back (429 or 503) and holds every new start until the server's
``Retry-After`` has passed.

Private; the folder and upload stages use them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from hybridkit.errors import InvalidInputError
from hybridkit.storage.transfer import Counter

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bBkKmMgGtT]?)(?:i?[bB])?\s*$")
_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_rate(text: str | float) -> float:
    """Bytes per second from rclone's ``--bwlimit`` syntax.

    A suffix ``B``, ``k``, ``M``, ``G`` or ``T`` (powers of 1024); a bare number
    is KiB/s, as in rclone.

    Example:
        >>> parse_rate("10M"), parse_rate("512k"), parse_rate("100")
        (10485760.0, 524288.0, 102400.0)
    """
    if isinstance(text, int | float):
        rate = float(text)
    else:
        match = _RATE.match(text)
        if not match:
            raise InvalidInputError(
                f"bandwidth limit {text!r}: use a number with an optional suffix B, k, M, G "
                "(bytes per second, powers of 1024; a bare number is KiB/s), e.g. 10M or 512k"
            )
        rate = float(match.group(1)) * _UNITS[(match.group(2) or "k").lower()]
    if rate <= 0:
        raise InvalidInputError(f"bandwidth limit {text!r}: must be more than 0")
    return rate


class Throttle:
    """At most ``rate`` bytes/s on average, with bursts of up to ``burst`` bytes.

    Args:
        rate: bytes per second (or rclone's syntax, see :func:`parse_rate`).
        burst: what may go at once after an idle spell (default: a tenth of a
            second's worth, at least 64 KiB).
        clock / sleep: inject fakes in tests.
    """

    def __init__(
        self,
        rate: float | str,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = parse_rate(rate)
        self.burst = burst if burst is not None else max(64 * 1024, self.rate / 10)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()
        self.taken = 0
        """Bytes taken so far."""

    def take(self, nbytes: int) -> None:
        """Take ``nbytes``; waits until the average rate allows them."""
        if nbytes <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            # Go into debt: whoever takes next waits for it, so the average holds
            # across threads without a thread waiting in the lock.
            self._tokens -= nbytes
            self.taken += nbytes
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def as_throttle(bwlimit: float | str | Throttle | None) -> Throttle | None:
    """A job's throttle from its ``bwlimit`` argument (a rate, or a throttle to share)."""
    if bwlimit is None or isinstance(bwlimit, Throttle):
        return bwlimit
    return Throttle(bwlimit)


class ThrottledCounter:
    """A :class:`~hybridkit.storage.transfer.Counter` whose forward bytes pass a throttle.

    Only bytes that leave the file (``advance`` with a positive count) are paced;
    positions set from the server's answers (``set_done``) are not traffic.
    """

    def __init__(self, inner: Counter, throttle: Throttle) -> None:
        self._inner = inner
        self._throttle = throttle

    def advance(self, nbytes: int) -> None:
        self._throttle.take(nbytes)
        self._inner.advance(nbytes)

    def set_done(self, done: int) -> None:
        self._inner.set_done(done)


class Concurrency:
    """How many files of a job run at once: adapts to the server's rate and pushback.

    Args:
        start: files at once at first (the job's ``jobs``).
        most: the ceiling of growth (the worker threads there are).
        window: completions between two looks at the rate (at least).
        clock / sleep: inject fakes in tests.
    """

    def __init__(
        self,
        start: int,
        most: int,
        *,
        window: int = 0,
        min_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, min(start, most))
        self.most = max(most, self.limit)
        self.window = window
        self.min_seconds = min_seconds
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._active = 0
        self._done = 0
        self._mark = clock()
        self._best = 0.0
        self._growing = True
        self.paused_until = 0.0
        self.pushbacks = 0
        self.history: list[int] = [self.limit]
        """Every limit it has had, in order (for reports and tests)."""

    def acquire(self) -> None:
        """Wait for a free slot, and for any ``Retry-After`` pause to pass."""
        waited = -1.0  # the pause this thread has slept through (with any sleep)
        while True:
            with self._cond:
                until = self.paused_until
                pause = 0.0 if waited >= until else until - self._clock()
                if pause <= 0 and self._active < self.limit:
                    self._active += 1
                    return
                if pause <= 0:
                    self._cond.wait(0.5)
                    continue
            self._sleep(pause)
            waited = until

    def release(self, *, counted: bool = True) -> None:
        """A file is done: count it, and look at the rate once a window is full.

        ``counted=False`` hands back a slot that ran nothing.
        """
        with self._cond:
            self._active -= 1
            if not counted:
                self._cond.notify_all()
                return
            self._done += 1
            elapsed = self._clock() - self._mark
            if self._done >= max(self.window, 2 * self.limit) and elapsed >= self.min_seconds:
                rate = self._done / elapsed
                if self._growing and rate > self._best * 1.05 and self.limit < self.most:
                    self._set(self.limit + 1)
                elif rate <= self._best * 1.05:
                    self._growing = False  # it stopped paying off: hold here
                self._best = max(self._best, rate)
                self._done, self._mark = 0, self._clock()
            self._cond.notify_all()

    def pushback(self, retry_after: float | None) -> None:
        """The server answered 429 or 503: halve, and pause new starts for ``retry_after``."""
        with self._cond:
            self.pushbacks += 1
            self._growing = True  # from the halved level, additively again (AIMD)
            self._set(max(1, self.limit // 2))
            if retry_after is not None and retry_after > 0:
                self.paused_until = max(self.paused_until, self._clock() + retry_after)
            self._done, self._mark, self._best = 0, self._clock(), 0.0
            self._cond.notify_all()

    def _set(self, limit: int) -> None:
        if limit != self.limit:
            self.limit = limit
            self.history.append(limit)
